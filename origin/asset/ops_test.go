package asset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
)

// newRepoAt is newRepo with the directory, for tests that age files.
func newRepoAt(t *testing.T) (*Repo, string) {
	dir := t.TempDir()
	s, err := localfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{Store: s}, dir
}

func save(t *testing.T, r *Repo, id string, tags ...string) *Asset {
	t.Helper()
	body := []byte("body of " + id)
	a := newAsset(id, body)
	a.Tags = tags
	if _, err := r.Save(context.Background(), a, bytes.NewReader(body), true); err != nil {
		t.Fatalf("Save %s: %v", id, err)
	}
	return a
}

func exists(t *testing.T, r *Repo, key string) bool {
	t.Helper()
	_, err := r.Store.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func byTag(t *testing.T, r *Repo, tag string) []string {
	t.Helper()
	as, _, err := r.List(context.Background(), Query{Cloud: "demo", ResourceType: "image", Tag: tag, Max: 500})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range as {
		ids = append(ids, a.PublicID)
	}
	return ids
}

// Eight writers add different tags to one asset at once: every tag ends
// up in the metadata and in the index.
func TestUpdateRacesKeepEveryTag(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	save(t, r, "hot", "base")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := r.Update(ctx, "demo", "image", "upload", "hot", func(a *Asset) error {
				a.Tags = append(a.Tags, fmt.Sprintf("t%d", i))
				return nil
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	a, _, err := r.Get(ctx, "demo", "image", "upload", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tags) != 9 {
		t.Fatalf("tags after the race: %v", a.Tags)
	}
	for i := 0; i < 8; i++ {
		tag := fmt.Sprintf("t%d", i)
		if !slices.Contains(a.Tags, tag) {
			t.Errorf("tag %s lost", tag)
		}
		if ids := byTag(t, r, tag); !slices.Equal(ids, []string{"hot"}) {
			t.Errorf("listing by %s: %v", tag, ids)
		}
	}
	tags, next, err := r.Tags(ctx, "demo", "image", "", "", 100)
	if err != nil || next != "" || len(tags) != 9 {
		t.Errorf("Tags: %v %q %v", tags, next, err)
	}
}

func TestUpdateEditsOnlyWhatItMay(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	orig := save(t, r, "x", "a", "b")
	got, err := r.Update(ctx, "demo", "image", "upload", "x", func(a *Asset) error {
		a.Tags = []string{"b", "c", "c"}
		a.Context = map[string]string{"alt": "hi"}
		a.PublicID, a.VersionID = "elsewhere", "forged" // identity is not editable
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.PublicID != "x" || got.VersionID != orig.VersionID || !slices.Equal(got.Tags, []string{"b", "c"}) || got.Context["alt"] != "hi" {
		t.Errorf("updated: %+v", got)
	}
	if ids := byTag(t, r, "a"); len(ids) != 0 {
		t.Errorf("a removed tag still lists: %v", ids)
	}
	if exists(t, r, TagKey("demo", "image", "a", "upload", "x")) {
		t.Error("the removed tag's marker survived")
	}
	if ids := byTag(t, r, "c"); !slices.Equal(ids, []string{"x"}) {
		t.Errorf("by new tag: %v", ids)
	}
	boom := errors.New("no")
	if _, err := r.Update(ctx, "demo", "image", "upload", "x", func(*Asset) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: %v", err)
	}
	if _, err := r.Update(ctx, "demo", "image", "upload", "nope", func(*Asset) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing asset: %v", err)
	}
	if _, err := r.Update(ctx, "demo", "image", "upload", "x", func(a *Asset) error { a.Tags = []string{"bad\x01"}; return nil }); !errors.Is(err, ErrInvalidTag) {
		t.Errorf("control byte in a tag: %v", err)
	}
}

func TestDelete(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a := save(t, r, "gone/one", "red")
	if err := r.PutDerived(ctx, a, "d1.jpg", "w_100", "jpg", []byte("derived"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	// keep_original: only the derivatives go.
	kept, err := r.DeleteWith(ctx, "demo", "image", "upload", "gone/one", DeleteOptions{KeepOriginal: true})
	if err != nil || kept.VersionID != a.VersionID {
		t.Fatalf("keep_original: %v %v", kept, err)
	}
	if exists(t, r, DerivedKey("demo", a.VersionID, "d1.jpg")) || !exists(t, r, a.OriginalKey) {
		t.Error("keep_original must delete the derivatives and keep the original")
	}
	if _, _, err := r.Get(ctx, "demo", "image", "upload", "gone/one"); err != nil {
		t.Errorf("keep_original deleted the asset: %v", err)
	}

	r.PutDerived(ctx, a, "d2.jpg", "w_200", "jpg", []byte("derived"), "image/jpeg")
	old, err := r.Delete(ctx, "demo", "image", "upload", "gone/one")
	if err != nil || old.VersionID != a.VersionID {
		t.Fatalf("Delete: %v %v", old, err)
	}
	if _, _, err := r.Get(ctx, "demo", "image", "upload", "gone/one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	for _, k := range []string{MetaKey("demo", "image", "upload", "gone/one"), a.OriginalKey,
		DerivedKey("demo", a.VersionID, "d2.jpg"), DerivedInfoKey("demo", a.VersionID, "d2.jpg"),
		TagKey("demo", "image", "red", "upload", "gone/one")} {
		if exists(t, r, k) {
			t.Errorf("%s survived the delete", k)
		}
	}
	if _, err := r.Delete(ctx, "demo", "image", "upload", "gone/one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	// The public_id is free again at once.
	b := save(t, r, "gone/one")
	if b.AssetID == a.AssetID {
		t.Error("a new upload after a delete is a new asset")
	}
}

// A crash between the tombstone and the key's removal: readers see no
// asset, listings skip it, and after the grace period an upload takes
// the public_id over and collects the dead version's bytes.
func TestCrashedDeleteLeavesATombstoneThatHeals(t *testing.T) {
	r, dir := newRepoAt(t)
	ctx := context.Background()
	a := save(t, r, "zombie", "z")
	key := MetaKey("demo", "image", "upload", "zombie")
	if _, err := r.tombstone(ctx, key, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Get(ctx, "demo", "image", "upload", "zombie"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a tombstone: %v", err)
	}
	if as, _, _ := r.List(ctx, Query{Cloud: "demo", ResourceType: "image"}); len(as) != 0 {
		t.Errorf("List shows a tombstone: %v", as)
	}
	if ids := byTag(t, r, "z"); len(ids) != 0 {
		t.Errorf("by tag shows a tombstone: %v", ids)
	}
	if _, err := r.Update(ctx, "demo", "image", "upload", "zombie", func(*Asset) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a tombstone: %v", err)
	}
	// A fresh tombstone is a delete in progress: an upload waits, then gives up.
	body := []byte("new")
	if _, err := r.Save(ctx, newAsset("zombie", body), bytes.NewReader(body), true); !errors.Is(err, ErrConflict) {
		t.Errorf("Save over a fresh tombstone: %v", err)
	}
	old := time.Now().Add(-2 * tombstoneGrace)
	if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), old, old); err != nil {
		t.Fatal(err)
	}
	b := newAsset("zombie", body)
	prev, err := r.Save(ctx, b, bytes.NewReader(body), false)
	if err != nil || prev != nil {
		t.Fatalf("Save over an old tombstone: %v %v", prev, err)
	}
	if exists(t, r, a.OriginalKey) {
		t.Error("the dead version's original was not collected")
	}
	if got, _, err := r.Get(ctx, "demo", "image", "upload", "zombie"); err != nil || got.VersionID != b.VersionID {
		t.Errorf("after takeover: %v %v", got, err)
	}
}

func TestRename(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a := save(t, r, "from/a", "keep")
	r.PutDerived(ctx, a, "d.jpg", "w_1", "jpg", []byte("d"), "image/jpeg")

	n, replaced, err := r.Rename(ctx, "demo", "image", "upload", "from/a", "private", "to/a", false)
	if err != nil || replaced != nil {
		t.Fatalf("Rename: %v %v", replaced, err)
	}
	if n.AssetID != a.AssetID || n.Version != a.Version || n.VersionID == a.VersionID || n.Type != "private" || n.PublicID != "to/a" {
		t.Errorf("renamed: %+v", n)
	}
	body, _, err := store.ReadAll(ctx, r.Store, n.OriginalKey, 1<<20)
	if err != nil || string(body) != "body of from/a" {
		t.Errorf("renamed original: %q %v", body, err)
	}
	for _, k := range []string{MetaKey("demo", "image", "upload", "from/a"), a.OriginalKey,
		DerivedKey("demo", a.VersionID, "d.jpg"), TagKey("demo", "image", "keep", "upload", "from/a")} {
		if exists(t, r, k) {
			t.Errorf("%s survived the rename", k)
		}
	}
	if got, _, err := r.Get(ctx, "demo", "image", "private", "to/a"); err != nil || got.VersionID != n.VersionID || !slices.Equal(got.Tags, []string{"keep"}) {
		t.Errorf("Get renamed: %+v %v", got, err)
	}
	if ids := byTag(t, r, "keep"); !slices.Equal(ids, []string{"to/a"}) {
		t.Errorf("by tag after rename: %v", ids)
	}

	// A taken target without overwrite: refused, both intact, no stray bytes.
	bb := []byte("b")
	b := newAsset("b", bb)
	b.Version = n.Version + 5
	if _, err := r.Save(ctx, b, bytes.NewReader(bb), true); err != nil {
		t.Fatal(err)
	}
	origs, _ := r.Store.List(ctx, "originals/", "", 0)
	if _, cur, err := r.Rename(ctx, "demo", "image", "private", "to/a", "upload", "b", false); !errors.Is(err, ErrExists) || cur == nil || cur.PublicID != "b" {
		t.Errorf("rename onto b without overwrite: %v %v", cur, err)
	}
	if after, _ := r.Store.List(ctx, "originals/", "", 0); len(after) != len(origs) {
		t.Errorf("a refused rename left bytes: %d then %d originals", len(origs), len(after))
	}

	// With overwrite: b is replaced and its bytes collected.
	n2, replaced, err := r.Rename(ctx, "demo", "image", "private", "to/a", "upload", "b", true)
	if err != nil || replaced == nil || replaced.VersionID != b.VersionID {
		t.Fatalf("rename with overwrite: %v %v", replaced, err)
	}
	if n2.Version <= b.Version || n2.AssetID != a.AssetID {
		t.Errorf("version %d must pass the replaced %d; asset id kept", n2.Version, b.Version)
	}
	if exists(t, r, b.OriginalKey) || exists(t, r, n.OriginalKey) {
		t.Error("replaced or moved bytes survived")
	}
	if _, _, err := r.Rename(ctx, "demo", "image", "upload", "missing", "upload", "x", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename of a missing asset: %v", err)
	}
	origs, _ = r.Store.List(ctx, "originals/", "", 0)
	metas, _ := r.Store.List(ctx, "assets/", "", 0)
	if len(origs) != 1 || len(metas) != 1 {
		t.Errorf("left %d originals for %d assets", len(origs), len(metas))
	}
}

func TestSaveIndexesTags(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	save(t, r, "p", "one", "two")
	save(t, r, "p", "two", "three") // an overwrite replaces the tags
	if ids := byTag(t, r, "one"); len(ids) != 0 {
		t.Errorf("a replaced tag lists: %v", ids)
	}
	if exists(t, r, TagKey("demo", "image", "one", "upload", "p")) {
		t.Error("the replaced tag's marker survived")
	}
	for _, tag := range []string{"two", "three"} {
		if ids := byTag(t, r, tag); !slices.Equal(ids, []string{"p"}) {
			t.Errorf("by %s: %v", tag, ids)
		}
	}
	// overwrite=false on a taken id: the refused tags leave no marker.
	body := []byte("x")
	c := newAsset("p", body)
	c.Tags = []string{"refused", "two"}
	if _, err := r.Save(ctx, c, bytes.NewReader(body), false); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if exists(t, r, TagKey("demo", "image", "refused", "upload", "p")) || !exists(t, r, TagKey("demo", "image", "two", "upload", "p")) {
		t.Error("a refused upload changed the index")
	}
	bad := newAsset("q", body)
	bad.Tags = []string{strings.Repeat("x", MaxTagLength+1)}
	if _, err := r.Save(ctx, bad, bytes.NewReader(body), true); !errors.Is(err, ErrInvalidTag) {
		t.Errorf("an overlong tag: %v", err)
	}
}

// The index is a superset: a marker left by a crashed add (written, then
// no metadata commit) does not make the asset list under that tag, nor
// the tag appear in the tags list.
func TestTagIndexSupersetSemantics(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	save(t, r, "real", "shared")
	save(t, r, "other")
	for _, k := range []string{
		TagKey("demo", "image", "ghost", "upload", "real"),   // crashed add of a new tag
		TagKey("demo", "image", "shared", "upload", "other"), // crashed add of an existing tag
		TagKey("demo", "image", "shared", "upload", "gone"),  // asset deleted, marker left
	} {
		if _, err := r.Store.Put(ctx, k, strings.NewReader(""), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if ids := byTag(t, r, "ghost"); len(ids) != 0 {
		t.Errorf("a stale marker listed: %v", ids)
	}
	if ids := byTag(t, r, "shared"); !slices.Equal(ids, []string{"real"}) {
		t.Errorf("by shared: %v", ids)
	}
	tags, _, err := r.Tags(ctx, "demo", "image", "", "", 10)
	if err != nil || !slices.Equal(tags, []string{"shared"}) {
		t.Errorf("Tags: %v %v", tags, err)
	}
	// Paging by tag skips stale markers without losing live ones.
	for i := 0; i < 5; i++ {
		save(t, r, fmt.Sprintf("s%d", i), "shared")
		r.Store.Put(ctx, TagKey("demo", "image", "shared", "upload", fmt.Sprintf("s%d-stale", i)), strings.NewReader(""), store.PutOptions{})
	}
	var all []string
	cursor := ""
	for page := 0; page < 20; page++ {
		as, next, err := r.List(ctx, Query{Cloud: "demo", ResourceType: "image", Tag: "shared", Max: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			all = append(all, a.PublicID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{"real", "s0", "s1", "s2", "s3", "s4"}; !slices.Equal(all, want) {
		t.Errorf("paged by tag: %v, want %v", all, want)
	}
}

func TestTagsListing(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	var want []string
	for i := 0; i < 23; i++ {
		tag := fmt.Sprintf("tag%02d", i)
		want = append(want, tag)
		save(t, r, fmt.Sprintf("a%d", i), tag, "common")
		save(t, r, fmt.Sprintf("b%d", i), tag)
	}
	want = append([]string{"common"}, want...)
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		tags, next, err := r.Tags(ctx, "demo", "image", "", cursor, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) > 5 {
			t.Fatalf("page of %d", len(tags))
		}
		got = append(got, tags...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("tags paged: %v\nwant %v", got, want)
	}
	tags, _, err := r.Tags(ctx, "demo", "image", "tag1", "", 100)
	if err != nil || len(tags) != 10 || tags[0] != "tag10" {
		t.Errorf("prefix tag1: %v %v", tags, err)
	}
	if _, _, err := r.Tags(ctx, "demo", "image", "", "!!", 5); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	if tags, _, _ := r.Tags(ctx, "demo", "raw", "", "", 5); len(tags) != 0 {
		t.Errorf("another resource type's tags: %v", tags)
	}
}

// Tags with characters that are special in keys round-trip, and a
// prefix search still works on them.
func TestTagEscaping(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	odd := []string{"a/b", "..", "50%", "x.y", "with space", "ünï"}
	save(t, r, "odd", odd...)
	tags, _, err := r.Tags(ctx, "demo", "image", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range odd {
		if !slices.Contains(tags, tag) {
			t.Errorf("tag %q lost: %q", tag, tags)
		}
		if ids := byTag(t, r, tag); !slices.Equal(ids, []string{"odd"}) {
			t.Errorf("by %q: %v", tag, ids)
		}
		if u, ok := unescapeTag(escapeTag(tag)); !ok || u != tag {
			t.Errorf("escape round trip of %q: %q", tag, u)
		}
	}
	if tags, _, _ := r.Tags(ctx, "demo", "image", "a/", "", 100); !slices.Equal(tags, []string{"a/b"}) {
		t.Errorf("prefix a/: %q", tags)
	}
}

func TestDerivedIndex(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a := save(t, r, "d")
	for i, tx := range []string{"c_scale,w_100", "e_blur", "w_300"} {
		name := fmt.Sprintf("n%d.webp", i)
		if err := r.PutDerived(ctx, a, name, tx, "webp", []byte(strings.Repeat("x", i+1)), "image/webp"); err != nil {
			t.Fatal(err)
		}
	}
	// Another node got there first: not an error, the first bytes stay.
	if err := r.PutDerived(ctx, a, "n0.webp", "c_scale,w_100", "webp", []byte("other"), "image/webp"); err != nil {
		t.Errorf("a second PutDerived: %v", err)
	}
	// A derivative stored without the index (as derive did before) still lists.
	r.Store.Put(ctx, DerivedKey("demo", a.VersionID, "raw.png"), strings.NewReader("png"), store.PutOptions{})
	ds, err := r.Derived(ctx, a, 0)
	if err != nil || len(ds) != 4 {
		t.Fatalf("Derived: %+v %v", ds, err)
	}
	if d := ds[0]; d.Transformation != "c_scale,w_100" || d.Format != "webp" || d.Bytes != 1 || d.ID != a.VersionID+"-n0.webp" {
		t.Errorf("first: %+v", d)
	}
	if d := ds[3]; d.Name != "raw.png" || d.Transformation != "" || d.Format != "png" {
		t.Errorf("unindexed: %+v", d)
	}
	res, err := r.DeleteDerived(ctx, "demo", ds[1].ID, "nonsense", a.VersionID+"-missing.jpg", "zz-../x")
	if err != nil || !res[ds[1].ID] || res["nonsense"] || res[a.VersionID+"-missing.jpg"] || res["zz-../x"] {
		t.Errorf("DeleteDerived: %v %v", res, err)
	}
	if exists(t, r, DerivedInfoKey("demo", a.VersionID, ds[1].Name)) {
		t.Error("the index entry survived its derivative")
	}
	n, err := r.DeleteDerivedOf(ctx, a, func(d Derived) bool { return d.Transformation == "w_300" })
	if err != nil || n != 1 {
		t.Errorf("DeleteDerivedOf(w_300): %d %v", n, err)
	}
	// An overwrite purges the old version's index too.
	save(t, r, "d")
	if objs, _ := r.Store.List(ctx, "derivedinfo/", "", 0); len(objs) != 0 {
		t.Errorf("index entries of a replaced version: %v", objs)
	}
}

func TestStats(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a := save(t, r, "s1")
	save(t, r, "s2")
	r.PutDerived(ctx, a, "x.jpg", "w_1", "jpg", []byte("12345"), "image/jpeg")
	st, err := r.Stats(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Assets: 2, OriginalBytes: int64(len("body of s1") * 2), Derived: 1, DerivedBytes: 5}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if st, _ := r.Stats(ctx, "empty"); st != (Stats{}) {
		t.Errorf("an empty cloud: %+v", st)
	}
}

// Writers adding and removing one tag race; whenever the metadata ends
// with the tag, its marker exists (the index stays a superset).
func TestTagIndexSurvivesAddRemoveRaces(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	save(t, r, "flip")
	for round := 0; round < 10; round++ {
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func(add bool) {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					// localfs can fail a Put whose directory a concurrent
					// Delete prunes (a store issue, reported); a failed
					// Update commits nothing, so a retry is what a client does.
					var err error
					for try := 0; try < 5; try++ {
						if _, err = r.Update(ctx, "demo", "image", "upload", "flip", func(a *Asset) error {
							if add {
								a.Tags = append(a.Tags, "x")
							} else {
								a.Tags = slices.DeleteFunc(a.Tags, func(s string) bool { return s == "x" })
							}
							return nil
						}); err == nil {
							break
						}
					}
					if err != nil {
						t.Error(err)
					}
				}
			}(i%2 == 0)
		}
		wg.Wait()
		a, _, _ := r.Get(ctx, "demo", "image", "upload", "flip")
		if slices.Contains(a.Tags, "x") && !exists(t, r, TagKey("demo", "image", "x", "upload", "flip")) {
			t.Fatalf("round %d: the asset has x but its marker is gone", round)
		}
	}
}

// hookStore runs a function once before the first Delete or Put of a
// key, to force an interleaving of two writers.
type hookStore struct {
	store.Store
	mu       sync.Mutex
	onDelete map[string]func()
	onPut    map[string]func()
}

func take(mu *sync.Mutex, m map[string]func(), key string) func() {
	mu.Lock()
	defer mu.Unlock()
	f := m[key]
	delete(m, key)
	return f
}

func (h *hookStore) Delete(ctx context.Context, key string) error {
	if f := take(&h.mu, h.onDelete, key); f != nil {
		f()
	}
	return h.Store.Delete(ctx, key)
}

func (h *hookStore) Put(ctx context.Context, key string, r io.Reader, o store.PutOptions) (store.Object, error) {
	if f := take(&h.mu, h.onPut, key); f != nil {
		f()
	}
	return h.Store.Put(ctx, key, r, o)
}

func hooked(t *testing.T) (*Repo, *hookStore) {
	base := newRepo(t)
	hs := &hookStore{Store: base.Store, onDelete: map[string]func(){}, onPut: map[string]func(){}}
	return &Repo{Store: hs}, hs
}

func setTag(r *Repo, on bool) error {
	_, err := r.Update(context.Background(), "demo", "image", "upload", "s", func(a *Asset) error {
		a.Tags = slices.DeleteFunc(a.Tags, func(s string) bool { return s == "x" })
		if on {
			a.Tags = append(a.Tags, "x")
		}
		return nil
	})
	return err
}

// A remover's marker delete lands after an adder committed the tag
// back: the remover's re-read restores the marker.
func TestTagRemoverRestoresARecommittedMarker(t *testing.T) {
	r, hs := hooked(t)
	save(t, r, "s", "x")
	marker := TagKey("demo", "image", "x", "upload", "s")
	hs.onDelete[marker] = func() {
		if err := setTag(r, true); err != nil { // the adder runs start to end
			t.Error(err)
		}
	}
	if err := setTag(r, false); err != nil {
		t.Fatal(err)
	}
	a, _, _ := r.Get(context.Background(), "demo", "image", "upload", "s")
	if !slices.Contains(a.Tags, "x") || !exists(t, r, marker) {
		t.Errorf("tags %v, marker present %v: the index lost a committed tag", a.Tags, exists(t, r, marker))
	}
}

// An adder writes its marker, a remover deletes it and re-reads before
// the adder commits: the adder's check after its commit restores it.
func TestTagAdderRestoresADeletedMarker(t *testing.T) {
	r, hs := hooked(t)
	save(t, r, "s", "x")
	marker := TagKey("demo", "image", "x", "upload", "s")
	atCommit, release, adderDone := make(chan struct{}), make(chan struct{}), make(chan error)
	hs.onDelete[marker] = func() {
		hs.mu.Lock()
		hs.onPut[MetaKey("demo", "image", "upload", "s")] = func() { close(atCommit); <-release }
		hs.mu.Unlock()
		go func() { adderDone <- setTag(r, true) }()
		<-atCommit // the adder has read, written its marker and waits to commit
	}
	if err := setTag(r, false); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-adderDone; err != nil {
		t.Fatal(err)
	}
	a, _, _ := r.Get(context.Background(), "demo", "image", "upload", "s")
	if !slices.Contains(a.Tags, "x") || !exists(t, r, marker) {
		t.Errorf("tags %v, marker present %v: the index lost a committed tag", a.Tags, exists(t, r, marker))
	}
}
