package derive

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/limit"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/origin/store/localfs"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/peerauth"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/urlapi"
)

func service(t *testing.T, slots, queue int) *Service {
	st, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := &asset.Repo{Store: st}
	src := testimg.JPEG(testimg.Quadrants(400, 300))
	a := &asset.Asset{Cloud: "c", ResourceType: "image", Type: "upload", PublicID: "p", Version: 5, Format: "jpg", Width: 400, Height: 300}
	if _, err := repo.Save(context.Background(), a, bytes.NewReader(src), true); err != nil {
		t.Fatal(err)
	}
	render.Startup()
	return New(Config{Assets: repo, Limit: limit.New(slots, queue), Secret: []byte("peer"), MaxPixels: 25e6, MaxSourceBytes: 1 << 20})
}

func call(s *Service, spec derivative.Spec, secret string, tamper func(*http.Request)) *httptest.ResponseRecorder {
	uri := derivative.Endpoint + "?" + spec.Query()
	req := httptest.NewRequest("GET", uri, nil)
	req.Header.Set(peerauth.Header, peerauth.Sign([]byte(secret), "GET", uri, time.Now()))
	if tamper != nil {
		tamper(req)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

var spec = derivative.Spec{Cloud: "c", ResourceType: urlapi.Image, Type: urlapi.Upload, PublicID: "p", Tx: "w_100", Format: format.PNG}

func TestPeerAuth(t *testing.T) {
	s := service(t, 1, 1)
	if rec := call(s, spec, "peer", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" || rec.Header().Get(derivative.HeaderVersion) != "5" {
		t.Fatalf("a signed request: %d %v", rec.Code, rec.Header())
	}
	other := spec
	other.Tx = "w_200"
	for name, tamper := range map[string]func(*http.Request){
		"no header":   func(r *http.Request) { r.Header.Del(peerauth.Header) },
		"other query": func(r *http.Request) { r.URL.RawQuery = other.Query() },
		"replayed later": func(r *http.Request) {
			r.Header.Set(peerauth.Header, peerauth.Sign([]byte("peer"), "GET", r.URL.RequestURI(), time.Now().Add(-time.Hour)))
		},
	} {
		if rec := call(s, spec, "peer", tamper); rec.Code != 401 {
			t.Errorf("%s: %d, want 401", name, rec.Code)
		}
	}
	if rec := call(s, spec, "wrong", nil); rec.Code != 401 {
		t.Errorf("the wrong secret: %d", rec.Code)
	}
}

func TestAnswers(t *testing.T) {
	s := service(t, 1, 0)
	missing := spec
	missing.PublicID = "nope"
	if rec := call(s, missing, "peer", nil); rec.Code != 404 || rec.Header().Get("X-Cld-Error") != "Resource not found - nope" {
		t.Errorf("a missing asset: %d %q", rec.Code, rec.Header().Get("X-Cld-Error"))
	}
	first := call(s, spec, "peer", nil)
	if first.Header().Get(derivative.HeaderSource) != "render" {
		t.Fatalf("first answer came from %q", first.Header().Get(derivative.HeaderSource))
	}
	again := call(s, spec, "peer", nil)
	if again.Header().Get(derivative.HeaderSource) != "hit" || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) || again.Header().Get("ETag") != first.Header().Get("ETag") {
		t.Errorf("the stored derivative was not reused: %q", again.Header().Get(derivative.HeaderSource))
	}
	// With the only slot taken and no queue, a new render is refused at once.
	release, _ := s.cfg.Limit.Acquire(context.Background())
	busy := spec
	busy.Tx = "w_50"
	rec := call(s, busy, "peer", nil)
	release()
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a render past the queue: %d", rec.Code)
	}
}
