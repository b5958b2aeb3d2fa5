package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

// remoteImages serves a 400×300 JPEG at /photo.jpg, text at /notes.txt
// and 404 elsewhere, on 127.0.0.1, counting requests per path.
func remoteImages(t *testing.T) (*httptest.Server, *remoteCounts) {
	t.Helper()
	jpeg := testimg.JPEG(testimg.Quadrants(400, 300))
	counts := &remoteCounts{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counts.add(r.URL.Path)
		switch r.URL.Path {
		case "/photo.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(jpeg)
		case "/notes.txt":
			w.Write([]byte("not an image"))
		case "/huge.jpg": // over the test node's 1 MiB source limit
			w.Write(make([]byte, 3<<20))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, counts
}

type remoteCounts struct{ photo, other atomic.Int32 }

func (c *remoteCounts) add(path string) {
	if path == "/photo.jpg" {
		c.photo.Add(1)
	} else {
		c.other.Add(1)
	}
}

// Fetch delivery: a remote image from an allowed domain is downloaded
// once and transformed like an upload; other domains, private addresses
// and non-images are refused with Cloudinary's messages.
func TestFetchDelivery(t *testing.T) {
	srv, counts := remoteImages(t)
	fc := cloud.Cloud{Name: "fetcher", APIKey: "555", APISecret: "fetch-secret", FetchDomains: []string{"127.0.0.1"}}
	closed := cloud.Cloud{Name: "closed", APIKey: "556", APISecret: "closed-secret"}
	n := newTestNode(t, func(c *devConfig) {
		c.Clouds = []cloud.Cloud{fc, closed}
		c.RemoteAllow = []string{"127.0.0.1/32"} // the test's remote server is on loopback
		c.MaxUploadBytes = 1 << 20
	})
	base := "http://" + n.edgeAddr
	photo := srv.URL + "/photo.jpg"

	r := fetch(t, base+"/fetcher/image/fetch/w_100/"+photo)
	expectImage(t, r, format.JPEG, 100, 75)
	if got := pixelAt(t, r.body, 10, 10); got[0] < 200 || got[2] > 60 {
		t.Errorf("top-left pixel %v, want the red quadrant", got)
	}
	// Encoded whole, another transformation: the same download serves it.
	r = fetch(t, base+"/fetcher/image/fetch/w_50,h_50,c_fill/f_png/"+url.QueryEscape(photo))
	expectImage(t, r, format.PNG, 50, 50)
	if r := fetch(t, base+"/fetcher/image/fetch/w_100/"+photo); r.status != 200 || r.header.Get("X-Cache") != "HIT" {
		t.Errorf("second request: %d %s", r.status, r.header.Get("X-Cache"))
	}
	// The original, untransformed.
	expectImage(t, fetch(t, base+"/fetcher/image/fetch/"+photo), format.JPEG, 400, 300)
	if got := counts.photo.Load(); got != 1 {
		t.Errorf("the remote image was downloaded %d times, want 1", got)
	}

	refused := []struct {
		url    string
		status int
		msg    string
	}{
		{base + "/closed/image/fetch/w_100/" + photo, 401, "Fetch from 127.0.0.1 is not allowed"},
		{base + "/fetcher/image/fetch/w_100/" + strings.Replace(photo, "127.0.0.1", "localhost", 1), 401, "Fetch from localhost is not allowed"},
		{base + "/fetcher/image/fetch/w_100/" + srv.URL + "/missing.jpg", 404, "Error in loading " + srv.URL + "/missing.jpg - 404 Not Found"},
		{base + "/fetcher/image/fetch/w_100/" + srv.URL + "/notes.txt", 400, "Error in loading " + srv.URL + "/notes.txt - not an image"},
		{base + "/fetcher/image/fetch/w_100/ftp://127.0.0.1/x.jpg", 400, "Invalid fetch URL"},
		{base + "/fetcher/image/fetch/w_100/" + srv.URL + "/huge.jpg", 400, "Error in loading " + srv.URL + "/huge.jpg - file too large"},
	}
	for _, c := range refused {
		r := fetch(t, c.url)
		if msg := r.header.Get("X-Cld-Error"); r.status != c.status || !strings.HasPrefix(msg, c.msg) {
			t.Errorf("GET %s: %d %q, want %d %q", c.url, r.status, msg, c.status, c.msg)
		}
	}
}

// Without remote.allow the SSRF guard refuses loopback even when the
// cloud lists it: the same guard as remote uploads.
func TestFetchSSRFGuard(t *testing.T) {
	srv, counts := remoteImages(t)
	fc := cloud.Cloud{Name: "fetcher", APIKey: "555", APISecret: "fetch-secret", FetchDomains: []string{"127.0.0.1", "localhost"}}
	n := newNode(t, func(c *devConfig) { c.Clouds = []cloud.Cloud{fc} })
	for _, u := range []string{srv.URL + "/photo.jpg", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/photo.jpg"} {
		r := fetch(t, "http://"+n.edgeAddr+"/fetcher/image/fetch/w_100/"+u)
		if msg := r.header.Get("X-Cld-Error"); r.status != 401 || !strings.Contains(msg, "Forbidden address") {
			t.Errorf("fetch of %s: %d %q, want 401 Forbidden address", u, r.status, msg)
		}
	}
	if got := counts.photo.Load() + counts.other.Load(); got != 0 {
		t.Errorf("the guarded server was reached %d times", got)
	}
}
