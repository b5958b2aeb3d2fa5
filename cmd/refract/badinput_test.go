package main

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/testimg"
)

type uploadResult struct {
	status   int
	PublicID string `json:"public_id"`
	Version  int64  `json:"version"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	ETag     string `json:"etag"`
	Format   string `json:"format"`
	Resource string `json:"resource_type"`
	URL      string `json:"url"`
	Error    struct {
		Message string `json:"message"`
	} `json:"error"`
}

// rawUpload posts a multipart upload signed with secret at time ts, so
// tests can get the signature or the time wrong on purpose.
func rawUpload(t *testing.T, n *devNode, rt string, file []byte, filename, secret string, ts time.Time, extra url.Values) uploadResult {
	t.Helper()
	p := url.Values{"timestamp": {strconv.FormatInt(ts.Unix(), 10)}}
	for k, v := range extra {
		p[k] = v
	}
	body, ctype := signedMultipart(p, secret, file, filename)
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/"+rt+"/upload", ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r uploadResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("upload response is not JSON: %v", err)
	}
	r.status = resp.StatusCode
	return r
}

const secret = "test-secret-abc"

// signedMultipart signs p with secret (SHA-256) as an SDK would and
// encodes it with the file as a multipart body.
func signedMultipart(p url.Values, secret string, file []byte, filename string) (*bytes.Buffer, string) {
	p.Set("signature", sign.Hex(sign.UploadToSign(p), secret, sign.SHA256))
	p.Set("api_key", "123456789012345")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k := range p {
		mw.WriteField(k, p.Get(k))
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(file)
	mw.Close()
	return &body, mw.FormDataContentType()
}

func TestDeliveryErrors(t *testing.T) {
	n := newNode(t, nil)
	ok := rawUpload(t, n, "image", testimg.JPEG(testimg.Quadrants(120, 80)), "a.jpg", secret, time.Now(), url.Values{"public_id": {"err/a"}})
	if ok.status != 200 {
		t.Fatalf("upload: %d %s", ok.status, ok.Error.Message)
	}
	base := "http://" + n.edgeAddr + "/testcloud/"
	cases := []struct {
		path   string
		status int
		msg    string
	}{
		{"image/upload/w_abc/err/a.jpg", 400, "Invalid width - abc"},
		{"image/upload/c_scale,h_-1/err/a.jpg", 400, "Invalid height - -1"},
		{"image/upload/g_auto,c_scale,w_10/err/a.jpg", 400, "Use auto gravity only with crop, fill, lfill, fill_pad or thumb"},
		{"image/upload/w_10/v1/err/missing.jpg", 404, "Resource not found - err/missing"},
		{"image/upload/nothing-here.jpg", 404, "Resource not found - nothing-here"},
		{"video/upload/dog.mp4", 501, "Video delivery is not supported"},
		{"image/authenticated/err/a.jpg", 401, "Signature required for this resource"},
		{"image/private/err/a.jpg", 401, "Signature required for this resource"},
		{"image/upload/s--AAAAAAAA--/err/a.jpg", 401, "Invalid signature"},
		{"image/upload/w_100000,h_100000/err/a.jpg", 400, "Requested image is too large (100000x100000 is over 25000000 pixels)"},
		{"raw/upload/w_10/err/a.jpg", 400, "Transformations are not supported for raw files"},
		{"image/upload/w_10/err/a.tiff", 400, "Unsupported output format - tiff"},
		{"image/upload/err/a.heic", 400, "Unsupported output format - heic"},
		{"image/upload/w_0.5/v1/err/a.png", 200, ""},
	}
	for _, c := range cases {
		r := fetch(t, base+c.path)
		if r.status != c.status || r.header.Get("X-Cld-Error") != c.msg {
			t.Errorf("%s: %d %q, want %d %q", c.path, r.status, r.header.Get("X-Cld-Error"), c.status, c.msg)
		}
		if r.header.Get("X-Cache") != "MISS" {
			t.Errorf("%s: an error response without X-Cache: MISS", c.path)
		}
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/othercloud/image/upload/a.jpg"); r.status != 404 {
		t.Errorf("an unknown cloud: %d", r.status)
	}
	// A private asset's derivative is public; its original needs a signature.
	priv := rawUpload(t, n, "image", testimg.JPEG(testimg.Quadrants(120, 80)), "p.jpg", secret, time.Now(),
		url.Values{"public_id": {"p"}, "type": {"private"}})
	if priv.status != 200 || !strings.Contains(priv.URL, "/image/private/") {
		t.Fatalf("private upload: %d %s %s", priv.status, priv.Error.Message, priv.URL)
	}
	expectImage(t, fetch(t, base+"image/private/w_60/p.jpg"), format.JPEG, 60, 40)
	sig := sign.Delivery("p.jpg", secret, false)
	expectImage(t, fetch(t, base+"image/private/s--"+sig+"--/p.jpg"), format.JPEG, 120, 80)
	long := sign.Delivery("w_30/p.jpg", secret, true)
	expectImage(t, fetch(t, base+"image/private/s--"+long+"--/w_30/p.jpg"), format.JPEG, 30, 20)
}

func TestHTTPSemantics(t *testing.T) {
	n := newNode(t, func(c *devConfig) { c.MaxAge = 90 * time.Second })
	up := rawUpload(t, n, "image", testimg.JPEG(testimg.Quadrants(120, 80)), "a.jpg", secret, time.Now(), url.Values{"public_id": {"h"}})
	if up.status != 200 {
		t.Fatal(up.Error.Message)
	}
	u := "http://" + n.edgeAddr + "/testcloud/image/upload/w_50/h.jpg"
	r := fetch(t, u)
	etag := r.header.Get("ETag")
	if r.status != 200 || etag == "" || r.header.Get("Cache-Control") != "public, max-age=90" {
		t.Fatalf("unversioned: %d etag %q cache-control %q", r.status, etag, r.header.Get("Cache-Control"))
	}
	if nm := fetch(t, u, "If-None-Match", etag); nm.status != 304 || len(nm.body) != 0 || nm.header.Get("X-Cache") != "HIT" {
		t.Errorf("If-None-Match: %d, %d bytes", nm.status, len(nm.body))
	}
	if nm := fetch(t, u, "If-None-Match", `"other", `+etag); nm.status != 304 {
		t.Errorf("If-None-Match with a list: %d", nm.status)
	}
	if nm := fetch(t, u, "If-None-Match", `"other"`); nm.status != 200 {
		t.Errorf("a non-matching If-None-Match: %d", nm.status)
	}
	req, _ := http.NewRequest("HEAD", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(r.body)) || resp.Header.Get("X-Cache") != "HIT" {
		t.Errorf("HEAD: %d, length %d of %d", resp.StatusCode, resp.ContentLength, len(r.body))
	}
	req, _ = http.NewRequest("POST", u, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST to the edge: %v %v", resp.StatusCode, err)
	}
	// ?_a= and other query parameters do not split the cache.
	if q := fetch(t, u+"?_a=AQAV6op"); q.header.Get("X-Cache") != "HIT" {
		t.Errorf("?_a= missed the cache: %q", q.header.Get("X-Cache"))
	}
	// A reordered transformation is the same derivative to the cache.
	if q := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/c_scale,w_50/h.jpg"); q.status != 200 {
		t.Errorf("reordered: %d", q.status)
	}
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/testcloud/iu/w_50/h.jpg"), format.JPEG, 50, 33)
	// Metrics count hits and misses.
	if metric(t, n, `refract_edge_requests_total{cache="hit"}`) < 5 || metric(t, n, `refract_edge_requests_total{cache="miss"}`) < 1 {
		t.Error("edge request metrics did not count")
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := fetch(t, "http://"+n.opsAddr+p); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

func TestUploadRefusals(t *testing.T) {
	n := newNode(t, func(c *devConfig) { c.MaxUploadPixels = 1_000_000 })
	good := testimg.JPEG(testimg.Quadrants(400, 300))
	cases := []struct {
		name   string
		file   []byte
		secret string
		ts     time.Time
		status int
		msg    string
	}{
		{"wrong signature", good, "not-the-secret", time.Now(), 401, "Invalid Signature"},
		{"stale timestamp", good, secret, time.Now().Add(-2 * time.Hour), 401, "Stale request - reported time is"},
		{"truncated jpeg", good[:len(good)/2], secret, time.Now(), 400, "Invalid image file"},
		{"not an image", []byte("#!/bin/sh\necho hello\n"), secret, time.Now(), 400, "Invalid image file"},
		{"over the pixel limit", testimg.JPEG(testimg.Quadrants(1200, 1000)), secret, time.Now(), 400, "Image is too large: 1200x1000 is over the limit of 1000000 pixels"},
	}
	for _, c := range cases {
		r := rawUpload(t, n, "image", c.file, "x.jpg", c.secret, c.ts, url.Values{"public_id": {"refused"}})
		if r.status != c.status || !strings.HasPrefix(r.Error.Message, c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.name, r.status, r.Error.Message, c.status, c.msg)
		}
	}
	if files := storedFiles(t, n, ""); len(files) != 0 {
		t.Errorf("refused uploads stored files: %v", files)
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/refused.jpg"); r.status != 404 {
		t.Errorf("a refused upload is deliverable: %d", r.status)
	}
	// Too many bytes are refused without being stored.
	big := rawUpload(t, n, "raw", make([]byte, 21<<20), "big.bin", secret, time.Now(), nil)
	if big.status != 400 || !strings.HasPrefix(big.Error.Message, "File size too large") {
		t.Errorf("a 21 MiB upload: %d %q", big.status, big.Error.Message)
	}
	// The staging directory is empty again.
	if files := storedFiles(t, n, "../tmp"); len(files) != 0 {
		t.Errorf("staged files left behind: %v", files)
	}
	// HTTP Basic is accepted instead of a signature.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("public_id", "basic")
	fw, _ := mw.CreateFormFile("file", "b.jpg")
	fw.Write(good)
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+n.apiAddr+"/v1_1/testcloud/image/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.SetBasicAuth("123456789012345", secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("Basic auth upload: %v %v", resp.StatusCode, err)
	}
}

func TestUploadNamingAndFormats(t *testing.T) {
	n := newNode(t, nil)
	img := testimg.JPEG(testimg.Quadrants(100, 60))
	r := rawUpload(t, n, "image", img, "My Holiday.jpg", secret, time.Now(), url.Values{"use_filename": {"true"}, "folder": {"trips/2026"}})
	if r.status != 200 || !strings.HasPrefix(r.PublicID, "trips/2026/My Holiday_") || len(r.PublicID) != len("trips/2026/My Holiday_")+6 {
		t.Errorf("use_filename: %q", r.PublicID)
	}
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_50/"+strings.ReplaceAll(r.PublicID, " ", "%20")+".jpg"), format.JPEG, 50, 30)
	r = rawUpload(t, n, "image", img, "x.jpg", secret, time.Now(), url.Values{"use_filename": {"true"}, "unique_filename": {"false"}})
	if r.PublicID != "x" {
		t.Errorf("unique_filename=false: %q", r.PublicID)
	}
	r = rawUpload(t, n, "image", img, "x.jpg", secret, time.Now(), nil)
	if len(r.PublicID) != 20 || r.PublicID[0] < 'a' || r.PublicID[0] > 'z' {
		t.Errorf("random public_id %q", r.PublicID)
	}
	// overwrite=false keeps the first upload.
	other := testimg.JPEG(testimg.Quadrants(80, 80))
	r2 := rawUpload(t, n, "image", other, "y.jpg", secret, time.Now(), url.Values{"public_id": {"x"}, "overwrite": {"false"}})
	if r2.status != 200 || r2.Width != 100 {
		t.Errorf("overwrite=false replaced the asset: %+v", r2)
	}
	// auto detects images and falls back to raw; raw is delivered as is.
	a := rawUpload(t, n, "auto", img, "pic.jpg", secret, time.Now(), url.Values{"public_id": {"auto-img"}})
	if a.Resource != "image" || a.Format != "jpg" {
		t.Errorf("auto upload of a JPEG: %+v", a)
	}
	doc := []byte("%PDF-not-really\nhello\n")
	raw := rawUpload(t, n, "auto", doc, "notes.txt", secret, time.Now(), url.Values{"use_filename": {"true"}, "unique_filename": {"false"}})
	if raw.Resource != "raw" || raw.PublicID != "notes.txt" {
		t.Fatalf("auto upload of text: %+v", raw)
	}
	if got := fetch(t, raw.URL); got.status != 200 || !bytes.Equal(got.body, doc) {
		t.Errorf("raw delivery: %d %q", got.status, got.body)
	}
	// A data: URI, form-encoded without a Content-Type header, as the SDKs send it.
	p := url.Values{"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "public_id": {"from-data-uri"}}
	p.Set("signature", sign.Hex(sign.UploadToSign(p), secret, sign.SHA1))
	p.Set("api_key", "123456789012345")
	p.Set("file", "data:image/jpeg;base64,"+base64(img))
	req, _ := http.NewRequest("POST", "http://"+n.apiAddr+"/v1_1/testcloud/image/upload", strings.NewReader(p.Encode()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("data URI upload: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_10/from-data-uri.png"), format.PNG, 10, 6)
}

// Concurrent uploads to one public_id: every reader sees one whole
// version, and exactly one original remains.
func TestConcurrentUploadsToOneID(t *testing.T) {
	n := newNode(t, nil)
	const writers = 8
	versions := map[string][2]int{} // MD5 of each uploaded file -> its size
	files := make([][]byte, writers)
	for i := range files {
		w, h := 100+10*i, 50+5*i
		files[i] = testimg.JPEG(testimg.Quadrants(w, h))
		sum := md5.Sum(files[i])
		versions[hex.EncodeToString(sum[:])] = [2]int{w, h}
	}
	// One version exists before the race, so every read has something to check.
	if r := rawUpload(t, n, "image", files[0], "c.jpg", secret, time.Now(), url.Values{"public_id": {"contended"}}); r.status != 200 {
		t.Fatal(r.Error.Message)
	}
	var wg sync.WaitGroup
	statuses := make(chan int, writers)
	for i := 1; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- rawUploadStatus(n, files[i], "contended")
		}()
	}
	racing := make(chan struct{})
	go func() { wg.Wait(); close(racing) }()
	// Read while the writers race, through versioned URLs that each miss
	// the edge, so every read is answered by the origin from the store.
	reads := 0
	for i := 0; ; i++ {
		r := fetch(t, fmt.Sprintf("http://%s/testcloud/image/upload/v%d/contended.jpg", n.edgeAddr, 1000+i))
		sum := md5.Sum(r.body)
		if _, ok := versions[hex.EncodeToString(sum[:])]; r.status != 200 || !ok {
			t.Fatalf("a read during the race returned %d and %d bytes that are no uploaded version", r.status, len(r.body))
		}
		reads++
		if isClosed(racing) && reads >= 20 {
			break
		}
	}
	close(statuses)
	for s := range statuses {
		if s != 200 && s != 409 {
			t.Errorf("a racing upload answered %d", s)
		}
	}
	r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/v999/contended.jpg")
	sum := md5.Sum(r.body)
	dims, ok := versions[hex.EncodeToString(sum[:])]
	if !ok {
		t.Fatal("the final original is none of the uploaded files")
	}
	img, err := jpeg.Decode(bytes.NewReader(r.body))
	if err != nil || img.Bounds().Dx() != dims[0] || img.Bounds().Dy() != dims[1] {
		t.Errorf("the final original does not decode to its own size")
	}
	d := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_1.0/v999/contended.png")
	expectImage(t, d, format.PNG, dims[0], dims[1])
	if files := storedFiles(t, n, "originals"); len(files) != 1 {
		t.Errorf("%d originals remain, want 1: %v", len(files), files)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// rawUploadStatus is a signed upload for goroutines that must not call
// t.Fatal; it returns the HTTP status (0 if the request failed).
func rawUploadStatus(n *devNode, file []byte, publicID string) int {
	p := url.Values{"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "public_id": {publicID}}
	body, ctype := signedMultipart(p, secret, file, "f.jpg")
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", ctype, body)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
