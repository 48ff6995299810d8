package localapi

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/client"
)

// SocketFile is the API's socket in $FX_HOME.
const SocketFile = "fx.sock"

// SocketPath is the API's socket of h.
func SocketPath(h client.Home) string { return filepath.Join(h.Dir, SocketFile) }

// ErrServing: another server answers on the socket already.
var ErrServing = errors.New("localapi: another fx serve answers on the socket")

// Listen makes the unix socket at path, mode 0600, in a directory it keeps
// at 0700. A socket file that nobody answers on is replaced; one that
// answers is ErrServing.
func Listen(path string) (net.Listener, error) {
	if len(path) > 107 {
		return nil, fmt.Errorf("localapi: socket path %s is over 107 bytes; pass a shorter --socket", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, ErrServing
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("localapi: remove the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("localapi: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("localapi: %w", err)
	}
	return ln, nil
}
