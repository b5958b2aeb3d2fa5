package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api"
	cldadmin "github.com/cloudinary/cloudinary-go/v2/api/admin"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/named"
	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/origin/store/localfs"
	"github.com/refract-cdn/refract/origin/usage"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
)

var (
	demo  = cloud.Cloud{Name: "demo", APIKey: "111111", APISecret: "demo-secret"}
	other = cloud.Cloud{Name: "other", APIKey: "222222", APISecret: "other-secret"}
)

type env struct {
	srv    *httptest.Server
	repo   *asset.Repo
	cld    *cloudinary.Cloudinary
	rec    *usage.Recorder
	mu     sync.Mutex
	purges []bus.Purge
}

func (e *env) purged() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for _, p := range e.purges {
		ids = append(ids, p.PublicID)
	}
	return ids
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	st, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{repo: &asset.Repo{Store: st}}
	if e.rec, err = usage.NewRecorder(st, "node-1"); err != nil {
		t.Fatal(err)
	}
	b := bus.NewLocal()
	b.Subscribe(func(p bus.Purge) { e.mu.Lock(); e.purges = append(e.purges, p); e.mu.Unlock() })
	cfg := Config{
		Clouds: cloud.NewRegistry(demo, other), Assets: e.repo,
		Presets: &preset.Repo{Store: st}, Named: named.NewRegistry(st, nil),
		Usage: &usage.Reporter{Assets: e.repo, Recorder: e.rec}, Bus: b,
		DeliveryURL: "http://img.test", SecureDeliveryURL: "https://img.test",
	}
	if mod != nil {
		mod(&cfg)
	}
	mux := http.NewServeMux()
	New(cfg).Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.cld = e.sdk(t, demo)
	return e
}

// sdk is the official SDK pointed at the test server as c.
func (e *env) sdk(t *testing.T, c cloud.Cloud) *cloudinary.Cloudinary {
	cld, err := cloudinary.NewFromParams(c.Name, c.APIKey, c.APISecret)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK copies its configuration into each API: point all at the
	// test server, so nothing ever leaves loopback.
	cld.Config.API.UploadPrefix = e.srv.URL
	cld.Admin.Config.API.UploadPrefix = e.srv.URL
	cld.Upload.Config.API.UploadPrefix = e.srv.URL
	return cld
}

// seed saves an asset directly through the repository.
func (e *env) seed(t *testing.T, typ, id string, tags ...string) *asset.Asset {
	t.Helper()
	body := []byte("original " + id)
	a := &asset.Asset{Cloud: "demo", ResourceType: "image", Type: typ, PublicID: id, Format: "jpg",
		Width: 40, Height: 30, Bytes: int64(len(body)), Version: 1700000000, Tags: tags,
		CreatedAt: time.Unix(1700000000, 0).UTC()}
	if _, err := e.repo.Save(context.Background(), a, bytes.NewReader(body), true); err != nil {
		t.Fatal(err)
	}
	return a
}

// raw sends a request with basic auth as c and returns status, headers
// and the decoded body.
func (e *env) raw(t *testing.T, c cloud.Cloud, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/v1_1/demo/"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.SetBasicAuth(c.APIKey, c.APISecret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: not JSON (%d): %q", method, path, res.StatusCode, b)
	}
	return res.StatusCode, res.Header, m
}

func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// 1,200 assets listed through the SDK 500 at a time with next_cursor:
// each exactly once.
func TestListPagingWithSDK(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < 1200; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			body := []byte{byte(i)}
			a := &asset.Asset{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: fmt.Sprintf("bulk/%04d", i),
				Format: "png", Bytes: 1, Version: 1700000000, Tags: []string{fmt.Sprintf("g%d", i%4)}}
			if _, err := e.repo.Save(ctx, a, bytes.NewReader(body), true); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	e.seed(t, "private", "secret/one")

	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		res, err := e.cld.Admin.Assets(ctx, cldadmin.AssetsParams{DeliveryType: "upload", MaxResults: 500, NextCursor: cursor, Tags: api.Bool(true)})
		if err != nil || res.Error.Message != "" {
			t.Fatalf("page %d: %v %q", pages, err, res.Error.Message)
		}
		pages++
		for _, a := range res.Assets {
			if seen[a.PublicID] {
				t.Fatalf("%s listed twice", a.PublicID)
			}
			seen[a.PublicID] = true
			if len(a.Tags) != 1 || a.Type != "upload" || a.AssetType != "image" || a.Format != "png" {
				t.Fatalf("listed %+v", a)
			}
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 1200 || pages != 3 {
		t.Errorf("listed %d assets in %d pages", len(seen), pages)
	}
	for i := 0; i < 1200; i++ {
		if id := fmt.Sprintf("bulk/%04d", i); !seen[id] {
			t.Fatalf("%s missing", id)
		}
	}

	// Without a type every type lists; the default page is 10 and tags
	// only come when asked for.
	res, err := e.cld.Admin.Assets(ctx, cldadmin.AssetsParams{Prefix: "secret/"})
	if err != nil || len(res.Assets) != 1 || res.Assets[0].Type != "private" || res.Assets[0].Tags != nil {
		t.Errorf("all types, prefix: %+v %v", res, err)
	}
	res, err = e.cld.Admin.Assets(ctx, cldadmin.AssetsParams{DeliveryType: "upload"})
	if err != nil || len(res.Assets) != 10 || res.NextCursor == "" {
		t.Errorf("default page: %d %q %v", len(res.Assets), res.NextCursor, err)
	}

	// By tag, paged.
	n := 0
	cursor = ""
	for {
		res, err := e.cld.Admin.AssetsByTag(ctx, cldadmin.AssetsByTagParams{Tag: "g1", MaxResults: 100, NextCursor: cursor})
		if err != nil || res.Error.Message != "" {
			t.Fatal(err, res.Error.Message)
		}
		n += len(res.Assets)
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	if n != 300 {
		t.Errorf("by tag g1: %d assets, want 300", n)
	}

	// By public_ids: the SDK joins them with ",".
	byIDs, err := e.cld.Admin.AssetsByIDs(ctx, cldadmin.AssetsByIDsParams{PublicIDs: []string{"bulk/0007", "bulk/0100", "nope"}})
	if err != nil || len(byIDs.Assets) != 2 || byIDs.Assets[0].PublicID != "bulk/0007" {
		t.Errorf("by ids: %+v %v", byIDs, err)
	}
}

func TestGetAssetWithDerived(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.seed(t, "upload", "folder/pic", "red", "blue")
	e.repo.Update(ctx, "demo", "image", "upload", "folder/pic", func(a *asset.Asset) error {
		a.Context = map[string]string{"alt": "A picture"}
		return nil
	})
	e.repo.PutDerived(ctx, a, "h1.webp", "c_scale,w_100", "webp", []byte("12345"), "image/webp")
	e.repo.PutDerived(ctx, a, "h2.png", "e_blur:100", "png", []byte("123"), "image/png")

	res, err := e.cld.Admin.Asset(ctx, cldadmin.AssetParams{PublicID: "folder/pic"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("Asset: %v %q", err, res.Error.Message)
	}
	if res.PublicID != "folder/pic" || res.AssetID != a.AssetID || res.Version != 1700000000 || res.Width != 40 ||
		res.Format != "jpg" || res.Etag != a.ETag || !slices.Equal(res.Tags, []string{"red", "blue"}) ||
		res.Context.Custom["alt"] != "A picture" || res.AssetFolder != "folder" || !res.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("asset: %+v", res)
	}
	if want := "http://img.test/demo/image/upload/v1700000000/folder/pic.jpg"; res.URL != want || !strings.HasPrefix(res.SecureURL, "https://img.test/") {
		t.Errorf("url %q, want %q", res.URL, want)
	}
	if len(res.Derived) != 2 {
		t.Fatalf("derived: %+v", res.Derived)
	}
	d := res.Derived[0].(map[string]any)
	if d["transformation"] != "c_scale,w_100" || d["format"] != "webp" || d["bytes"] != 5.0 || d["id"] != a.VersionID+"-h1.webp" ||
		d["url"] != "http://img.test/demo/image/upload/c_scale,w_100/v1700000000/folder/pic.webp" || d["secure_url"] == "" {
		t.Errorf("derived[0]: %v", d)
	}

	missing, err := e.cld.Admin.Asset(ctx, cldadmin.AssetParams{PublicID: "folder/none"})
	if err != nil || missing.Error.Message != "Resource not found - folder/none" {
		t.Errorf("missing asset: %q %v", missing.Error.Message, err)
	}

	// Delete one derivative by its id, then those of one transformation.
	del, err := e.cld.Admin.DeleteDerivedAssets(ctx, cldadmin.DeleteDerivedAssetsParams{DerivedAssetIDs: []string{d["id"].(string), "bogus"}})
	if err != nil || del.Deleted[d["id"].(string)] != "deleted" || del.Deleted["bogus"] != "not_found" {
		t.Errorf("DeleteDerivedAssets: %+v %v", del, err)
	}
	del, err = e.cld.Admin.DeleteDerivedAssetsByTransformation(ctx, cldadmin.DeleteDerivedAssetsByTransformationParams{
		PublicIDs: []string{"folder/pic"}, Transformations: "e_blur"})
	if err != nil || del.Deleted["folder/pic"] != "deleted" {
		t.Errorf("by transformation: %+v %v", del, err)
	}
	if ds, _ := e.repo.Derived(ctx, a, 0); len(ds) != 0 {
		t.Errorf("derivatives left: %+v", ds)
	}
}

func TestDeletes(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, id := range []string{"a/1", "a/2", "b/1", "b/2", "c"} {
		a := e.seed(t, "upload", id, "t")
		e.repo.PutDerived(ctx, a, "x.jpg", "w_10", "jpg", []byte("x"), "image/jpeg")
	}
	res, err := e.cld.Admin.DeleteAssets(ctx, cldadmin.DeleteAssetsParams{PublicIDs: []string{"a/1", "missing"}, Invalidate: api.Bool(true)})
	if err != nil || res.Deleted["a/1"] != "deleted" || res.Deleted["missing"] != "not_found" || res.Partial {
		t.Fatalf("DeleteAssets: %+v %v", res, err)
	}
	if got := e.purged(); !slices.Equal(got, []string{"a/1"}) {
		t.Errorf("purges: %v", got)
	}
	if _, _, err := e.repo.Get(ctx, "demo", "image", "upload", "a/1"); err != asset.ErrNotFound {
		t.Errorf("a/1 survived: %v", err)
	}

	res, err = e.cld.Admin.DeleteAssetsByPrefix(ctx, cldadmin.DeleteAssetsByPrefixParams{Prefix: []string{"b/"}})
	if err != nil || len(res.Deleted) != 2 || res.Deleted["b/1"] != "deleted" {
		t.Fatalf("by prefix: %+v %v", res, err)
	}

	// keep_original: every asset stays, derivatives go.
	res, err = e.cld.Admin.DeleteAllAssets(ctx, cldadmin.DeleteAllAssetsParams{KeepOriginal: api.Bool(true)})
	if err != nil || len(res.Deleted) != 2 {
		t.Fatalf("all, keep_original: %+v %v", res, err)
	}
	for _, id := range []string{"a/2", "c"} {
		a, _, err := e.repo.Get(ctx, "demo", "image", "upload", id)
		if err != nil {
			t.Fatalf("keep_original deleted %s: %v", id, err)
		}
		if ds, _ := e.repo.Derived(ctx, a, 0); len(ds) != 0 {
			t.Errorf("%s keeps derivatives %v", id, ds)
		}
	}
	res, err = e.cld.Admin.DeleteAllAssets(ctx, cldadmin.DeleteAllAssetsParams{})
	if err != nil || len(res.Deleted) != 2 {
		t.Fatalf("all: %+v %v", res, err)
	}
	if list, _ := e.cld.Admin.Assets(ctx, cldadmin.AssetsParams{}); len(list.Assets) != 0 {
		t.Errorf("assets left: %+v", list.Assets)
	}
	if tags, _ := e.cld.Admin.Tags(ctx, cldadmin.TagsParams{}); len(tags.Tags) != 0 {
		t.Errorf("tags left: %v", tags.Tags)
	}
	if objs, _ := e.repo.Store.List(ctx, "originals/", "", 0); len(objs) != 0 {
		t.Errorf("originals left: %v", objs)
	}

	// Nothing to select is a 400, not a delete of everything.
	status, hdr, body := e.raw(t, demo, "DELETE", "resources/image/upload", `{"keep_original": true}`)
	if status != 400 || hdr.Get("X-Cld-Error") == "" || errMessage(body) == "" {
		t.Errorf("delete without a selection: %d %v", status, body)
	}
}

// More than 1,000 assets under a prefix: a partial answer with a cursor,
// then the rest.
func TestDeleteManyIsPartial(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	err := asset.ForEach(ctx, 1003, func(i int) error {
		body := []byte{1}
		a := &asset.Asset{Cloud: "demo", ResourceType: "image", Type: "upload", PublicID: fmt.Sprintf("p/%04d", i), Bytes: 1}
		_, err := e.repo.Save(ctx, a, bytes.NewReader(body), true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.cld.Admin.DeleteAssetsByPrefix(ctx, cldadmin.DeleteAssetsByPrefixParams{Prefix: []string{"p/"}})
	if err != nil || len(res.Deleted) != 1000 || !res.Partial || res.NextCursor == "" {
		t.Fatalf("first call: %d deleted, partial %v, cursor %q, %v", len(res.Deleted), res.Partial, res.NextCursor, err)
	}
	res, err = e.cld.Admin.DeleteAssetsByPrefix(ctx, cldadmin.DeleteAssetsByPrefixParams{Prefix: []string{"p/"}, NextCursor: res.NextCursor})
	if err != nil || len(res.Deleted) != 3 || res.Partial {
		t.Fatalf("second call: %+v %v", res, err)
	}
}

func TestTagsWithSDK(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	var want []string
	for i := 0; i < 12; i++ {
		tag := fmt.Sprintf("tag%02d", i)
		want = append(want, tag)
		e.seed(t, "upload", fmt.Sprintf("x%d", i), tag, "zz")
	}
	want = append(want, "zz")
	var got []string
	cursor := ""
	for page := 0; page < 10; page++ {
		res, err := e.cld.Admin.Tags(ctx, cldadmin.TagsParams{MaxResults: 5, NextCursor: cursor})
		if err != nil || res.Error.Message != "" {
			t.Fatal(err, res.Error.Message)
		}
		got = append(got, res.Tags...)
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	res, err := e.cld.Admin.Tags(ctx, cldadmin.TagsParams{Prefix: "tag1"})
	if err != nil || !slices.Equal(res.Tags, []string{"tag10", "tag11"}) {
		t.Errorf("prefix: %v %v", res.Tags, err)
	}
	raw, err := e.cld.Admin.Tags(ctx, cldadmin.TagsParams{AssetType: "raw"})
	if err != nil || len(raw.Tags) != 0 {
		t.Errorf("raw tags: %v %v", raw.Tags, err)
	}
}

func TestTransformationsCRUD(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	adm := e.cld.Admin
	cr, err := adm.CreateTransformation(ctx, cldadmin.CreateTransformationParams{Name: "thumb", Transformation: "w_100,c_fill,h_100"})
	if err != nil || cr.Message != "created" {
		t.Fatalf("create: %+v %v", cr, err)
	}
	dup, _ := adm.CreateTransformation(ctx, cldadmin.CreateTransformationParams{Name: "thumb", Transformation: "w_1"})
	if !strings.Contains(dup.Error.Message, "already exists") {
		t.Errorf("duplicate: %+v", dup)
	}
	self, _ := adm.CreateTransformation(ctx, cldadmin.CreateTransformationParams{Name: "loop", Transformation: "w_1/t_loop"})
	if !strings.Contains(self.Error.Message, "refers to itself") {
		t.Errorf("self reference: %+v", self)
	}
	bad, _ := adm.CreateTransformation(ctx, cldadmin.CreateTransformationParams{Name: "bad", Transformation: "w_abc"})
	if bad.Error.Message == "" {
		t.Error("an invalid definition was accepted")
	}

	list, err := adm.ListTransformations(ctx, cldadmin.ListTransformationsParams{})
	if err != nil || len(list.Transformations) != 1 || list.Transformations[0].Name != "t_thumb" || !list.Transformations[0].Named {
		t.Fatalf("list: %+v %v", list, err)
	}
	// The SDK's own flow: get by the listed name.
	got, err := adm.GetTransformation(ctx, cldadmin.GetTransformationParams{Transformation: list.Transformations[0].Name})
	if err != nil || got.Name != "t_thumb" || len(got.Info) != 1 || got.Info[0]["width"] != 100.0 || got.Info[0]["crop"] != "fill" {
		t.Errorf("get: %+v %v", got, err)
	}
	up, err := adm.UpdateTransformation(ctx, cldadmin.UpdateTransformationParams{Transformation: "thumb", UnsafeUpdate: "w_200", AllowedForStrict: api.Bool(true)})
	if err != nil || up.Message != "updated" {
		t.Fatalf("update: %+v %v", up, err)
	}
	got, _ = adm.GetTransformation(ctx, cldadmin.GetTransformationParams{Transformation: "thumb"})
	if !got.AllowedForStrict || got.Info[0]["width"] != 200.0 {
		t.Errorf("after update: %+v", got)
	}
	del, err := adm.DeleteTransformation(ctx, cldadmin.DeleteTransformationParams{Transformation: "thumb"})
	if err != nil || del.Message != "deleted" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	gone, _ := adm.GetTransformation(ctx, cldadmin.GetTransformationParams{Transformation: "thumb"})
	if gone.Error.Message != "Transformation thumb not found" {
		t.Errorf("after delete: %+v", gone)
	}
	// The path form other clients use.
	e.raw(t, demo, "POST", "transformations", `{"name":"p","transformation":"e_grayscale"}`)
	if status, _, body := e.raw(t, demo, "GET", "transformations/p", ""); status != 200 || body["name"] != "t_p" {
		t.Errorf("path form: %d %v", status, body)
	}
	if status, _, _ := e.raw(t, demo, "DELETE", "transformations/t_p", ""); status != 200 {
		t.Errorf("delete by t_ name: %d", status)
	}
}

func TestUploadPresetsCRUD(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	adm := e.cld.Admin
	cr, err := adm.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{
		Name: "avatars", Unsigned: api.Bool(true),
		UploadParams: uploader.UploadParams{Folder: "avatars", Tags: api.CldAPIArray{"a", "b"}, Overwrite: api.Bool(false), Transformation: "c_fill,w_200,h_200"},
	})
	if err != nil || cr.Message != "created" || cr.Name != "avatars" {
		t.Fatalf("create: %+v %v", cr, err)
	}
	got, err := adm.GetUploadPreset(ctx, cldadmin.GetUploadPresetParams{Name: "avatars"})
	if err != nil || got.Name != "avatars" || !got.Unsigned {
		t.Fatalf("get: %+v %v", got, err)
	}
	s := got.Settings.(map[string]any)
	if s["folder"] != "avatars" || s["tags"] != "a,b" || s["overwrite"] != false || s["transformation"] != "c_fill,w_200,h_200" {
		t.Errorf("settings: %v", s)
	}
	up, err := adm.UpdateUploadPreset(ctx, cldadmin.UpdateUploadPresetParams{Name: "avatars", Unsigned: api.Bool(false),
		UploadParams: uploader.UploadParams{Tags: api.CldAPIArray{"c"}}})
	if err != nil || up.Message != "updated" {
		t.Fatalf("update: %+v %v", up, err)
	}
	got, _ = adm.GetUploadPreset(ctx, cldadmin.GetUploadPresetParams{Name: "avatars"})
	if s := got.Settings.(map[string]any); got.Unsigned || s["tags"] != "c" || s["folder"] != "avatars" {
		t.Errorf("after update: %+v", got)
	}
	// Unnamed: a generated name.
	cr, err = adm.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{UploadParams: uploader.UploadParams{Folder: "x"}})
	if err != nil || len(cr.Name) != 8 {
		t.Errorf("unnamed create: %+v %v", cr, err)
	}
	list, err := adm.ListUploadPresets(ctx, cldadmin.ListUploadPresetsParams{})
	if err != nil || len(list.Presets) != 2 {
		t.Errorf("list: %+v %v", list, err)
	}
	dup, _ := adm.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{Name: "avatars"})
	if !strings.Contains(dup.Error.Message, "already exists") {
		t.Errorf("duplicate: %+v", dup)
	}
	bad, _ := adm.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{Name: "bad", UploadParams: uploader.UploadParams{Eager: "w_abc"}})
	if bad.Error.Message == "" {
		t.Error("an invalid eager transformation was accepted")
	}
	// An eager format, as the Upload API writes it, is valid.
	withFormat, _ := adm.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{Name: "thumbs", UploadParams: uploader.UploadParams{Eager: "c_fill,w_100/jpg|webp"}})
	if withFormat.Error.Message != "" {
		t.Errorf("an eager list with formats: %q", withFormat.Error.Message)
	}
	del, err := adm.DeleteUploadPreset(ctx, cldadmin.DeleteUploadPresetParams{Name: "avatars"})
	if err != nil || del.Message != "deleted" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	gone, _ := adm.GetUploadPreset(ctx, cldadmin.GetUploadPresetParams{Name: "avatars"})
	if gone.Error.Message != "Upload preset avatars not found" {
		t.Errorf("after delete: %+v", gone)
	}
}

func TestUsageAndPing(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.seed(t, "upload", "u1")
	e.seed(t, "upload", "u2")
	e.repo.PutDerived(ctx, a, "d.jpg", "w_1", "jpg", []byte("1234"), "image/jpeg")
	for i := 0; i < 3; i++ {
		e.rec.Render("demo")
	}
	u, err := e.cld.Admin.Usage(ctx, cldadmin.UsageParams{})
	if err != nil || u.Error.Message != "" {
		t.Fatalf("usage: %v %q", err, u.Error.Message)
	}
	wantBytes := int64(len("original u1")+len("original u2")) + 4
	if u.Storage.Usage != wantBytes || u.Resources != 2 || u.DerivedResources != 1 || u.Objects.Usage != 3 ||
		u.Transformations.Usage != 3 || u.LastUpdated == "" {
		t.Errorf("usage: %+v", u)
	}
	p, err := e.cld.Admin.Ping(ctx)
	if err != nil || p.Status != "ok" {
		t.Errorf("ping: %+v %v", p, err)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// Another cloud's valid key is no key for this one.
	res, err := e.sdk(t, cloud.Cloud{Name: "demo", APIKey: other.APIKey, APISecret: other.APISecret}).Admin.Ping(ctx)
	if err != nil || res.Status == "ok" || res.Error.Message != "Unknown API key 222222" {
		t.Errorf("another cloud's key: %+v %v", res, err)
	}
	for _, c := range []struct {
		who  cloud.Cloud
		want string
	}{
		{other, "Unknown API key 222222"},
		{cloud.Cloud{APIKey: demo.APIKey, APISecret: "wrong"}, "api_secret mismatch"},
		{cloud.Cloud{}, "Must supply api_key"},
	} {
		status, hdr, body := e.raw(t, c.who, "GET", "ping", "")
		if status != 401 || errMessage(body) != c.want || hdr.Get("X-Cld-Error") != c.want {
			t.Errorf("as %+v: %d %v", c.who, status, body)
		}
		if hdr.Get("X-FeatureRateLimit-Limit") == "" {
			t.Error("a refused request lacks the rate-limit headers")
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1_1/nosuch/ping", nil)
	req.SetBasicAuth(demo.APIKey, demo.APISecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("unknown cloud: %v %v", resp.StatusCode, err)
	}
	// The right key works for its own cloud only.
	if res, _ := e.sdk(t, other).Admin.Ping(ctx); res.Status != "ok" {
		t.Errorf("other's own key: %+v", res)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	var mu sync.Mutex
	e := newEnv(t, func(c *Config) {
		c.RateLimit = 3
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	for i := 2; i >= 0; i-- {
		status, hdr, _ := e.raw(t, demo, "GET", "ping", "")
		if status != 200 || hdr.Get("X-FeatureRateLimit-Limit") != "3" || hdr.Get("X-FeatureRateLimit-Remaining") != fmt.Sprint(i) ||
			hdr.Get("X-FeatureRateLimit-Reset") != "Sun, 22 Nov 2026 11:00:00 GMT" {
			t.Fatalf("request %d: %d %v", 3-i, status, hdr)
		}
	}
	status, hdr, body := e.raw(t, demo, "GET", "ping", "")
	if status != 420 || errMessage(body) != "Rate Limit Exceeded" || hdr.Get("X-FeatureRateLimit-Remaining") != "0" {
		t.Errorf("over budget: %d %v %v", status, body, hdr)
	}
	if res, _ := e.cld.Admin.Ping(context.Background()); res.Error.Message != "Rate Limit Exceeded" {
		t.Errorf("the SDK sees %+v", res)
	}
	// Budgets are per cloud, and refill at the next hour.
	if res, _ := e.sdk(t, other).Admin.Ping(context.Background()); res.Status != "ok" {
		t.Errorf("another cloud's budget: %+v", res)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if status, hdr, _ := e.raw(t, demo, "GET", "ping", ""); status != 200 || hdr.Get("X-FeatureRateLimit-Remaining") != "2" {
		t.Errorf("next hour: %d %v", status, hdr)
	}
}

// Bad input gets a Cloudinary-style 4xx, never a panic or a 500.
func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	e.seed(t, "upload", "x")
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "resources/image?max_results=abc", "", 400},
		{"GET", "resources/image?max_results=501", "", 400},
		{"GET", "resources/image?next_cursor=!!!", "", 400},
		{"GET", "resources/image?next_cursor=YWJj", "", 400},
		{"GET", "resources/image?tags=maybe", "", 400},
		{"GET", "resources/movie", "", 400},
		{"GET", "resources/image/UPLOAD", "", 400},
		{"GET", "resources/image/context", "", 501},
		{"GET", "resources/image/upload/a%25b", "", 400},
		{"GET", "resources/image/upload/nope", "", 404},
		{"GET", "resources/image/tags/" + strings.Repeat("t", 300), "", 400},
		{"GET", "tags/image?next_cursor=%25", "", 400},
		{"DELETE", "resources/image/upload", `{not json`, 400},
		{"DELETE", "resources/image/upload", `{"public_ids": ["../../etc"]}`, 400},
		{"DELETE", "derived_resources", `{}`, 400},
		{"POST", "transformations", `{"name": "x y", "transformation": "w_1"}`, 400},
		{"POST", "transformations", `{"name": "x"}`, 400},
		{"PUT", "transformations/none", `{"unsafe_update": "w_1"}`, 404},
		{"GET", "transformations?transformation=w_100", "", 404},
		{"POST", "upload_presets", `{"name": "../x"}`, 400},
		{"POST", "upload_presets", `{"name": "p", "type": "weird"}`, 400},
		{"POST", "upload_presets", `{"name": "p", "overwrite": "perhaps"}`, 400},
		{"POST", "upload_presets", `{"name": "p", "Bad-Key": "1"}`, 400},
		{"PUT", "upload_presets/none", `{"folder": "x"}`, 404},
		{"DELETE", "upload_presets/none", ``, 404},
		{"GET", "usage/01-01-2001", "", 400},
	} {
		status, hdr, body := e.raw(t, demo, c.method, c.path, c.body)
		if status != c.status || errMessage(body) == "" || hdr.Get("X-Cld-Error") != errMessage(body) {
			t.Errorf("%s %s %s: %d %v, want %d", c.method, c.path, c.body, status, body, c.status)
		}
	}
	// A huge body is refused before it is read whole.
	big := `{"name": "` + strings.Repeat("a", maxBody) + `"}`
	if status, _, _ := e.raw(t, demo, "POST", "upload_presets", big); status != 413 {
		t.Errorf("a huge body: %d", status)
	}
}

// Other clients send forms and key[] arrays; the same calls work.
func TestFormAndArrayParams(t *testing.T) {
	e := newEnv(t, nil)
	for _, id := range []string{"f1", "f2", "f3"} {
		e.seed(t, "upload", id)
	}
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/v1_1/demo/resources/image/upload", strings.NewReader("public_ids[]=f1&public_ids[]=f2"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demo.APIKey, demo.APISecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Deleted map[string]string }
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if res.Deleted["f1"] != "deleted" || res.Deleted["f2"] != "deleted" || len(res.Deleted) != 2 {
		t.Errorf("form delete: %+v", res)
	}
	status, _, body := e.raw(t, demo, "GET", "resources/image/upload?public_ids[0]=f3&public_ids[1]=f1", "")
	if rs, _ := body["resources"].([]any); status != 200 || len(rs) != 1 {
		t.Errorf("indexed array params: %d %v", status, body)
	}
}

// The routes must coexist with the Upload API's on one mux: a pattern
// conflict panics at registration.
func TestRoutesCoexistWithUploadAPI(t *testing.T) {
	mux := http.NewServeMux()
	nop := func(http.ResponseWriter, *http.Request) {}
	for _, p := range []string{"POST /v1_1/{cloud}/{rt}/upload", "POST /v1_1/{cloud}/{rt}/destroy",
		"POST /v1_1/{cloud}/{rt}/rename", "POST /v1_1/{cloud}/{rt}/tags", "POST /v1_1/{cloud}/{rt}/explicit"} {
		mux.HandleFunc(p, nop)
	}
	New(Config{Clouds: cloud.NewRegistry(demo)}).Register(mux)
	_, pattern := mux.Handler(httptest.NewRequest("POST", "/v1_1/demo/image/upload", nil))
	if pattern != "POST /v1_1/{cloud}/{rt}/upload" {
		t.Errorf("an upload went to %q", pattern)
	}
	_, pattern = mux.Handler(httptest.NewRequest("GET", "/v1_1/demo/resources/image/tags/red", nil))
	if pattern != "GET /v1_1/{cloud}/resources/{rt}/tags/{tag...}" {
		t.Errorf("by tag went to %q", pattern)
	}
}
