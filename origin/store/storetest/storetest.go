// Package storetest is the conformance suite every Store must pass: the
// local filesystem now, S3 against a real server later.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/refract-cdn/refract/origin/store"
)

// Run exercises s, which must start empty.
func Run(t *testing.T, s store.Store) {
	ctx := context.Background()
	get := func(key string) string {
		t.Helper()
		rc, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	put := func(key, body string, o store.PutOptions) (store.Object, error) {
		return s.Put(ctx, key, strings.NewReader(body), o)
	}

	t.Run("PutGetStat", func(t *testing.T) {
		obj, err := put("a/b/c", "hello", store.PutOptions{})
		if err != nil || obj.Size != 5 || obj.ETag == "" || obj.Key != "a/b/c" {
			t.Fatalf("Put: %+v %v", obj, err)
		}
		if got := get("a/b/c"); got != "hello" {
			t.Errorf("Get = %q", got)
		}
		st, err := s.Stat(ctx, "a/b/c")
		if err != nil || st.ETag != obj.ETag || st.Size != 5 {
			t.Errorf("Stat = %+v %v, want etag %s", st, err, obj.ETag)
		}
		if _, err := s.Stat(ctx, "a/b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat of a prefix: %v", err)
		}
		if _, _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(missing): %v", err)
		}
	})

	t.Run("Conditional", func(t *testing.T) {
		o1, err := put("cond", "one", store.PutOptions{IfNoneMatch: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := put("cond", "two", store.PutOptions{IfNoneMatch: true}); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("IfNoneMatch on an existing key: %v", err)
		}
		o2, err := put("cond", "two", store.PutOptions{IfMatch: o1.ETag})
		if err != nil || o2.ETag == o1.ETag {
			t.Fatalf("IfMatch with the current etag: %+v %v", o2, err)
		}
		if _, err := put("cond", "three", store.PutOptions{IfMatch: o1.ETag}); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("IfMatch with a stale etag: %v", err)
		}
		if _, err := put("cond-missing", "x", store.PutOptions{IfMatch: o1.ETag}); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("IfMatch on a missing key: %v", err)
		}
		if got := get("cond"); got != "two" {
			t.Errorf("after the races the body is %q", got)
		}
	})

	t.Run("RacingCreates", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := put("race", fmt.Sprintf("writer-%d", i), store.PutOptions{IfNoneMatch: true})
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrPrecondition) {
					t.Errorf("writer %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d writers won a create-only race, want 1", won)
		}
		if got := get("race"); !strings.HasPrefix(got, "writer-") {
			t.Errorf("body %q", got)
		}
	})

	t.Run("FailedWriteLeavesNothing", func(t *testing.T) {
		_, err := s.Put(ctx, "partial", io.MultiReader(strings.NewReader("half"), errReader{}), store.PutOptions{})
		if err == nil {
			t.Fatal("a failing reader did not fail the Put")
		}
		if _, err := s.Stat(ctx, "partial"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a failed Put left an object: %v", err)
		}
		put("whole", "old", store.PutOptions{})
		s.Put(ctx, "whole", io.MultiReader(strings.NewReader("new"), errReader{}), store.PutOptions{})
		if got := get("whole"); got != "old" {
			t.Errorf("a failed overwrite changed the object to %q", got)
		}
	})

	t.Run("ListAndDelete", func(t *testing.T) {
		for _, k := range []string{"l/a-c", "l/a/b", "l/a/c", "l/b", "l/ab", "other/x"} {
			if _, err := put(k, k, store.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		keys := func(prefix, after string, limit int) string {
			objs, err := s.List(ctx, prefix, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ks []string
			for _, o := range objs {
				ks = append(ks, o.Key)
			}
			return strings.Join(ks, " ")
		}
		if got, want := keys("l/", "", 0), "l/a-c l/a/b l/a/c l/ab l/b"; got != want {
			t.Errorf("List = %q, want byte order %q", got, want)
		}
		if got, want := keys("l/a", "", 0), "l/a-c l/a/b l/a/c l/ab"; got != want {
			t.Errorf("List(l/a) = %q, want %q", got, want)
		}
		if got, want := keys("l/", "l/a/b", 2), "l/a/c l/ab"; got != want {
			t.Errorf("List after = %q, want %q", got, want)
		}
		if got := keys("nothing/", "", 0); got != "" {
			t.Errorf("List of an empty prefix = %q", got)
		}
		if err := s.Delete(ctx, "l/a/b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "l/a/b"); err != nil {
			t.Errorf("deleting a missing key: %v", err)
		}
		if got, want := keys("l/a/", "", 0), "l/a/c"; got != want {
			t.Errorf("after Delete: %q", got)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a/../b", "a//b", "trailing/", "nul\x00"} {
			if _, err := put(k, "x", store.PutOptions{}); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put(%q): %v", k, err)
			}
		}
	})

	t.Run("ReadAll", func(t *testing.T) {
		put("big", strings.Repeat("x", 100), store.PutOptions{})
		b, _, err := store.ReadAll(ctx, s, "big", 100)
		if err != nil || !bytes.Equal(b, bytes.Repeat([]byte("x"), 100)) {
			t.Errorf("ReadAll: %v", err)
		}
		if _, _, err := store.ReadAll(ctx, s, "big", 99); err == nil {
			t.Error("ReadAll ignored its limit")
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
