package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fxmesh/fxmesh/catalog"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/fxmesh/fxmesh/identity"
)

func pyFunction(name string) catalog.Function {
	return catalog.Function{Name: name, Kind: catalog.KindPython, Source: "def f(*a, **k):\n    return None\n", Entry: "f"}
}

// TestUserCatalogHoldsItsFileOnlyWhileUsingIt: many UserCatalogs of one
// user (many fx commands of one $FX_HOME) share the file; none keeps it
// between calls.
func TestUserCatalogHoldsItsFileOnlyWhileUsingIt(t *testing.T) {
	ctx := context.Background()
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	owner := key.ID().String()

	t.Run("lookups in a missing file find nothing and create nothing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalog.db")
		u := &UserCatalog{Key: key, Path: path}
		if _, err := u.Resolve(ctx, "f"); !fault.Is(err, fault.NotFound) {
			t.Fatalf("resolve: %v", err)
		}
		if es, err := u.List(ctx, ""); err != nil || len(es) != 0 {
			t.Fatalf("list: %v %v", es, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a lookup created the file: %v", err)
		}
	})

	t.Run("the file is free between calls", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalog.db")
		u := &UserCatalog{Key: key, Path: path}
		r, err := u.Register(ctx, pyFunction("f"), catalog.Access{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := u.Resolve(ctx, "f")
		if err != nil || f.ID != r.ID || f.Proof == nil {
			t.Fatalf("resolve: %+v %v", f, err)
		}
		// Another process could write now; u holds nothing.
		st, err := catalog.Open(path, catalog.Options{KeepPrivate: true, LockTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("the file is held after Register and Resolve: %v", err)
		}
		if _, err := st.Resolve(owner + "/f"); err != nil {
			t.Fatalf("registered function not in the file: %v", err)
		}
		st.Close()
	})

	t.Run("many at once, reading and writing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalog.db")
		if _, err := (&UserCatalog{Key: key, Path: path}).Register(ctx, pyFunction("base"), catalog.Access{}); err != nil {
			t.Fatal(err)
		}
		// A reader that stays: lookups share the file with it.
		held, err := catalog.Open(path, catalog.Options{KeepPrivate: true, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		const readers, writers = 32, 4
		errs := make(chan error, 2*readers+2*writers)
		var wg sync.WaitGroup
		for i := range readers {
			wg.Go(func() {
				u := &UserCatalog{Key: key, Path: path}
				if _, err := u.Resolve(ctx, "base"); err != nil {
					errs <- fmt.Errorf("reader %d: %w", i, err)
				}
			})
		}
		for i := range readers {
			wg.Go(func() {
				u := &UserCatalog{Key: key, Path: path}
				if es, err := u.List(ctx, owner); err != nil || len(es) == 0 {
					errs <- fmt.Errorf("lister %d: %v %w", i, es, err)
				}
			})
		}
		wg.Wait()
		held.Close()
		for i := range writers {
			wg.Go(func() {
				u := &UserCatalog{Key: key, Path: path}
				if _, err := u.Register(ctx, pyFunction(fmt.Sprintf("w%d", i)), catalog.Access{}); err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
				}
				if _, err := u.Resolve(ctx, "base"); err != nil {
					errs <- fmt.Errorf("writer %d, resolve: %w", i, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		es, err := (&UserCatalog{Key: key, Path: path}).List(ctx, owner)
		if err != nil || len(es) != 1+writers {
			t.Fatalf("after the writers: %v %v", es, err)
		}
	})

	t.Run("registers of one name at once each get a version", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "catalog.db")
		const n = 8
		got := make([]*Registered, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				fn := pyFunction("same")
				fn.Description = fmt.Sprint(i)
				got[i], errs[i] = (&UserCatalog{Key: key, Path: path}).Register(ctx, fn, catalog.Access{})
			})
		}
		wg.Wait()
		u := &UserCatalog{Key: key, Path: path}
		versions := map[uint64]int{}
		for i, r := range got {
			if errs[i] != nil {
				t.Fatalf("register %d: %v", i, errs[i])
			}
			f, err := u.Resolve(ctx, r.ID.String())
			if err != nil {
				t.Fatalf("register %d gave version %d, %s, which is gone: %v", i, r.Version, r.ID, err)
			}
			if f.Function.Description != fmt.Sprint(i) {
				t.Fatalf("register %d: %s is %q", i, r.ID, f.Function.Description)
			}
			versions[f.Function.Version]++
		}
		if len(versions) != n {
			t.Fatalf("%d registers made versions %v", n, versions)
		}
	})

	t.Run("in memory without a path", func(t *testing.T) {
		u := &UserCatalog{Key: key}
		r, err := u.Register(ctx, pyFunction("f"), catalog.Access{})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := u.Resolve(ctx, "f"); err != nil || f.ID != r.ID {
			t.Fatalf("resolve: %+v %v", f, err)
		}
	})
}
