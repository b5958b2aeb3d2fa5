package main

import (
	"bytes"
	"context"
	b64 "encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/format"
)

// testCloud is the CLOUDINARY_URL of test nodes.
const testCloud = "cloudinary://123456789012345:test-secret-abc@testcloud"

// newNode starts a refract dev node on loopback ports chosen by the OS,
// in a fresh data directory, and stops it when the test ends.
func newNode(t *testing.T, mod func(*devConfig)) *devNode {
	t.Helper()
	cfg := defaultDevConfig()
	cfg.Data = t.TempDir()
	cfg.EdgeAddr, cfg.APIAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.CloudinaryURL = testCloud
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if mod != nil {
		mod(&cfg)
	}
	n, err := startDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t *testing.T, url string, header ...string) response {
	t.Helper()
	r, err := get(url, header...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// get is fetch for goroutines other than the test's, which must not
// call t.Fatal.
func get(url string, header ...string) (response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return response{resp.StatusCode, resp.Header, b}, nil
}

// expectImage checks a delivery answered 200 with a decodable image of
// the given format and size.
func expectImage(t *testing.T, r response, f format.Format, w, h int) {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d (X-Cld-Error %q), want 200", r.status, r.header.Get("X-Cld-Error"))
	}
	if got := render.Sniff(r.body); got != f {
		t.Fatalf("body is %v, want %v", got, f)
	}
	if ct := r.header.Get("Content-Type"); ct != f.MIME() {
		t.Errorf("Content-Type %q, want %q", ct, f.MIME())
	}
	var gw, gh int
	if f == format.JPEG {
		img, err := jpeg.Decode(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		gw, gh = img.Bounds().Dx(), img.Bounds().Dy()
	} else {
		info, err := render.Probe(r.body, 1e8)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		gw, gh = info.Width, info.Height
	}
	if gw != w || gh != h {
		t.Fatalf("image is %dx%d, want %dx%d", gw, gh, w, h)
	}
}

// metric reads one sample (name with its labels, as exposed) from the
// node's /metrics.
func metric(t *testing.T, n *devNode, sample string) int {
	t.Helper()
	return metricAt(t, "http://"+n.opsAddr+"/metrics", sample)
}

// metricAt reads one sample from a /metrics URL; a counter not yet
// exported reads as 0 when it has labels (it exists once counted).
func metricAt(t *testing.T, url, sample string) int {
	t.Helper()
	r := fetch(t, url)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\d+)$`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("%s is missing from /metrics", sample)
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

// renders is refract_renders_total: renders libvips actually performed.
func renders(t *testing.T, n *devNode) int { return metric(t, n, "refract_renders_total") }

// storedFiles lists the files under the node's store prefix, e.g. "originals".
func storedFiles(t *testing.T, n *devNode, prefix string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(n.cfg.Data, "store", prefix)
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func size(img image.Image) (int, int) { return img.Bounds().Dx(), img.Bounds().Dy() }

func base64(b []byte) string { return b64.StdEncoding.EncodeToString(b) }

// pixelAt decodes an image and returns the RGBA of one pixel.
func pixelAt(t *testing.T, b []byte, x, y int) [4]uint8 {
	t.Helper()
	img, _, err := render.Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	c := img.NRGBAAt(x, y)
	return [4]uint8{c.R, c.G, c.B, c.A}
}

// newTestNode is newNode on the best store this machine has: MinIO when
// its binary is built (always under make test), else the local disk.
func newTestNode(t *testing.T, mod func(*devConfig)) *devNode {
	t.Helper()
	if !s3Available() {
		t.Log("no S3 test server built (make minio): running on the local store")
		return newNode(t, mod)
	}
	s3 := withS3(t, s3test.Start(t))
	return newNode(t, func(c *devConfig) {
		s3(c)
		if mod != nil {
			mod(c)
		}
	})
}

// storedKeys lists the keys under prefix in the node's store.
func storedKeys(t *testing.T, n *devNode, prefix string) []string {
	t.Helper()
	var keys []string
	for after := ""; ; {
		objs, err := n.origin.store.List(context.Background(), prefix, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) == 0 {
			return keys
		}
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		after = objs[len(objs)-1].Key
	}
}

// s3Available says whether the S3 test server's binary is built (make
// test builds it and sets REFRACT_REQUIRE_S3, so there it always is).
func s3Available() bool {
	_, path := s3test.Binary()
	if _, err := os.Stat(path); err == nil {
		return true
	}
	return os.Getenv("REFRACT_REQUIRE_S3") == "1" // s3test.Start fails loudly
}

// withS3 points a node at a fresh bucket on srv through the standard AWS
// environment, as an operator would.
func withS3(t *testing.T, srv *s3test.Server) func(*devConfig) {
	setS3Env(t, srv)
	return func(c *devConfig) { c.Store = srv.URL() }
}

// setS3Env sets the standard AWS variables for srv for this test.
func setS3Env(tb testing.TB, srv *s3test.Server) {
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		tb.Setenv(k, v)
	}
}
