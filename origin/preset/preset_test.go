package preset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/refract-cdn/refract/origin/store/localfs"
)

func newRepo(t *testing.T) *Repo {
	s, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{Store: s}
}

func TestCRUD(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	p := &Preset{Name: "avatars", Unsigned: true, Settings: map[string]string{"folder": "avatars", "tags": "a,b"}}
	if err := r.Create(ctx, "demo", p); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, "demo", &Preset{Name: "avatars"}); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: %v", err)
	}
	if err := r.Create(ctx, "other", &Preset{Name: "avatars"}); err != nil {
		t.Errorf("clouds are separate: %v", err)
	}
	got, err := r.Get(ctx, "demo", "avatars")
	if err != nil || !got.Unsigned || got.Settings["folder"] != "avatars" || got.CreatedAt.IsZero() {
		t.Fatalf("Get: %+v %v", got, err)
	}
	up, err := r.Update(ctx, "demo", "avatars", func(p *Preset) error {
		p.Unsigned = false
		p.Settings["overwrite"] = "false"
		p.Name = "renamed" // the name is the key: not editable
		return nil
	})
	if err != nil || up.Unsigned || up.Settings["overwrite"] != "false" || up.Settings["folder"] != "avatars" || up.Name != "avatars" {
		t.Errorf("Update: %+v %v", up, err)
	}
	if _, err := r.Update(ctx, "demo", "nope", func(*Preset) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing preset: %v", err)
	}
	if err := r.Delete(ctx, "demo", "avatars"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "demo", "avatars"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := r.Delete(ctx, "demo", "avatars"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "sp ace", string(make([]byte, MaxNameLength+1))} {
		if err := r.Create(ctx, "demo", &Preset{Name: bad}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create(%q): %v", bad, err)
		}
		if _, err := r.Get(ctx, "demo", bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v", bad, err)
		}
	}
}

func TestListPages(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if err := r.Create(ctx, "demo", &Preset{Name: fmt.Sprintf("p%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		ps, next, err := r.List(ctx, "demo", cursor, 10)
		if err != nil || pages > 5 {
			t.Fatal(err, pages)
		}
		for _, p := range ps {
			if seen[p.Name] {
				t.Errorf("%s twice", p.Name)
			}
			seen[p.Name] = true
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if len(seen) != 25 {
		t.Errorf("listed %d of 25", len(seen))
	}
	if _, _, err := r.List(ctx, "demo", "***", 10); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// Concurrent updates of different settings all land.
func TestConcurrentUpdates(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	r.Create(ctx, "demo", &Preset{Name: "p"})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := r.Update(ctx, "demo", "p", func(p *Preset) error {
				p.Settings[fmt.Sprintf("k%d", i)] = "v"
				return nil
			}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if p, _ := r.Get(ctx, "demo", "p"); len(p.Settings) != 8 {
		t.Errorf("settings after the race: %v", p.Settings)
	}
}
