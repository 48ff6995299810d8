package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fxmesh/fxmesh/internal/atomicfile"
	"github.com/fxmesh/fxmesh/node/hostinfo"
	"github.com/fxmesh/fxmesh/routing"
)

// ModulesFile, in a node's directory, holds the Python modules the node
// last found importable by its workers' interpreter (JSON, as
// routing.Software.Modules lists them): fxnode init writes it, and each
// start lists them afresh and writes it again. The record advertises the
// file's list when the start's listing fails.
const ModulesFile = "python-modules.json"

// modulesTimeout bounds one listing of Python modules.
const modulesTimeout = 30 * time.Second

// ListModules lists the Python distributions the interpreter python
// imports (hostinfo.Modules), as an endpoint record holds them, under
// modulesTimeout. otherUsers says the workers run as users other than
// this process's: their site directories are not this user's, so the
// user's site directory is left out. dropped counts the modules left out
// to keep within a record's bounds.
func ListModules(ctx context.Context, python string, otherUsers bool) (mods []routing.Module, dropped int, err error) {
	if python == "" {
		python = "python3"
	}
	return hostinfo.Modules(ctx, hostinfo.Options{Timeout: modulesTimeout}, python, otherUsers)
}

// SaveModules lists the modules of the interpreter cfg's Python pool
// would run (python:, else the first of software.python_paths, else
// python3) and writes them into DIR/python-modules.json; fxnode init
// calls it. It returns how many it found.
func SaveModules(ctx context.Context, dir string, cfg *Config) (int, error) {
	mods, _, err := ListModules(ctx, cfg.pythonPath(), runsAsRoot() || len(cfg.Users) > 0 || cfg.WorkerUIDs != "")
	if err != nil {
		return 0, err
	}
	return len(mods), writeModules(dir, mods)
}

func writeModules(dir string, mods []routing.Module) error {
	b, err := json.Marshal(mods)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ModulesFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("node: write %s: %w", ModulesFile, err)
	}
	return nil
}

// readModules reads DIR/python-modules.json; a missing file is no modules.
// A list a record could not hold is refused.
func readModules(dir string) ([]routing.Module, error) {
	b, err := os.ReadFile(filepath.Join(dir, ModulesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var mods []routing.Module
	if err := json.Unmarshal(b, &mods); err != nil {
		return nil, fmt.Errorf("node: read %s: %w", ModulesFile, err)
	}
	mods, _ = hostinfo.BoundModules(mods)
	return mods, nil
}

// refreshModules sets the modules the endpoint's record advertises: those
// python (the interpreter the Python workers run; "" when the node has
// none of its own) imports now, written to DIR/python-modules.json, or,
// when they cannot be listed, those the file holds.
func (n *Node) refreshModules(python string, otherUsers bool) {
	var mods []routing.Module
	var err error
	if python != "" {
		ctx, cancel := context.WithTimeout(n.ctx, modulesTimeout)
		var dropped int
		mods, dropped, err = ListModules(ctx, python, otherUsers)
		cancel()
		if dropped > 0 {
			n.log.Warn("too many Python modules for the endpoint record; the last by name are not advertised", "listed", len(mods), "left_out", dropped)
		}
		if err == nil {
			if werr := writeModules(n.dir, mods); werr != nil {
				n.log.Warn("save python modules", "err", werr)
			}
		}
	}
	if python == "" || err != nil {
		if err != nil {
			n.log.Warn("list python modules; the record keeps those listed before", "python", python, "err", err)
		}
		var rerr error
		if mods, rerr = readModules(n.dir); rerr != nil {
			n.log.Warn("read python modules", "err", rerr)
		}
	}
	n.mu.Lock()
	n.modules = mods
	n.mu.Unlock()
	n.log.Debug("python modules advertised", "python", python, "modules", len(mods))
}

// advertisedFunctions is what a record says of the function allowlist
// list (config functions:): the list itself when a record can hold it
// (routing.MaxFunctionEntries entries of routing.ValidFunctionEntry,
// routing.MaxFunctionsBytes in all), else only that there is one
// (unlisted), so that clients leave the choice to the endpoint.
func advertisedFunctions(list []string) (listed []string, unlisted bool) {
	if len(list) == 0 {
		return nil, false
	}
	total := 0
	for _, e := range list {
		total += len(e)
		if !routing.ValidFunctionEntry(e) {
			return nil, true
		}
	}
	if len(list) > routing.MaxFunctionEntries || total > routing.MaxFunctionsBytes {
		return nil, true
	}
	return list, false
}

// noteWorkerPython records python, the interpreter the Python workers
// run (after any fallback), and its version, so that the record lists it
// first: clients that need the workers' version (the SDK's pickle check)
// read the first of software.python.
func (n *Node) noteWorkerPython(python, version string) {
	n.mu.Lock()
	// As the detected interpreters' paths are written, to match them.
	n.workerPython.path, n.workerPython.version = hostinfo.RealPath(python), version
	n.mu.Unlock()
}

// workerFirst returns versions and paths (software.python and
// python_paths) with the workers' interpreter first, added when it is not
// among them (matched by path when paths parallel versions); without a
// version it returns them as they are. It never changes the slices it is
// given.
func workerFirst(versions, paths []string, version, path string) ([]string, []string) {
	if version == "" {
		return versions, paths
	}
	if len(paths) != len(versions) {
		// No paths to match by (a configured software: block): the
		// version alone goes first.
		return append([]string{version}, versions...), paths
	}
	vs, ps := []string{version}, []string{path}
	for i, v := range versions {
		if paths[i] != path {
			vs, ps = append(vs, v), append(ps, paths[i])
		}
	}
	return vs, ps
}
