package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
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
	n := newTestNode(t, nil)
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
	n := newTestNode(t, func(c *devConfig) { c.Strict = true })
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

// hook is a webhook receiver on loopback that checks signatures.
type hook struct {
	srv  *httptest.Server
	got  chan map[string]any
	errs chan string
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{got: make(chan map[string]any, 16), errs: make(chan string, 16)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, err := strconv.ParseInt(r.Header.Get("X-Cld-Timestamp"), 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
			h.errs <- "bad timestamp " + r.Header.Get("X-Cld-Timestamp")
		}
		// Computed here from the reference's definition, not by Refract's code.
		sum := sha1.Sum([]byte(string(body) + r.Header.Get("X-Cld-Timestamp") + secret))
		if r.Header.Get("X-Cld-Signature") != hex.EncodeToString(sum[:]) {
			h.errs <- "bad signature " + r.Header.Get("X-Cld-Signature")
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			h.errs <- "bad JSON " + string(body)
		}
		h.got <- m
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-h.got:
		select {
		case e := <-h.errs:
			t.Fatal(e)
		default:
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook within 20 s")
	}
	return nil
}

// Async eager: the upload answers at once; the derivatives are rendered
// by the job queue, then a signed webhook says so.
func TestUploadEagerAsyncWebhook(t *testing.T) {
	n := newTestNode(t, func(c *devConfig) { c.RemoteAllow = []string{"127.0.0.1/32"} })
	cld := sdk(t, n)
	h := newHook(t, "test-secret-abc")
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(800, 600))), uploader.UploadParams{
		PublicID: "async", Eager: "w_100,c_scale|w_50,h_50,c_fill/webp", EagerAsync: api.Bool(true),
		EagerNotificationURL: h.srv.URL + "/eager", NotificationURL: h.srv.URL + "/upload",
	})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %+v", err, res)
	}
	if len(res.Eager) != 2 || res.Eager[0].Width != 0 {
		t.Errorf("an async upload's eager list: %+v", res.Eager)
	}
	seen := map[string]map[string]any{}
	for i := 0; i < 2; i++ {
		m := h.next(t)
		seen[fmt.Sprint(m["notification_type"])] = m
	}
	up, eager := seen["upload"], seen["eager"]
	if up == nil || up["public_id"] != "async" || up["version"] != float64(res.Version) {
		t.Errorf("upload notification: %v", up)
	}
	list, _ := eager["eager"].([]any)
	if eager == nil || eager["public_id"] != "async" || len(list) != 2 {
		t.Fatalf("eager notification: %v", eager)
	}
	second, _ := list[1].(map[string]any)
	if second["transformation"] != "c_fill,h_50,w_50/webp" || second["width"] != float64(50) || second["format"] != "webp" {
		t.Errorf("eager[1] = %v", second)
	}
	if got := countDerived(t, n); got != 2 {
		t.Errorf("%d derivatives stored after the eager webhook, want 2", got)
	}
	before := renders(t, n)
	expectImage(t, fetch(t, fmt.Sprint(second["url"])), format.WebP, 50, 50)
	if renders(t, n) != before {
		t.Error("an eager derivative was rendered again on delivery")
	}
}

// bigPNG is an uncompressed PNG of about w*h*3 bytes: red left half,
// blue right half.
func bigPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.RGBA{B: 255, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload_large of a 25 MB file: the SDK cuts it into chunks, each a
// signed request; the last one stores the whole file.
func TestUploadLarge(t *testing.T) {
	n := newTestNode(t, func(c *devConfig) { c.MaxUploadBytes = 64 << 20 })
	cld := sdk(t, n)
	cld.Upload.Config.API.ChunkSize = 6_000_000 // five chunks, so middle ones are exercised
	src := bigPNG(t, 2900, 2900)
	if len(src) < 25_000_000 {
		t.Fatalf("the test file is only %d bytes", len(src))
	}
	sum := md5.Sum(src)
	// A first small upload makes the counter exist.
	if res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(30, 20))), uploader.UploadParams{}); err != nil || res.Error.Message != "" {
		t.Fatalf("a small upload: %v %+v", err, res)
	}
	before := metric(t, n, `refract_uploads_total{outcome="200"}`)
	// The SDK chunks files it can size: a path, an *os.File, a SectionReader.
	path := filepath.Join(t.TempDir(), "large.png")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := cld.Upload.Upload(context.Background(), path, uploader.UploadParams{PublicID: "large/png"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %+v", err, res)
	}
	if chunks := metric(t, n, `refract_uploads_total{outcome="200"}`) - before; chunks != 5 {
		t.Errorf("%d chunk requests answered 200, want 5", chunks)
	}
	if res.Bytes != len(src) || res.Etag != hex.EncodeToString(sum[:]) || res.Width != 2900 || res.Format != "png" {
		t.Errorf("result: %d bytes, etag %s, %dx%d %s", res.Bytes, res.Etag, res.Width, res.Height, res.Format)
	}
	orig := fetch(t, res.URL)
	if !bytes.Equal(orig.body, src) {
		t.Fatalf("the original delivered (%d bytes) is not the file uploaded", len(orig.body))
	}
	small := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_290/large/png.png")
	expectImage(t, small, format.PNG, 290, 290)
	if l, r := pixelAt(t, small.body, 10, 100), pixelAt(t, small.body, 280, 100); l[0] < 250 || r[2] < 250 {
		t.Errorf("left %v should be red, right %v blue", l, r)
	}
	// The pieces are gone once the asset is stored.
	if objs, _ := n.origin.store.List(context.Background(), "chunks/", "", 10); len(objs) != 0 {
		t.Errorf("%d chunk objects left behind", len(objs))
	}
}

// Remote uploads fetch allowed URLs and refuse internal addresses.
func TestUploadRemote(t *testing.T) {
	src := testimg.JPEG(testimg.Quadrants(320, 240))
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pics/cat.jpg":
			w.Write(src)
		case "/hop":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer files.Close()
	ctx := context.Background()

	guarded := sdk(t, newNode(t, nil))
	for _, u := range []string{files.URL + "/pics/cat.jpg", "http://10.0.0.1/a.jpg", "http://169.254.169.254/latest/meta-data/",
		"http://[::1]:" + files.URL[strings.LastIndexByte(files.URL, ':')+1:] + "/pics/cat.jpg", "http://localhost:1/a.jpg"} {
		res, err := guarded.Upload.Upload(ctx, u, uploader.UploadParams{PublicID: "ssrf"})
		if err != nil || !strings.Contains(res.Error.Message, "Forbidden address") {
			t.Errorf("%s: %v %q, want Forbidden address", u, err, res.Error.Message)
		}
	}

	n := newNode(t, func(c *devConfig) { c.RemoteAllow = []string{"127.0.0.1/32"} })
	cld := sdk(t, n)
	res, err := cld.Upload.Upload(ctx, files.URL+"/pics/cat.jpg", uploader.UploadParams{UseFilename: api.Bool(true), UniqueFilename: api.Bool(false)})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("an allowed remote upload: %v %+v", err, res)
	}
	if res.PublicID != "cat" || res.Width != 320 || res.Bytes != len(src) {
		t.Errorf("remote upload result: %s %dx%d %d bytes", res.PublicID, res.Width, res.Height, res.Bytes)
	}
	// An allowed host redirecting to the metadata address is refused.
	res, err = cld.Upload.Upload(ctx, files.URL+"/hop", uploader.UploadParams{PublicID: "hop"})
	if err != nil || !strings.Contains(res.Error.Message, "Forbidden address") {
		t.Errorf("a redirect to 169.254.169.254: %v %q", err, res.Error.Message)
	}
	res, err = cld.Upload.Upload(ctx, files.URL+"/missing.jpg", uploader.UploadParams{PublicID: "missing"})
	if err != nil || !strings.Contains(res.Error.Message, "404") {
		t.Errorf("a missing remote file: %v %q", err, res.Error.Message)
	}
}

// postChunk sends one signed chunk of an upload_large.
func postChunk(t *testing.T, n *devNode, id, uploadID string, ts time.Time, start, end, total int, data []byte) (int, string) {
	t.Helper()
	c, _ := cloud.ParseURL(testCloud)
	params := map[string][]string{"public_id": {id}, "timestamp": {strconv.FormatInt(ts.Unix(), 10)}}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("public_id", id)
	mw.WriteField("timestamp", params["timestamp"][0])
	mw.WriteField("signature", sign.Hex(sign.UploadToSign(params), c.APISecret, sign.SHA1))
	mw.WriteField("api_key", c.APIKey)
	fw, _ := mw.CreateFormFile("file", "blob.bin")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+n.apiAddr+"/v1_1/testcloud/auto/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Unique-Upload-Id", uploadID)
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, total))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Cld-Error")
}

// A chunked upload belongs to the request that started it: another
// request's chunks cannot join or complete it, and an old signature
// cannot start one.
func TestChunkOwnership(t *testing.T) {
	n := newNode(t, nil)
	data := []byte("0123456789abcdefghij")
	now := time.Now()
	if s, msg := postChunk(t, n, "mine", "u1", now, 0, 9, 20, data[:10]); s != 200 {
		t.Fatalf("first chunk: %d %s", s, msg)
	}
	if s, msg := postChunk(t, n, "theirs", "u1", now, 10, 19, 20, []byte("XXXXXXXXXX")); s != 400 || !strings.Contains(msg, "belongs to another request") {
		t.Errorf("another request's chunk: %d %q", s, msg)
	}
	if s, msg := postChunk(t, n, "mine", "u1", now, 10, 19, 20, data[10:]); s != 200 {
		t.Fatalf("last chunk: %d %s", s, msg)
	}
	r := fetch(t, "http://"+n.edgeAddr+"/testcloud/raw/upload/mine")
	if r.status != 200 || !bytes.Equal(r.body, data) {
		t.Errorf("the assembled file: %d %q", r.status, r.body)
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/raw/upload/theirs"); r.status != 404 {
		t.Errorf("the intruder's public_id exists: %d", r.status)
	}
	// A two-hour-old signature may finish an upload it started, not start one.
	old := now.Add(-2 * time.Hour)
	if s, msg := postChunk(t, n, "late", "u2", old, 0, 9, 20, data[:10]); s != 401 || !strings.Contains(msg, "Stale request") {
		t.Errorf("a stale first chunk: %d %q", s, msg)
	}
}
