package asset

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
)

func newRepo(t *testing.T) *Repo {
	s, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{Store: s}
}

func newAsset(id string, body []byte) *Asset {
	sum := md5.Sum(body)
	return &Asset{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: id,
		Version: 100, Format: "jpg", Bytes: int64(len(body)), ETag: hex.EncodeToString(sum[:])}
}

func TestSaveAndGet(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	a := newAsset("folder/x", []byte("one"))
	if prev, err := r.Save(ctx, a, bytes.NewReader([]byte("one")), true); err != nil || prev != nil {
		t.Fatalf("Save: %v %v", prev, err)
	}
	got, _, err := r.Get(ctx, "demo", "image", "upload", "folder/x")
	if err != nil || got.VersionID != a.VersionID || got.AssetID == "" {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if _, _, err := r.Get(ctx, "demo", "image", "upload", "folder"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a folder is not an asset: %v", err)
	}
	// A public_id may also be a folder of another.
	if _, err := r.Save(ctx, newAsset("folder", []byte("f")), bytes.NewReader([]byte("f")), true); err != nil {
		t.Fatalf("an id that is also a folder: %v", err)
	}

	// Overwrite: a new version, strictly later, and the old bytes are gone.
	r.Store.Put(ctx, DerivedKey("demo", a.VersionID, "d1.jpg"), strings.NewReader("derived"), store.PutOptions{})
	b := newAsset("folder/x", []byte("two"))
	prev, err := r.Save(ctx, b, bytes.NewReader([]byte("two")), true)
	if err != nil || prev == nil || prev.VersionID != a.VersionID {
		t.Fatalf("overwrite: %+v %v", prev, err)
	}
	if b.Version != 101 || b.AssetID != got.AssetID {
		t.Errorf("overwrite gave version %d asset %s; want 101 and the same asset id", b.Version, b.AssetID)
	}
	for _, k := range []string{a.OriginalKey, DerivedKey("demo", a.VersionID, "d1.jpg")} {
		if _, err := r.Store.Stat(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced version's %s survived", k)
		}
	}
	// overwrite=false keeps the asset and leaves no stray original.
	c := newAsset("folder/x", []byte("three"))
	if _, err := r.Save(ctx, c, bytes.NewReader([]byte("three")), false); !errors.Is(err, ErrExists) {
		t.Errorf("overwrite=false: %v", err)
	}
	if _, err := r.Store.Stat(ctx, c.OriginalKey); !errors.Is(err, store.ErrNotFound) {
		t.Error("a refused upload left its original behind")
	}
}

// Many writers on one public_id: the final metadata names one whole
// version whose original exists and matches it, and no other original
// is left.
func TestConcurrentSavesLeaveOneWholeVersion(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := []byte(fmt.Sprintf("version-%d", i))
			if _, err := r.Save(ctx, newAsset("hot", body), bytes.NewReader(body), true); err != nil && !errors.Is(err, ErrConflict) {
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	a, _, err := r.Get(ctx, "demo", "image", "upload", "hot")
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := store.ReadAll(ctx, r.Store, a.OriginalKey, 1<<20)
	if err != nil {
		t.Fatalf("the winning version's original is missing: %v", err)
	}
	if sum := md5.Sum(body); hex.EncodeToString(sum[:]) != a.ETag {
		t.Errorf("metadata and original disagree: %q vs etag %s", body, a.ETag)
	}
	origs, _ := r.Store.List(ctx, "originals/", "", 0)
	if len(origs) != 1 || origs[0].Key != a.OriginalKey {
		t.Errorf("originals left: %+v", origs)
	}
}
