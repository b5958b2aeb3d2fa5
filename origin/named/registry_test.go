package named

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store/localfs"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRegistries(t *testing.T, static *Set) (a, b *Registry, clk *clock) {
	s, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk = &clock{t: time.Unix(1_700_000_000, 0)}
	a, b = NewRegistry(s, static), NewRegistry(s, static)
	a.Now, b.Now = clk.Now, clk.Now
	return a, b, clk
}

func TestRegistryCRUD(t *testing.T) {
	r, _, _ := newRegistries(t, nil)
	ctx := context.Background()
	d, err := r.Create(ctx, "demo", Def{Name: "thumb", Transformation: "w_100,c_fill,h_100"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Transformation != "c_fill,h_100,w_100" || d.CreatedAt.IsZero() {
		t.Errorf("stored %+v: want the canonical text", d)
	}
	if tx, ok := r.Lookup("demo", "thumb"); !ok || tx != d.Transformation {
		t.Errorf("Lookup right after Create: %q %v", tx, ok)
	}
	if _, ok := r.Lookup("other", "thumb"); ok {
		t.Error("another cloud sees it")
	}
	if _, err := r.Create(ctx, "demo", Def{Name: "thumb", Transformation: "w_1"}); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: %v", err)
	}
	up, err := r.Update(ctx, "demo", "thumb", func(d *Def) error {
		d.Transformation = "w_200"
		d.AllowedForStrict = true
		return nil
	})
	if err != nil || up.Transformation != "w_200" || !up.AllowedForStrict || !up.CreatedAt.Equal(d.CreatedAt) {
		t.Errorf("Update: %+v %v", up, err)
	}
	if tx, _ := r.Lookup("demo", "thumb"); tx != "w_200" || !r.AllowedForStrict("demo", "thumb") {
		t.Errorf("Lookup after Update: %q", tx)
	}
	if got, err := r.Get(ctx, "demo", "thumb"); err != nil || got.Transformation != "w_200" {
		t.Errorf("Get: %+v %v", got, err)
	}
	if err := r.Delete(ctx, "demo", "thumb"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("demo", "thumb"); ok {
		t.Error("Lookup after Delete")
	}
	if err := r.Delete(ctx, "demo", "thumb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := r.Update(ctx, "demo", "thumb", func(*Def) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing one: %v", err)
	}
}

func TestRegistryRefusesBadDefinitions(t *testing.T) {
	r, _, _ := newRegistries(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		d    Def
		want error
	}{
		{Def{Name: "bad name", Transformation: "w_1"}, ErrInvalidName},
		{Def{Name: "", Transformation: "w_1"}, ErrInvalidName},
		{Def{Name: "x.y", Transformation: "w_1"}, ErrInvalidName},
		{Def{Name: "me", Transformation: "w_1/t_me"}, ErrSelfReference},
		{Def{Name: "me", Transformation: "t_other.me"}, ErrSelfReference},
	} {
		if _, err := r.Create(ctx, "demo", c.d); !errors.Is(err, c.want) {
			t.Errorf("Create(%+v) = %v, want %v", c.d, err, c.want)
		}
	}
	for _, tx := range []string{"", "w_abc", "nonsense"} {
		if _, err := r.Create(ctx, "demo", Def{Name: "ok", Transformation: tx}); err == nil {
			t.Errorf("Create with %q was accepted", tx)
		}
	}
	// A cycle through another definition.
	if _, err := r.Create(ctx, "demo", Def{Name: "a", Transformation: "t_b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "demo", Def{Name: "b", Transformation: "w_10/t_a"}); !errors.Is(err, ErrSelfReference) {
		t.Errorf("a cycle: %v", err)
	}
	if _, err := r.Update(ctx, "demo", "a", func(d *Def) error { d.Transformation = "t_a"; return nil }); !errors.Is(err, ErrSelfReference) {
		t.Errorf("Update to itself: %v", err)
	}
}

// The file's definitions win and cannot be changed through the store.
func TestRegistryFileFirst(t *testing.T) {
	static, err := New(map[string]map[string]string{"*": {"logo": "w_50"}, "demo": {"thumb": "w_10"}})
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := newRegistries(t, static)
	ctx := context.Background()
	if _, err := r.Create(ctx, "demo", Def{Name: "thumb", Transformation: "w_99"}); !errors.Is(err, ErrStatic) {
		t.Errorf("Create over the file: %v", err)
	}
	if err := r.Delete(ctx, "other", "logo"); !errors.Is(err, ErrStatic) {
		t.Errorf("Delete of a shared file definition: %v", err)
	}
	if _, err := r.Create(ctx, "demo", Def{Name: "own", Transformation: "t_thumb/e_blur"}); err != nil {
		t.Errorf("a store definition using a file one: %v", err)
	}
	for _, c := range []struct{ cloud, name, want string }{
		{"demo", "thumb", "w_10"}, {"other", "logo", "w_50"}, {"demo", "own", "t_thumb/e_blur:100"},
	} {
		if got, ok := r.Lookup(c.cloud, c.name); !ok || got != c.want {
			t.Errorf("Lookup(%s, %s) = %q %v, want %q", c.cloud, c.name, got, ok, c.want)
		}
	}
	if d, err := r.Get(ctx, "demo", "thumb"); err != nil || !d.Static {
		t.Errorf("Get of a file definition: %+v %v", d, err)
	}
	if r.AllowedForStrict("demo", "thumb") {
		t.Error("a file definition is allowed for strict")
	}
}

// Two nodes on one store: an edit on one shows up on the other within
// the TTL, and not before the other's copy is due.
func TestRegistryNodesConverge(t *testing.T) {
	a, b, clk := newRegistries(t, nil)
	ctx := context.Background()
	if _, ok := b.Lookup("demo", "n"); ok {
		t.Fatal("found before creation")
	}
	if _, err := a.Create(ctx, "demo", Def{Name: "n", Transformation: "w_1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Lookup("demo", "n"); ok {
		t.Error("b's fresh copy should still be in use")
	}
	clk.Add(DefaultTTL + time.Millisecond)
	if tx, ok := b.Lookup("demo", "n"); !ok || tx != "w_1" {
		t.Errorf("b after the TTL: %q %v", tx, ok)
	}
	a.Update(ctx, "demo", "n", func(d *Def) error { d.Transformation = "w_2"; return nil })
	a.Delete(ctx, "demo", "n")
	a.Create(ctx, "demo", Def{Name: "m", Transformation: "w_3"})
	clk.Add(DefaultTTL + time.Millisecond)
	if _, ok := b.Lookup("demo", "n"); ok {
		t.Error("b still has a deleted definition after the TTL")
	}
	if tx, _ := b.Lookup("demo", "m"); tx != "w_3" {
		t.Errorf("b: m = %q", tx)
	}
}

// Lookups race with edits and background refreshes (run with -race).
func TestRegistryConcurrentLookups(t *testing.T) {
	a, b, clk := newRegistries(t, nil)
	ctx := context.Background()
	b.TTL = time.Millisecond
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					b.Lookup("demo", "k1")
					b.AllowedForStrict("demo", "k2")
					clk.Add(time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("k%d", i%3)
		if _, err := a.Create(ctx, "demo", Def{Name: name, Transformation: fmt.Sprintf("w_%d", i+1)}); err != nil {
			a.Delete(ctx, "demo", name)
		}
	}
	close(stop)
	wg.Wait()
	clk.Add(time.Second)
	_, inStore := a.Get(ctx, "demo", "k1")
	if _, ok := b.Lookup("demo", "k1"); ok != (inStore == nil) {
		t.Errorf("b and the store disagree on k1: lookup %v, store %v", ok, inStore)
	}
}

func TestRegistryList(t *testing.T) {
	r, _, _ := newRegistries(t, nil)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		r.Create(ctx, "demo", Def{Name: fmt.Sprintf("n%02d", i), Transformation: "w_1"})
	}
	var names []string
	cursor := ""
	for page := 0; page < 5; page++ {
		ds, next, err := r.List(ctx, "demo", cursor, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if len(names) != 12 || names[0] != "n00" || names[11] != "n11" {
		t.Errorf("listed %v", names)
	}
	if _, _, err := r.List(ctx, "demo", "!", 5); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}
