package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes b to path with mode: into a temporary file beside it, then
// renamed over it.
func Write(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Chmod(mode)
	} else {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
