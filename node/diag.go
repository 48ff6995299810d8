package node

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/fxmesh/fxmesh/node/audit"
	"github.com/fxmesh/fxmesh/routing"
	"go.yaml.in/yaml/v3"
)

// DiagOptions configure Diagnose.
type DiagOptions struct {
	// Dir is the node's directory.
	Dir string
	// Hardware and Software are what the machine has now (hostinfo.Detect).
	Hardware routing.Hardware
	Software routing.Software
	// LastErrors is how many of DIR/errors.log's last lines to print;
	// zero means 20.
	LastErrors int
}

// Diagnose writes a summary for a bug report: fxnode's version and Go's,
// the platform, the node's config.yaml with its secrets hidden, what the
// machine has now, and the node's last warnings and errors. It writes what
// it can, and says what it could not read.
func Diagnose(_ context.Context, w io.Writer, o DiagOptions) error {
	version, goVersion := buildVersion()
	fmt.Fprintf(w, "fxnode %s, %s, %s/%s, %d CPUs\n", version, goVersion, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(w, "\n== config (%s, secrets hidden)\n", filepath.Join(o.Dir, ConfigFile))
	if cfg, err := LoadConfig(o.Dir); err != nil {
		fmt.Fprintf(w, "cannot read it: %v\n", err)
	} else {
		c := *cfg
		if c.HTTPToken != "" {
			c.HTTPToken = "(set, hidden)"
		}
		b, err := yaml.Marshal(&c)
		if err != nil {
			return fmt.Errorf("node: diag: %w", err)
		}
		w.Write(b)
	}
	fmt.Fprintf(w, "\n== detected now\n")
	b, err := yaml.Marshal(struct {
		Hardware routing.Hardware `yaml:"hardware"`
		Software routing.Software `yaml:"software"`
	}{o.Hardware, o.Software})
	if err != nil {
		return fmt.Errorf("node: diag: %w", err)
	}
	w.Write(b)
	n := o.LastErrors
	if n <= 0 {
		n = 20
	}
	path := filepath.Join(o.Dir, ErrorsFile)
	fmt.Fprintf(w, "\n== last warnings and errors (%s)\n", path)
	lines, err := audit.Tail(path, n)
	switch {
	case err != nil:
		fmt.Fprintf(w, "cannot read them: %v\n", err)
	case len(lines) == 0:
		fmt.Fprintln(w, "none")
	default:
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
	return nil
}
