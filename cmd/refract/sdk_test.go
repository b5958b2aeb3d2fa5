package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/testimg"
)

// sdk returns the official SDK configured the way the reference says:
// uploads to the node's API, delivery URLs on the edge's host.
func sdk(t *testing.T, n *devNode) *cloudinary.Cloudinary {
	t.Helper()
	cld, err := cloudinary.NewFromURL(testCloud + "?upload_prefix=http://" + n.apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	cld.Config.URL.Secure = false
	cld.Config.URL.CName = n.edgeAddr
	return cld
}

// TestSDKVerticalSlice is the slice's acceptance test: an SDK upload, the
// SDK's URLs delivered through edge and origin, then RAM hits.
func TestSDKVerticalSlice(t *testing.T) {
	n := newNode(t, nil)
	cld := sdk(t, n)
	ctx := context.Background()
	src := testimg.JPEG(testimg.Quadrants(1200, 800))
	sum := md5.Sum(src)

	res, err := cld.Upload.Upload(ctx, bytes.NewReader(src), uploader.UploadParams{PublicID: "slice/sample", Tags: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error.Message != "" {
		t.Fatalf("upload error: %s", res.Error.Message)
	}
	if res.PublicID != "slice/sample" || res.Width != 1200 || res.Height != 800 || res.Format != "jpg" ||
		res.ResourceType != "image" || res.Type != "upload" || res.Bytes != len(src) {
		t.Errorf("upload result: %+v", res)
	}
	if res.Version < int(time.Now().Add(-time.Minute).Unix()) || res.VersionID == "" || res.AssetID == "" {
		t.Errorf("version %d, version_id %q, asset_id %q", res.Version, res.VersionID, res.AssetID)
	}
	if res.Etag != hex.EncodeToString(sum[:]) {
		t.Errorf("etag %q is not the file's MD5", res.Etag)
	}
	if want := sign.Response(res.PublicID, strconv.Itoa(res.Version), "test-secret-abc"); res.Signature != want {
		t.Errorf("signature %q, want %q", res.Signature, want)
	}
	if res.CreatedAt.IsZero() || time.Since(res.CreatedAt) > time.Minute {
		t.Errorf("created_at %v", res.CreatedAt)
	}
	if len(res.Tags) != 2 || res.Tags[0] != "a" {
		t.Errorf("tags %v", res.Tags)
	}
	wantURL := "http://" + n.edgeAddr + "/testcloud/image/upload/v" + strconv.Itoa(res.Version) + "/slice/sample.jpg"
	if res.URL != wantURL || res.SecureURL == "" {
		t.Errorf("url %q, want %q", res.URL, wantURL)
	}
	if orig := fetch(t, res.URL); !bytes.Equal(orig.body, src) {
		t.Errorf("the original URL did not return the uploaded bytes")
	}

	// The SDK's URL for w_300,c_scale: a MISS rendered by the origin, then a HIT.
	img, _ := cld.Image("slice/sample.jpg")
	img.Transformation = "w_300,c_scale"
	u, err := img.String()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "?_a=") {
		t.Errorf("expected the SDK's analytics parameter in %s", u)
	}
	before := renders(t, n)
	first := fetch(t, u)
	expectImage(t, first, format.JPEG, 300, 200)
	if first.header.Get("X-Cache") != "MISS" {
		t.Errorf("first request X-Cache %q, want MISS", first.header.Get("X-Cache"))
	}
	second := fetch(t, u)
	expectImage(t, second, format.JPEG, 300, 200)
	if second.header.Get("X-Cache") != "HIT" || !bytes.Equal(first.body, second.body) {
		t.Errorf("second request X-Cache %q (same bytes: %v), want HIT", second.header.Get("X-Cache"), bytes.Equal(first.body, second.body))
	}
	if got := renders(t, n) - before; got != 1 {
		t.Errorf("%d renders for one new derivative, want 1", got)
	}
	// The SDK writes v1 for ids in folders: not the asset's version, so
	// not immutable. With the real version, it is.
	if cc := second.header.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Errorf("the SDK's default v1 URL has Cache-Control %q", cc)
	}
	img.Version = res.Version
	u, _ = img.String()
	if cc := fetch(t, u).header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("a URL with the asset's version has Cache-Control %q", cc)
	}
	img.Version = 0

	img.Transformation = "c_fill,w_200,h_200"
	u, _ = img.String()
	expectImage(t, fetch(t, u), format.JPEG, 200, 200)

	img.Transformation = "f_auto"
	img.PublicID = "slice/sample"
	u, _ = img.String()
	webp := fetch(t, u, "Accept", "image/webp,image/*;q=0.8")
	expectImage(t, webp, format.WebP, 1200, 800)
	if webp.header.Get("Vary") != "Accept" {
		t.Errorf("f_auto answered Vary %q, want Accept", webp.header.Get("Vary"))
	}
	jpg := fetch(t, u, "Accept", "image/jpeg")
	expectImage(t, jpg, format.JPEG, 1200, 800)
	if plain := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_300,c_scale/v1/slice/sample.jpg"); plain.header.Get("Vary") != "" {
		t.Errorf("a URL without f_auto varies on %q", plain.header.Get("Vary"))
	}

	// A signed URL passes; one changed character in the signature fails.
	signed := sdk(t, n)
	signed.Config.URL.SignURL = true
	simg, _ := signed.Image("slice/sample.jpg")
	simg.Transformation = "w_150,c_scale"
	su, err := simg.String()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(su, "/s--") {
		t.Fatalf("the SDK did not sign %s", su)
	}
	expectImage(t, fetch(t, su), format.JPEG, 150, 100)
	i := strings.Index(su, "/s--") + 4
	c := byte('A')
	if su[i] == 'A' {
		c = 'B'
	}
	tampered := su[:i] + string(c) + su[i+1:]
	if r := fetch(t, tampered); r.status != 401 || r.header.Get("X-Cld-Error") == "" {
		t.Errorf("a tampered signature got %d %q, want 401", r.status, r.header.Get("X-Cld-Error"))
	}
}

// Concurrent cold requests for one new derivative cause exactly one render.
func TestCoalescing(t *testing.T) {
	n := newNode(t, nil)
	cld := sdk(t, n)
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(1200, 800))), uploader.UploadParams{PublicID: "hot"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %s", err, res.Error.Message)
	}
	before := renders(t, n)
	url := "http://" + n.edgeAddr + "/testcloud/image/upload/w_333,e_sharpen/hot.jpg"
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := get(url)
			switch {
			case err != nil:
				errs <- err.Error()
			case r.status != 200 || len(r.body) == 0:
				errs <- r.header.Get("X-Cld-Error")
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a coalesced request failed: %s", e)
	}
	if got := renders(t, n) - before; got != 1 {
		t.Errorf("200 concurrent requests caused %d renders, want exactly 1", got)
	}
	// The edge itself coalesced: the origin saw a handful of requests at most.
	if fwd := metric(t, n, `refract_derive_requests_total{outcome="render"}`); fwd != 1 {
		t.Errorf("the origin rendered for %d requests", fwd)
	}
	// Every request but the one that went to the origin either waited on
	// it or came after it and hit: how many of each depends on timing.
	if c, h := metric(t, n, "refract_edge_coalesced_total"), metric(t, n, `refract_edge_requests_total{cache="hit"}`); c+h != 199 || c == 0 {
		t.Errorf("%d requests waited on the edge's flight and %d hit, want 199 in all, some waiting", c, h)
	}
}
