package asset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
)

// seed saves n assets spread over folders and delivery types, metadata
// and a tiny original each, and returns their keys' sort order.
func seed(t *testing.T, r *Repo, n int) []string {
	t.Helper()
	ctx := context.Background()
	types := []string{"upload", "private", "authenticated"}
	var ids []string
	err := ForEach(ctx, n, func(i int) error {
		body := []byte{byte(i)}
		a := newAsset(fmt.Sprintf("f%d/item%04d", i%3, i), body)
		a.Type = types[i%len(types)]
		_, err := r.Save(ctx, a, bytes.NewReader(body), true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		ids = append(ids, types[i%len(types)]+"/"+fmt.Sprintf("f%d/item%04d", i%3, i))
	}
	sort.Strings(ids)
	return ids
}

func pageAll(t *testing.T, r *Repo, q Query) ([]string, int) {
	t.Helper()
	var got []string
	pages := 0
	for {
		as, next, err := r.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) > q.Max {
			t.Fatalf("page of %d > %d", len(as), q.Max)
		}
		pages++
		for _, a := range as {
			got = append(got, a.Type+"/"+a.PublicID)
		}
		if next == "" {
			return got, pages
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		q.Cursor = next
	}
}

// 1,200 assets paged 500 at a time: every asset exactly once, in key
// order, and the last page ends the listing.
func TestListPaging(t *testing.T) {
	r := newRepo(t)
	want := seed(t, r, 1200)
	got, pages := pageAll(t, r, Query{Cloud: "demo", ResourceType: "image", Max: 500})
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d assets (first %v), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	if pages != 3 {
		t.Errorf("%d pages for 1,200 assets by 500", pages)
	}

	// One type, a folder prefix, small pages.
	var wantUp []string
	for _, id := range want {
		if len(id) > len("upload/f1/") && id[:len("upload/f1/")] == "upload/f1/" {
			wantUp = append(wantUp, id)
		}
	}
	got, _ = pageAll(t, r, Query{Cloud: "demo", ResourceType: "image", Type: "upload", Prefix: "f1/", Max: 37})
	if !slices.Equal(got, wantUp) {
		t.Errorf("upload/f1/: %d assets, want %d", len(got), len(wantUp))
	}

	// Every type with a prefix: the scan skips from type to type.
	var wantF2 []string
	for _, id := range want {
		if _, rest, _ := cut(id); len(rest) > 3 && rest[:3] == "f2/" {
			wantF2 = append(wantF2, id)
		}
	}
	got, _ = pageAll(t, r, Query{Cloud: "demo", ResourceType: "image", Prefix: "f2/", Max: 150})
	if !slices.Equal(got, wantF2) {
		t.Errorf("all types, prefix f2/: %d assets, want %d", len(got), len(wantF2))
	}

	// Defaults, and a cursor from elsewhere.
	as, next, err := r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image"})
	if err != nil || len(as) != DefaultMax || next == "" {
		t.Errorf("default page: %d %q %v", len(as), next, err)
	}
	if _, _, err := r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image", Type: "private", Cursor: next}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("a cursor of another listing: %v", err)
	}
	if _, _, err := r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image", Cursor: "%%%"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("a garbage cursor: %v", err)
	}
	as, _, err = r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image", Max: 10000})
	if err != nil || len(as) != MaxResults {
		t.Errorf("Max is capped at %d: got %d %v", MaxResults, len(as), err)
	}
}

func cut(id string) (string, string, bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '/' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

func TestListByIDs(t *testing.T) {
	r := newRepo(t)
	save(t, r, "a")
	save(t, r, "b/c")
	as, next, err := r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image",
		PublicIDs: []string{"b/c", "missing", "a", "a", "../x"}})
	if err != nil || next != "" || len(as) != 2 || as[0].PublicID != "b/c" || as[1].PublicID != "a" {
		t.Errorf("by ids: %v %q %v", as, next, err)
	}
}

// Deleted and tombstoned assets never show, and a listing that meets
// only gaps still ends.
func TestListSkipsDeleted(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		save(t, r, fmt.Sprintf("x%d", i))
	}
	r.Delete(ctx, "demo", "image", "upload", "x1")
	r.tombstone(ctx, MetaKey("demo", "image", "upload", "x2"), "")
	got, _ := pageAll(t, r, Query{Cloud: "demo", ResourceType: "image", Max: 2})
	if want := []string{"upload/x0", "upload/x3", "upload/x4", "upload/x5"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}
