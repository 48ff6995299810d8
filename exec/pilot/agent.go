package pilot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/fxmesh/fxmesh/exec"
	"github.com/fxmesh/fxmesh/fault"
)

// AgentConfig configures RunAgent.
type AgentConfig struct {
	// Executors run the tasks, by kind: the same exec/python pool and
	// exec/shell executor, with the same tenancy, as an endpoint runs
	// locally, and under KindContainer, where the node has a container
	// runtime, the exec/container executor that runs every function with
	// a container image (never the others). RunAgent does not close them.
	Executors map[exec.Kind]exec.Executor
	// Runtime names the container runtime of Executors[KindContainer]
	// ("docker", "podman"); the agent tells its manager, which sends it
	// container functions only then. "" with no container executor.
	Runtime string
	// Workers is how many tasks the agent runs at once: the executors'
	// workers. At least 1.
	Workers int
	// Host names the agent's node, for the endpoint's logs.
	Host string
	// Logger receives the agent's events; nil discards them.
	Logger *slog.Logger
}

// RunAgent serves the block protocol on conn, the agent's connection to
// its endpoint's manager: it says hello, beats, runs each task it is sent
// on its executor and answers it, and cancels what it is told to. It
// returns when conn ends (its tasks stopped first) or ctx does, and closes
// conn.
func RunAgent(ctx context.Context, conn io.ReadWriteCloser, cfg AgentConfig) error {
	if cfg.Workers < 1 || cfg.Workers > maxAgentWorkers {
		return fault.E(fault.Invalid, "exec/pilot: agent", "workers %d out of range [1, %d]", cfg.Workers, maxAgentWorkers)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()

	var wmu sync.Mutex // guards w
	w := bufio.NewWriter(conn)
	send := func(m *message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeMessage(w, m)
	}
	if _, ok := cfg.Executors[KindContainer]; ok != (cfg.Runtime != "") {
		return fault.E(fault.Invalid, "exec/pilot: agent", "a container executor needs its runtime's name, and a runtime's name an executor")
	}
	if err := send(&message{Type: msgHello, Workers: cfg.Workers, Host: cfg.Host, Runtime: cfg.Runtime}); err != nil {
		return fmt.Errorf("exec/pilot: agent: hello: %w", err)
	}
	r := bufio.NewReader(conn)
	welcome, err := readMessage(r, 4<<10)
	if err == nil && welcome.Type != msgWelcome {
		err = fmt.Errorf("manager spoke %q before welcome", welcome.Type)
	}
	if err != nil {
		return fmt.Errorf("exec/pilot: agent: welcome: %w", err)
	}
	log.Info("agent connected", "block", welcome.Block, "heartbeat", welcome.Beat)

	var (
		mu      sync.Mutex // guards tasks
		tasks   = map[uint64]context.CancelFunc{}
		running sync.WaitGroup
	)
	running.Add(1)
	go func() { // heartbeats
		defer running.Done()
		t := time.NewTicker(welcome.Beat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			n := len(tasks)
			mu.Unlock()
			if send(&message{Type: msgBeat, Running: n}) != nil {
				cancel()
				return
			}
		}
	}()
	defer func() {
		cancel()
		running.Wait()
	}()
	for {
		m, err := readMessage(r, maxTaskFrame)
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("exec/pilot: agent: %w", err)
		}
		switch m.Type {
		case msgTask:
			tctx, tcancel := context.WithCancel(ctx)
			mu.Lock()
			if _, dup := tasks[m.ID]; dup {
				mu.Unlock()
				tcancel()
				return fault.E(fault.Invalid, "exec/pilot: agent", "task %d sent twice", m.ID)
			}
			tasks[m.ID] = tcancel
			mu.Unlock()
			running.Add(1)
			go func(id uint64, t exec.Task) {
				defer running.Done()
				defer tcancel()
				reply := &message{Type: msgResult, ID: id}
				kind := t.Function.Kind
				if t.Function.Container != "" {
					kind = KindContainer // never on the host's executors
				}
				x, ok := cfg.Executors[kind]
				var r exec.Result
				err := error(fault.E(fault.Invalid, "exec/pilot: agent", "no executor of kind %q", kind))
				if ok {
					r, err = x.Execute(tctx, t)
				}
				if err != nil {
					reply.Err = errorOf(err)
				} else {
					reply.Result = &r
				}
				mu.Lock()
				delete(tasks, id)
				mu.Unlock()
				if send(reply) != nil {
					cancel()
				}
			}(m.ID, *m.Task)
		case msgCancel:
			mu.Lock()
			if c := tasks[m.ID]; c != nil {
				c()
			}
			mu.Unlock()
		default:
			return fault.E(fault.Invalid, "exec/pilot: agent", "manager sent %q", m.Type)
		}
	}
}
