// Package storetest is the conformance suite every Store must pass: the
// local filesystem and S3 against a real server.
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

	t.Run("ETagsAgree", func(t *testing.T) {
		// Put, Get, Stat and List report the same ETag, and each one works
		// as IfMatch.
		last, err := put("etag/x", "v0", store.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		from := map[string]func() (store.Object, error){
			"Put": func() (store.Object, error) { return last, nil },
			"Get": func() (store.Object, error) {
				rc, o, err := s.Get(ctx, "etag/x")
				if err == nil {
					rc.Close()
				}
				return o, err
			},
			"Stat": func() (store.Object, error) { return s.Stat(ctx, "etag/x") },
			"List": func() (store.Object, error) {
				objs, err := s.List(ctx, "etag/", "", 0)
				if err == nil && len(objs) != 1 {
					err = fmt.Errorf("%d objects", len(objs))
				}
				if err != nil {
					return store.Object{}, err
				}
				return objs[0], nil
			},
		}
		for _, src := range []string{"Put", "Get", "Stat", "List"} {
			o, err := from[src]()
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if o.ETag != last.ETag || o.Size != last.Size {
				t.Errorf("%s says %q/%d, Put said %q/%d", src, o.ETag, o.Size, last.ETag, last.Size)
			}
			n, err := put("etag/x", "from "+src, store.PutOptions{IfMatch: o.ETag})
			if err != nil {
				t.Fatalf("IfMatch with the etag from %s: %v", src, err)
			}
			last = n
		}
		if _, err := put("etag/x", "v9", store.PutOptions{IfMatch: "not-an-etag"}); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("IfMatch with a made-up etag: %v", err)
		}
		if _, err := put("etag/x", "v9", store.PutOptions{IfMatch: "bad\"\r\nX-Evil: 1"}); !errors.Is(err, store.ErrPrecondition) {
			t.Errorf("IfMatch with header characters: %v", err)
		}
		if got := get("etag/x"); got != "from List" {
			t.Errorf("body %q", got)
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		o, err := put("empty", "", store.PutOptions{IfNoneMatch: true})
		if err != nil || o.Size != 0 {
			t.Fatalf("Put: %+v %v", o, err)
		}
		if got := get("empty"); got != "" {
			t.Errorf("Get = %q", got)
		}
	})

	t.Run("ListPaging", func(t *testing.T) {
		var want []string
		for i := 0; i < 23; i++ {
			k := fmt.Sprintf("page/%02d", i)
			want = append(want, k)
			if _, err := put(k, k, store.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		after := ""
		for pages := 0; pages < 10; pages++ {
			objs, err := s.List(ctx, "page/", after, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) > 5 {
				t.Fatalf("page of %d objects, limit 5", len(objs))
			}
			if len(objs) == 0 {
				break
			}
			for _, o := range objs {
				got = append(got, o.Key)
			}
			after = objs[len(objs)-1].Key
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("paged List = %v, want %v", got, want)
		}
		// after need not be a stored key.
		objs, err := s.List(ctx, "page/", "page/19x", 0)
		if err != nil || len(objs) != 3 || objs[0].Key != "page/20" {
			t.Errorf("List after a non-key: %v %v", objs, err)
		}
	})

	t.Run("LargeStreaming", func(t *testing.T) {
		// 12 MB, past any in-memory threshold, from a seekable reader
		// (what callers pass) and from a plain stream.
		big := make([]byte, 12<<20)
		for i := range big {
			big[i] = byte(i*7 + i>>13)
		}
		for name, r := range map[string]io.Reader{
			"seekable": bytes.NewReader(big),
			"stream":   struct{ io.Reader }{bytes.NewReader(big)},
		} {
			key := "large/" + name
			o, err := s.Put(ctx, key, r, store.PutOptions{IfNoneMatch: true})
			if err != nil || o.Size != int64(len(big)) {
				t.Fatalf("%s: Put: %+v %v", name, o, err)
			}
			rc, obj, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || obj.Size != int64(len(big)) || !bytes.Equal(b, big) {
				t.Errorf("%s: round trip: %d bytes (Size %d), equal %v, %v", name, len(b), obj.Size, bytes.Equal(b, big), err)
			}
		}
		// A seekable reader is sent from where it stands.
		r := bytes.NewReader(big[:1000])
		r.Seek(600, io.SeekStart)
		if o, err := s.Put(ctx, "large/offset", r, store.PutOptions{}); err != nil || o.Size != 400 {
			t.Fatalf("Put from an offset: %+v %v", o, err)
		}
		if got := get("large/offset"); got != string(big[600:1000]) {
			t.Errorf("Put from an offset stored %d bytes", len(got))
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
