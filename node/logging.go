package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/fxmesh/fxmesh/node/audit"
)

// ErrorsFile is the file in a node's directory that keeps its last
// warnings and errors, one JSON line each, for fxnode diag: rotated at
// errorsFileBytes, one old file kept.
const ErrorsFile = "errors.log"

const errorsFileBytes = 1 << 20

// Log is fxnode's log: to w in the format config.yaml's log_format
// names, at level and above, and every warning and error also to
// DIR/errors.log when dir is not "". Close closes that file.
type Log struct {
	*slog.Logger
	errs *audit.File // nil: none
}

// NewLog makes fxnode's log. format is "text" (or "") or "json".
func NewLog(w io.Writer, format string, level slog.Level, dir string) (*Log, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("node: log_format %q: want text or json", format)
	}
	l := &Log{}
	if dir != "" {
		f, err := audit.Open(filepath.Join(dir, ErrorsFile), audit.Options{MaxBytes: errorsFileBytes, Keep: 1})
		if err != nil {
			return nil, fmt.Errorf("node: log: %w", err)
		}
		l.errs = f
		h = slog.NewMultiHandler(h, slog.NewJSONHandler(lineWriter{f}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	l.Logger = slog.New(h)
	return l, nil
}

// Close closes DIR/errors.log, if the log writes it.
func (l *Log) Close() error {
	if l.errs == nil {
		return nil
	}
	return l.errs.Close()
}

// lineWriter writes what a slog handler writes, a line per call, to f.
type lineWriter struct{ f *audit.File }

func (w lineWriter) Write(p []byte) (int, error) {
	if err := w.f.WriteLine(p); err != nil && !errors.Is(err, audit.ErrClosed) {
		return 0, err
	}
	return len(p), nil
}
