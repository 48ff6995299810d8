package shell

import (
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// PATH is the program search path of every command, whatever this
// process's: the programs of the system, not those of whoever started it.
const PATH = "/usr/local/bin:/usr/bin:/bin"

// umask is every command's (viaShell spells it too): what it makes is its
// own user's alone.
const umask = 0o077

// trampolineOnly makes spawn set the umask through a shell even where a
// thread of its own could; tests set it to cover that path.
var trampolineOnly = false

// withPATH returns env (nil: this process's) with PATH set to PATH.
func withPATH(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+PATH)
}

// lookPath finds the program name in PATH; a name with a "/" is a path,
// relative to the command's directory, and is returned as it is.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(PATH) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: program not found in %s", strconv.Quote(name), PATH)
}

// viaShell has /bin/sh set the umask and then execute cmd's program, with
// its arguments, in its place: the arguments go to the program as they
// are, never read by the shell.
func viaShell(cmd *osexec.Cmd) {
	args := append([]string{"/bin/sh", "-c", `umask 077 && exec "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", args
}
