package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

// countDerived counts the derivatives stored for all versions.
func countDerived(t *testing.T, n *devNode) int {
	t.Helper()
	objs, err := n.origin.store.List(context.Background(), "derived/", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

// Sync eager: the derivatives are in the response, already stored, and
// their URLs deliver them without a render.
func TestUploadEagerSync(t *testing.T) {
	n := newNode(t, nil)
	cld := sdk(t, n)
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(1200, 800))), uploader.UploadParams{
		PublicID: "eager/one", Eager: "w_400,h_300,c_pad|w_260,h_200,c_crop/png",
	})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %s", err, res.Error.Message)
	}
	if len(res.Eager) != 2 {
		t.Fatalf("eager in the response: %+v", res.Eager)
	}
	want := []struct {
		tx, f string
		w, h  int
	}{{"c_pad,h_300,w_400", "jpg", 400, 300}, {"c_crop,h_200,w_260/png", "png", 260, 200}}
	for i, e := range res.Eager {
		if e.Transformation != want[i].tx || e.Format != want[i].f || e.Width != want[i].w || e.Height != want[i].h || e.Bytes == 0 {
			t.Errorf("eager[%d] = %+v, want %+v", i, e, want[i])
		}
		if !strings.Contains(e.URL, "/"+strings.TrimSuffix(want[i].tx, "/png")+"/v") {
			t.Errorf("eager[%d].url = %s", i, e.URL)
		}
	}
	if got := countDerived(t, n); got != 2 {
		t.Errorf("%d derivatives stored, want 2", got)
	}
	before := renders(t, n)
	expectImage(t, fetch(t, res.Eager[0].URL), format.JPEG, 400, 300)
	expectImage(t, fetch(t, res.Eager[1].URL), format.PNG, 260, 200)
	if got := renders(t, n) - before; got != 0 {
		t.Errorf("delivering eager derivatives rendered %d times", got)
	}
}

// The incoming transformation and format change what is stored; context
// and allowed_formats are honoured.
func TestUploadIncomingAndParams(t *testing.T) {
	n := newNode(t, nil)
	cld := sdk(t, n)
	ctx := context.Background()
	src := testimg.JPEG(testimg.Quadrants(1200, 800))
	res, err := cld.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{
		PublicID: "incoming", Transformation: "w_600,c_scale", Format: "png",
		Context: api.CldAPIMap{"alt": "a=b", "caption": "plain"},
	})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %s", err, res.Error.Message)
	}
	if res.Width != 600 || res.Height != 400 || res.Format != "png" || res.Bytes == len(src) {
		t.Errorf("stored %dx%d %s %d bytes, want the 600x400 PNG", res.Width, res.Height, res.Format, res.Bytes)
	}
	custom, _ := res.Context["custom"].(map[string]any)
	if custom["alt"] != "a=b" || custom["caption"] != "plain" {
		t.Errorf("context %v", res.Context)
	}
	orig := fetch(t, res.URL)
	expectImage(t, orig, format.PNG, 600, 400)
	// The original is the transformed image: the corners keep their
	// quadrant colours (red top left).
	if px := pixelAt(t, orig.body, 5, 5); px[0] < 200 || px[1] > 60 {
		t.Errorf("top-left pixel %v is not red", px)
	}

	res, err = cld.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "refused", AllowedFormats: []string{"png", "webp"}})
	if err != nil || !strings.Contains(res.Error.Message, "format jpg not allowed") {
		t.Errorf("allowed_formats: %v %q", err, res.Error.Message)
	}
	res, err = cld.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "bad", Eager: "w_abc"})
	if err != nil || res.Error.Message != "Invalid width - abc" {
		t.Errorf("a bad eager: %v %q", err, res.Error.Message)
	}
	res, err = cld.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "bad", Type: "fetch"})
	if err != nil || res.Error.Message != "Invalid type fetch" {
		t.Errorf("type fetch: %v %q", err, res.Error.Message)
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/bad.jpg"); r.status != 404 {
		t.Errorf("a refused upload left an asset: %d", r.status)
	}
}

// Two clouds on one node: each key opens its own cloud only.
func TestTenantIsolation(t *testing.T) {
	other := cloud.Cloud{Name: "othercloud", APIKey: "999", APISecret: "other-secret"}
	n := newNode(t, func(c *devConfig) { c.Clouds = []cloud.Cloud{other} })
	ctx := context.Background()
	mine := sdk(t, n)
	theirs, err := cloudinary.NewFromURL(other.URL() + "?upload_prefix=http://" + n.apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	src := testimg.JPEG(testimg.Quadrants(300, 200))
	if res, err := theirs.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "secret/plan"}); err != nil || res.Error.Message != "" {
		t.Fatalf("upload to the other cloud: %v %+v", err, res)
	}
	// The other cloud's asset is not this cloud's.
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/secret/plan.jpg"); r.status != 404 {
		t.Errorf("another cloud's asset is delivered under this cloud: %d", r.status)
	}
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/othercloud/image/upload/secret/plan.jpg"), format.JPEG, 300, 200)
	// This cloud's key cannot upload into the other cloud.
	forged, _ := cloudinary.NewFromURL("cloudinary://123456789012345:test-secret-abc@othercloud?upload_prefix=http://" + n.apiAddr)
	res, err := forged.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "secret/plan"})
	if err != nil || !strings.Contains(res.Error.Message, "Unknown API key") {
		t.Errorf("another cloud's key: %v %+v", err, res)
	}
	if res, err := mine.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "mine"}); err != nil || res.Error.Message != "" {
		t.Errorf("upload to the node's own cloud: %v %+v", err, res)
	}
}

// Strict transformations: an ad-hoc transformation is refused with
// Cloudinary's 401, the eager one is delivered, a signed URL renders.
func TestStrictTransformations(t *testing.T) {
	n := newNode(t, func(c *devConfig) { c.Strict = true })
	cld := sdk(t, n)
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(800, 600))), uploader.UploadParams{
		PublicID: "strict", Eager: "c_fill,w_200,h_200",
	})
	if err != nil || res.Error.Message != "" || len(res.Eager) != 1 {
		t.Fatalf("upload: %v %+v", err, res)
	}
	base := "http://" + n.edgeAddr + "/testcloud/image/upload/"
	r := fetch(t, base+"w_300/strict.jpg")
	if r.status != 401 || r.header.Get("X-Cld-Error") != "Transformation w_300/jpg is not allowed" {
		t.Errorf("an ad-hoc transformation: %d %q", r.status, r.header.Get("X-Cld-Error"))
	}
	expectImage(t, fetch(t, res.Eager[0].URL), format.JPEG, 200, 200)
	// The SDK's own spelling of the eager transformation, without an
	// extension, is the same derivative.
	img, _ := cld.Image("strict")
	img.Transformation = "w_200,h_200,c_fill"
	u, _ := img.String()
	expectImage(t, fetch(t, u), format.JPEG, 200, 200)
	expectImage(t, fetch(t, base+"strict.jpg"), format.JPEG, 800, 600)
	signed := sdk(t, n)
	signed.Config.URL.SignURL = true
	simg, _ := signed.Image("strict.jpg")
	simg.Transformation = "w_300"
	su, _ := simg.String()
	expectImage(t, fetch(t, su), format.JPEG, 300, 225)
}
