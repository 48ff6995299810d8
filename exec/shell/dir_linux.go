package shell

import (
	"os"
	"strconv"
)

// viaDescriptor names the directory f, of path, so that a child may enter
// it without the right to search the directories above: the magic link
// /proc/self/fd/N, which leads to f's directory itself. The child inherits
// N, open, until it executes its program.
func viaDescriptor(f *os.File, path string) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}
