package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Defaults of File's Options: the log takes at most
// DefaultMaxBytes*(DefaultKeep+1) bytes, 600 MiB, on disk.
const (
	DefaultMaxBytes = 100 << 20
	DefaultKeep     = 5
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// MaxBytes is the size past which the file is rotated; zero means
	// DefaultMaxBytes. A line is never split: the file rotates before a
	// line that would take it past MaxBytes.
	MaxBytes int64
	// Keep is how many rotated files are kept (PATH.1 … PATH.Keep); zero
	// means DefaultKeep, negative keeps none.
	Keep int
	// Mode is the permission of new files; zero means 0600.
	Mode fs.FileMode
}

// File is a file of lines rotated by size. It is safe for concurrent use.
type File struct {
	path string
	opts Options

	mu   sync.Mutex // guards f and size
	f    *os.File   // nil once closed
	size int64
}

// Open opens (or creates) the file at path to append lines to it.
func Open(path string, opts Options) (*File, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep == 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Mode == 0 {
		opts.Mode = 0o600
	}
	a := &File{path: path, opts: opts}
	if err := a.openLocked(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *File) openLocked() error {
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, a.opts.Mode)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", a.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: open %s: %w", a.path, err)
	}
	a.f, a.size = f, st.Size()
	return nil
}

// ErrClosed is returned by writes to a closed File.
var ErrClosed = errors.New("audit: file closed")

// WriteLine appends line, which must end in a newline, in one write,
// rotating the file first if the line would take it past MaxBytes.
func (a *File) WriteLine(line []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return ErrClosed
	}
	if a.size > 0 && a.size+int64(len(line)) > a.opts.MaxBytes {
		if err := a.rotateLocked(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	if err != nil {
		return fmt.Errorf("audit: write %s: %w", a.path, err)
	}
	return nil
}

// Write writes e as one line.
func (a *File) Write(e *Event) error {
	line, err := e.Line()
	if err != nil {
		return err
	}
	return a.WriteLine(line)
}

// rotateLocked renames PATH.i to PATH.i+1 from the oldest kept down,
// removes the one past Keep, renames PATH to PATH.1 and opens a new PATH.
func (a *File) rotateLocked() error {
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", a.path, err)
	}
	a.f = nil
	keep := max(a.opts.Keep, 0)
	var errs []error
	if err := os.Remove(a.rotated(keep + 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for i := keep; i >= 1; i-- {
		from := a.path
		if i > 1 {
			from = a.rotated(i - 1)
		}
		if err := os.Rename(from, a.rotated(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if keep == 0 {
		if err := os.Remove(a.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := a.openLocked(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", a.path, err)
	}
	return nil
}

// rotated is the name of the i-th rotated file.
func (a *File) rotated(i int) string { return a.path + "." + strconv.Itoa(i) }

// Path is the file's path.
func (a *File) Path() string { return a.path }

// Close syncs and closes the file. It is idempotent.
func (a *File) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	serr := a.f.Sync()
	cerr := a.f.Close()
	a.f = nil
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("audit: close %s: %w", a.path, err)
	}
	return nil
}

// Tail returns the last n lines of the file at path, and of its rotated
// files when it holds fewer, oldest first. It reads at most the last 1 MiB
// of each file; a missing file holds no lines.
func Tail(path string, n int) ([]string, error) {
	var out []string
	for i := 0; len(out) < n && i <= DefaultKeep; i++ {
		p := path
		if i > 0 {
			p = path + "." + strconv.Itoa(i)
		}
		lines, err := tailFile(p, n-len(out))
		if err != nil {
			return nil, err
		}
		out = append(lines, out...)
	}
	return out, nil
}

// tailBytes bounds what Tail reads of one file.
const tailBytes = 1 << 20

func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: tail %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: tail %s: %w", path, err)
	}
	off := max(st.Size()-tailBytes, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("audit: tail %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(buf), "\n"), "\n")
	if off > 0 {
		lines = lines[1:] // the first may be cut
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	return lines[max(len(lines)-n, 0):], nil
}
