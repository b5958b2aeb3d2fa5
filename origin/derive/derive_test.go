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
	"github.com/refract-cdn/refract/shared/cloud"
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

func TestStrict(t *testing.T) {
	s := service(t, 2, 2)
	s.cfg.Clouds = cloud.NewRegistry(cloud.Cloud{Name: "c", APIKey: "k", APISecret: "s", StrictTransformations: true})
	s.cfg.Named = func(_, name string) (string, bool) {
		return map[string]string{"ok": "w_50", "no": "w_60"}[name], name == "ok" || name == "no"
	}
	s.cfg.AllowedForStrict = func(_, name string) bool { return name == "ok" }
	code := func(sp derivative.Spec) (int, string) {
		rec := call(s, sp, "peer", nil)
		return rec.Code, rec.Header().Get("X-Cld-Error")
	}
	if c, msg := code(spec); c != 401 || msg != "Transformation w_100/png is not allowed" {
		t.Errorf("an ad-hoc transformation: %d %q", c, msg)
	}
	signed := spec
	signed.Signed = true
	if c, msg := code(signed); c != 200 {
		t.Errorf("a signed URL: %d %q", c, msg)
	}
	// Now that it exists, the unsigned URL gets it too.
	if c, msg := code(spec); c != 200 {
		t.Errorf("an existing derivative: %d %q", c, msg)
	}
	eager := spec
	eager.Tx = "c_fill,h_40,w_40"
	if c, _ := code(eager); c != 401 {
		t.Errorf("before the eager render: %d", c)
	}
	a, _, err := s.cfg.Assets.Get(context.Background(), "c", "image", "upload", "p")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Eager(context.Background(), a, "w_40,h_40,c_fill", format.PNG)
	if err != nil || out.Format != format.PNG {
		t.Fatalf("Eager: %v %v", out.Format, err)
	}
	if info, err := render.Probe(out.Body, 1e6); err != nil || info.Width != 40 || info.Height != 40 {
		t.Fatalf("eager output: %+v %v", info, err)
	}
	if c, msg := code(eager); c != 200 {
		t.Errorf("after the eager render: %d %q", c, msg)
	}
	named := spec
	named.Tx, named.Format = "t_ok", format.Unknown
	if c, msg := code(named); c != 200 {
		t.Errorf("an allowed named transformation: %d %q", c, msg)
	}
	named.Tx = "t_no"
	if c, _ := code(named); c != 401 {
		t.Errorf("a named transformation not allowed for strict: %d", c)
	}
	named.Tx = "t_ok/w_10"
	if c, _ := code(named); c != 401 {
		t.Errorf("an allowed name followed by an ad-hoc component: %d", c)
	}
	orig := spec
	orig.Tx, orig.Format = "", format.Unknown
	if c, _ := code(orig); c != 200 {
		t.Errorf("the original: %d", c)
	}
}
