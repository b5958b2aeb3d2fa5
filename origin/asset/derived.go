package asset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/refract-cdn/refract/origin/store"
)

// Derived describes one stored derivative of an asset's current version.
type Derived struct {
	ID             string // DerivedID: version_id and name, for DeleteDerived
	Name           string // the storage name within the version
	Transformation string // canonical text; "" when stored without PutDerived
	Format         string // extension of the derivative
	Bytes          int64
	Key            string // where the bytes are
}

// derivedInfo is the index entry PutDerived writes next to the bytes:
// names are hashes, so this is the only record of what a derivative is.
type derivedInfo struct {
	Transformation string    `json:"transformation"`
	Format         string    `json:"format"`
	CreatedAt      time.Time `json:"created_at"`
}

func derivedInfoPrefix(cloud, versionID string) string {
	return "derivedinfo/" + cloud + "/" + versionID + "/"
}

// DerivedInfoKey is where the index entry of one derivative lives.
func DerivedInfoKey(cloud, versionID, name string) string {
	return derivedInfoPrefix(cloud, versionID) + name
}

// DerivedID names a derivative across a cloud: "<version_id>-<name>".
// Version ids are hex, so the first "-" splits it.
func DerivedID(versionID, name string) string { return versionID + "-" + name }

func parseDerivedID(id string) (versionID, name string, ok bool) {
	versionID, name, ok = strings.Cut(id, "-")
	if !ok || versionID == "" || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return "", "", false
	}
	for i := 0; i < len(versionID); i++ {
		if c := versionID[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", "", false
		}
	}
	return versionID, name, true
}

// PutDerived stores a derivative of a's version and records what it is:
// its canonical transformation and format (the extension). Both writes
// are create-only, and an existing derivative is not an error: another
// node rendered the same bytes. The index entry goes first, so a stored
// derivative always has one unless it was written without PutDerived.
func (r *Repo) PutDerived(ctx context.Context, a *Asset, name, transformation, f string, body []byte, contentType string) error {
	info, _ := json.Marshal(derivedInfo{Transformation: transformation, Format: f, CreatedAt: time.Now().UTC()})
	_, err := r.Store.Put(ctx, DerivedInfoKey(a.Cloud, a.VersionID, name), bytes.NewReader(info),
		store.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err != nil && !errors.Is(err, store.ErrPrecondition) {
		return err
	}
	_, err = r.Store.Put(ctx, DerivedKey(a.Cloud, a.VersionID, name), bytes.NewReader(body),
		store.PutOptions{IfNoneMatch: true, ContentType: contentType})
	if err != nil && !errors.Is(err, store.ErrPrecondition) {
		return err
	}
	return nil
}

// Derived lists up to max (DefaultMax when 0, at most MaxResults) stored
// derivatives of a's version in name order.
func (r *Repo) Derived(ctx context.Context, a *Asset, max int) ([]Derived, error) {
	return r.derivedPage(ctx, a, "", clampMax(max), true)
}

// derivedPage lists derivatives after a key; withInfo reads what each is.
func (r *Repo) derivedPage(ctx context.Context, a *Asset, after string, max int, withInfo bool) ([]Derived, error) {
	prefix := DerivedPrefix(a.Cloud, a.VersionID)
	objs, err := r.Store.List(ctx, prefix, after, max)
	if err != nil {
		return nil, err
	}
	out := make([]Derived, len(objs))
	for i, o := range objs {
		name := o.Key[len(prefix):]
		out[i] = Derived{ID: DerivedID(a.VersionID, name), Name: name, Bytes: o.Size, Key: o.Key,
			Format: strings.TrimPrefix(path.Ext(name), ".")}
	}
	if !withInfo {
		return out, nil
	}
	err = ForEach(ctx, len(out), func(i int) error {
		b, _, err := store.ReadAll(ctx, r.Store, DerivedInfoKey(a.Cloud, a.VersionID, out[i].Name), 64<<10)
		var info derivedInfo
		switch {
		case err == nil && json.Unmarshal(b, &info) == nil:
			out[i].Transformation = info.Transformation
			if info.Format != "" {
				out[i].Format = info.Format
			}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	return out, err
}

// DeleteDerived deletes derivatives by DerivedID and reports, for each
// id, whether it existed. Malformed ids are reported as absent.
func (r *Repo) DeleteDerived(ctx context.Context, cloud string, ids ...string) (map[string]bool, error) {
	found := make([]bool, len(ids))
	err := ForEach(ctx, len(ids), func(i int) error {
		vid, name, ok := parseDerivedID(ids[i])
		if !ok {
			return nil
		}
		key := DerivedKey(cloud, vid, name)
		if _, err := r.Store.Stat(ctx, key); err != nil {
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidKey) {
				return nil
			}
			return err
		}
		found[i] = true
		if err := r.Store.Delete(ctx, key); err != nil {
			return err
		}
		return r.Store.Delete(ctx, DerivedInfoKey(cloud, vid, name))
	})
	out := make(map[string]bool, len(ids))
	for i, id := range ids {
		out[id] = out[id] || found[i]
	}
	return out, err
}

// DeleteDerivedOf deletes the derivatives of a's version that match
// (all of them when match is nil) and returns how many went.
func (r *Repo) DeleteDerivedOf(ctx context.Context, a *Asset, match func(Derived) bool) (int, error) {
	const page = 1000
	n := 0
	for after := ""; ; {
		ds, err := r.derivedPage(ctx, a, after, page, match != nil)
		if err != nil || len(ds) == 0 {
			return n, err
		}
		after = ds[len(ds)-1].Key
		var ids []string
		for _, d := range ds {
			if match == nil || match(d) {
				ids = append(ids, d.ID)
			}
		}
		if _, err := r.DeleteDerived(ctx, a.Cloud, ids...); err != nil {
			return n, err
		}
		n += len(ids)
		if len(ds) < page {
			return n, nil
		}
	}
}
