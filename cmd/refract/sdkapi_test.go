package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api"
	cldadmin "github.com/cloudinary/cloudinary-go/v2/api/admin"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

// The official SDK's uploader and admin calls against one node: the
// store under it is whatever newTestNode gives (MinIO when available).

func uploadImage(t *testing.T, cld *cloudinary.Cloudinary, id string, w, h int, p uploader.UploadParams) *uploader.UploadResult {
	t.Helper()
	p.PublicID = id
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(w, h))), p)
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload %s: %v %+v", id, err, res)
	}
	return res
}

// explicit, rename and destroy with invalidate, seen through the edge.
func TestSDKExplicitRenameDestroy(t *testing.T) {
	n := newTestNode(t, nil)
	cld := sdk(t, n)
	ctx := context.Background()
	res := uploadImage(t, cld, "ops/one", 600, 400, uploader.UploadParams{Tags: []string{"keep"}})
	edge := "http://" + n.edgeAddr + "/testcloud/image/upload/"

	ex, err := cld.Upload.Explicit(ctx, uploader.ExplicitParams{PublicID: "ops/one", Type: "upload",
		Eager: "c_fill,w_120,h_80|e_grayscale/png"})
	if err != nil || ex.Error.Message != "" || len(ex.Eager) != 2 {
		t.Fatalf("explicit: %v %+v", err, ex)
	}
	if ex.Eager[0].Width != 120 || ex.Eager[0].Height != 80 || ex.Eager[1].Format != "png" || ex.Version != res.Version {
		t.Errorf("explicit eager: %+v, version %d", ex.Eager, ex.Version)
	}
	before := renders(t, n)
	expectImage(t, fetch(t, ex.Eager[0].URL), format.JPEG, 120, 80)
	if renders(t, n) != before {
		t.Error("an explicit derivative was rendered again on delivery")
	}
	missing, err := cld.Upload.Explicit(ctx, uploader.ExplicitParams{PublicID: "ops/none", Type: "upload", Eager: "w_10"})
	if err != nil || missing.Error.Message != "Resource not found - ops/none" {
		t.Errorf("explicit on a missing asset: %v %q", err, missing.Error.Message)
	}

	// Rename: the old id is gone (after invalidate, even from the edge's
	// cache), the new one serves the same image.
	expectImage(t, fetch(t, edge+"ops/one.jpg"), format.JPEG, 600, 400)
	uploadImage(t, cld, "ops/taken", 100, 100, uploader.UploadParams{})
	if rn, err := cld.Upload.Rename(ctx, uploader.RenameParams{FromPublicID: "ops/one", ToPublicID: "ops/taken"}); err != nil || rn.Error == nil {
		t.Errorf("rename onto a taken id without overwrite: %v %+v", err, rn)
	}
	rn, err := cld.Upload.Rename(ctx, uploader.RenameParams{FromPublicID: "ops/one", ToPublicID: "ops/two", Invalidate: api.Bool(true)})
	if err != nil || rn.Error != nil || rn.PublicID != "ops/two" {
		t.Fatalf("rename: %v %+v", err, rn)
	}
	if r := fetch(t, edge+"ops/one.jpg"); r.status != 404 {
		t.Errorf("the old public_id after rename with invalidate: %d", r.status)
	}
	expectImage(t, fetch(t, edge+"ops/two.jpg"), format.JPEG, 600, 400)
	got, err := cld.Admin.Asset(ctx, cldadmin.AssetParams{PublicID: "ops/two"})
	if err != nil || got.Error.Message != "" || len(got.Tags) != 1 || got.Tags[0] != "keep" {
		t.Errorf("the renamed asset: %v %+v", err, got)
	}

	// Destroy with invalidate: the edge stops serving it at once.
	expectImage(t, fetch(t, edge+"w_50/ops/two.jpg"), format.JPEG, 50, 33)
	d, err := cld.Upload.Destroy(ctx, uploader.DestroyParams{PublicID: "ops/two", Invalidate: api.Bool(true)})
	if err != nil || d.Result != "ok" {
		t.Fatalf("destroy: %v %+v", err, d)
	}
	for _, u := range []string{edge + "ops/two.jpg", edge + "w_50/ops/two.jpg"} {
		if r := fetch(t, u); r.status != 404 {
			t.Errorf("%s after destroy with invalidate: %d", u, r.status)
		}
	}
	if d, err := cld.Upload.Destroy(ctx, uploader.DestroyParams{PublicID: "ops/two"}); err != nil || d.Result != "not found" {
		t.Errorf("destroy again: %v %+v", err, d)
	}
	if left := storedKeys(t, n, "originals/testcloud/"); len(left) != 1 {
		t.Errorf("originals left after rename and destroy: %v (want only ops/taken's)", left)
	}
}

// 1,200 assets listed with the SDK, 500 at a time, by cursor.
func TestSDKListing(t *testing.T) {
	n := newTestNode(t, nil)
	cld := sdk(t, n)
	ctx := context.Background()
	const total = 1200
	ids := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				// Raw files: the listing is what is tested, not libvips.
				p := uploader.UploadParams{PublicID: fmt.Sprintf("list/%04d", i), ResourceType: "raw"}
				if i%3 == 0 {
					p.Tags = []string{"third"}
				}
				res, err := cld.Upload.Upload(ctx, bytes.NewReader([]byte(fmt.Sprint("file ", i))), p)
				if err == nil && res.Error.Message != "" {
					err = fmt.Errorf("%s", res.Error.Message)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		select {
		case ids <- i:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	close(ids)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	var seen []string
	cursor, pages := "", 0
	for {
		res, err := cld.Admin.Assets(ctx, cldadmin.AssetsParams{AssetType: "raw", DeliveryType: "upload", Prefix: "list/", MaxResults: 500, NextCursor: cursor})
		if err != nil || res.Error.Message != "" {
			t.Fatalf("page %d: %v %q", pages, err, res.Error.Message)
		}
		pages++
		for _, a := range res.Assets {
			seen = append(seen, a.PublicID)
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the cursor never ends")
		}
	}
	if pages != 3 || len(seen) != total || !sort.StringsAreSorted(seen) {
		t.Fatalf("%d pages, %d ids (sorted %v), want 3 pages of all %d in order", pages, len(seen), sort.StringsAreSorted(seen), total)
	}
	for i, id := range seen {
		if id != fmt.Sprintf("list/%04d", i) {
			t.Fatalf("id %d is %s: a gap or a duplicate", i, id)
		}
	}
	tagged, err := cld.Admin.AssetsByTag(ctx, cldadmin.AssetsByTagParams{Tag: "third", AssetType: "raw", MaxResults: 500})
	if err != nil || len(tagged.Assets) != 400 {
		t.Errorf("by tag: %v %d assets, want 400", err, len(tagged.Assets))
	}
}

// A named transformation made with the Admin API is delivered as t_name;
// an unsigned upload goes through a preset marked unsigned only.
func TestSDKNamedAndPresets(t *testing.T) {
	n := newTestNode(t, nil)
	cld := sdk(t, n)
	ctx := context.Background()
	uploadImage(t, cld, "named/src", 800, 600, uploader.UploadParams{})
	tr, err := cld.Admin.CreateTransformation(ctx, cldadmin.CreateTransformationParams{Name: "thumb_sq", Transformation: "c_fill,w_150,h_150"})
	if err != nil || tr.Error.Message != "" {
		t.Fatalf("create transformation: %v %+v", err, tr)
	}
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/t_thumb_sq/named/src.jpg"), format.JPEG, 150, 150)
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/t_nonesuch/named/src.jpg"); r.status != 400 {
		t.Errorf("an unknown named transformation: %d %q", r.status, r.header.Get("X-Cld-Error"))
	}

	// A preset that is not unsigned refuses unsigned uploads.
	for name, unsigned := range map[string]bool{"signed_only": false, "open": true} {
		p, err := cld.Admin.CreateUploadPreset(ctx, cldadmin.CreateUploadPresetParams{Name: name, Unsigned: api.Bool(unsigned),
			UploadParams: uploader.UploadParams{Folder: "guests", Tags: []string{"guest"}, Eager: "w_40"}})
		if err != nil || p.Error.Message != "" {
			t.Fatalf("create preset %s: %v %+v", name, err, p)
		}
	}
	src := bytes.NewReader(testimg.JPEG(testimg.Quadrants(200, 100)))
	res, err := cld.Upload.UnsignedUpload(ctx, src, "signed_only", uploader.UploadParams{})
	if err != nil || !strings.Contains(res.Error.Message, "whitelisted for unsigned") {
		t.Errorf("unsigned through a signed preset: %v %q", err, res.Error.Message)
	}
	src.Seek(0, 0)
	res, err = cld.Upload.UnsignedUpload(ctx, src, "open", uploader.UploadParams{PublicID: "pic"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("unsigned upload through an unsigned preset: %v %+v", err, res)
	}
	if res.PublicID != "guests/pic" || len(res.Tags) != 1 || res.Tags[0] != "guest" || len(res.Eager) != 1 || res.Eager[0].Width != 40 {
		t.Errorf("the preset's settings were not applied: %+v", res)
	}
	src.Seek(0, 0)
	res, err = cld.Upload.UnsignedUpload(ctx, src, "open", uploader.UploadParams{PublicID: "pic2", Overwrite: api.Bool(true), Transformation: "w_1"})
	if err != nil || !strings.Contains(res.Error.Message, "not allowed when using unsigned upload") {
		t.Errorf("an unsigned upload setting a signed-only parameter: %v %q", err, res.Error.Message)
	}
	src.Seek(0, 0)
	res, err = cld.Upload.UnsignedUpload(ctx, src, "missing", uploader.UploadParams{})
	if err != nil || res.Error.Message != "Upload preset not found" {
		t.Errorf("an unknown preset: %v %q", err, res.Error.Message)
	}
}
