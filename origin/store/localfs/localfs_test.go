package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/storetest"
)

func TestConformance(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s)
}

func TestTempFilesAreHiddenAndSwept(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	if _, err := s.Put(context.Background(), ".tmp/x", strings.NewReader("x"), store.PutOptions{}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("the temp directory is writable as a key: %v", err)
	}
	stale := filepath.Join(root, tmpDir, "put-crashed")
	os.WriteFile(stale, []byte("half"), 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	fresh := filepath.Join(root, tmpDir, "put-inflight")
	os.WriteFile(fresh, []byte("half"), 0o644)
	New(root)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a stale temp file survived a restart")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh temp file (a write in flight elsewhere) was removed")
	}
	objs, _ := s.List(context.Background(), "", "", 0)
	if len(objs) != 0 {
		t.Errorf("temp files are listed: %+v", objs)
	}
}

func TestLongNames(t *testing.T) {
	s, _ := New(t.TempDir())
	long := "a/" + strings.Repeat("x", 300)
	if _, err := s.Stat(context.Background(), long); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat of an over-long name: %v", err)
	}
	if _, err := s.Put(context.Background(), long, strings.NewReader("x"), store.PutOptions{}); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("Put of an over-long name: %v", err)
	}
}

// Deletes prune empty directories while Puts create them: neither may
// make the other fail.
func TestPutRacesDeletePruning(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		done := make(chan error, 1)
		go func() {
			_, err := s.Put(ctx, fmt.Sprintf("d/%d/b", i), strings.NewReader("b"), store.PutOptions{})
			done <- err
		}()
		s.Put(ctx, fmt.Sprintf("d/%d/a", i), strings.NewReader("a"), store.PutOptions{})
		s.Delete(ctx, fmt.Sprintf("d/%d/a", i))
		if err := <-done; err != nil {
			t.Fatalf("a Put lost to a Delete's pruning: %v", err)
		}
	}
}

func TestListStaysInRoot(t *testing.T) {
	parent := t.TempDir()
	fs, err := New(filepath.Join(parent, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "outside"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../", "../out", "a/../../", "./", "a/./b"} {
		if objs, err := fs.List(context.Background(), p, "", 10); !errors.Is(err, store.ErrInvalidKey) || len(objs) != 0 {
			t.Errorf("List(%q) = %v %v", p, objs, err)
		}
	}
}
