package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/token"
)

const fleetSecret = "fleet-peer-secret-0123456789"

// fleet is origins sharing one store and an edge in front of them.
type fleet struct {
	origins []*originNode
	edge    *edgeNode
	cloud   cloud.Cloud
	logs    *lockedBuffer // the edge's access log
}

func startFleet(t *testing.T, origins int, mod func(*config.Edge)) *fleet {
	t.Helper()
	c, _ := cloud.ParseURL(testCloud)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fleet{cloud: c, logs: &lockedBuffer{}}
	var addrs []string
	f.origins, addrs = startOrigins(t, origins, c, log, nil)
	ec := config.DefaultEdge()
	ec.Listen, ec.OpsListen, ec.Origins, ec.PeerSecret = "127.0.0.1:0", "127.0.0.1:0", addrs, fleetSecret
	ec.Clouds = []cloud.Cloud{c}
	ec.Cache.DiskDir = ""
	ec.Origin.Timeout = 5e9
	if mod != nil {
		mod(&ec)
	}
	e, err := startEdge(context.Background(), ec, log, f.logs)
	if err != nil {
		t.Fatal(err)
	}
	f.edge = e
	t.Cleanup(func() {
		// Connections the client dialled but never used would hold the
		// edge's graceful shutdown for its read timeout.
		http.DefaultClient.CloseIdleConnections()
		// The test may have replaced (restarted) the edge.
		if err := f.edge.shutdown(); err != nil {
			t.Errorf("edge shutdown: %v", err)
		}
	})
	return f
}

// startOrigins starts n origins of cloud c on one store (MinIO when it
// is built), each changed by mod, and stops them when the test ends.
func startOrigins(t testing.TB, n int, c cloud.Cloud, log *slog.Logger, mod func(*config.Origin)) ([]*originNode, []string) {
	t.Helper()
	store := filepath.Join(t.TempDir(), "store")
	if s3Available() {
		srv := s3test.Start(t)
		setS3Env(t, srv)
		store = srv.URL()
	}
	var nodes []*originNode
	var addrs []string
	for i := 0; i < n; i++ {
		oc := config.DefaultOrigin()
		oc.Listen, oc.OpsListen = "127.0.0.1:0", "127.0.0.1:0"
		oc.Store, oc.Data, oc.PeerSecret, oc.NodeID = store, t.TempDir(), fleetSecret, fmt.Sprint("origin-", i)
		oc.Clouds = []cloud.Cloud{c}
		oc.Limits.RenderConcurrency = 2
		if mod != nil {
			mod(&oc)
		}
		o, err := startOrigin(context.Background(), oc, log)
		if err != nil {
			t.Fatal(err)
		}
		nodes, addrs = append(nodes, o), append(addrs, o.apiAddr)
		t.Cleanup(func() { shutdownOnce(o) })
	}
	return nodes, addrs
}

// shutdownOnce stops an origin a test may already have stopped.
func shutdownOnce(n *originNode) {
	if n.stopped {
		return
	}
	n.stopped = true
	n.shutdown()
}

func (f *fleet) sdk(t *testing.T, origin int) *cloudinary.Cloudinary {
	cld, err := cloudinary.NewFromURL(testCloud + "?upload_prefix=http://" + f.origins[origin].apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	return cld
}

// Two origins, one killed: cached objects keep coming with no 5xx, and
// misses fail over to the survivor.
func TestEdgeOriginFailover(t *testing.T) {
	f := startFleet(t, 2, nil)
	res, err := f.sdk(t, 0).Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(400, 300))), uploader.UploadParams{PublicID: "fleet/pic"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %+v", err, res)
	}
	base := "http://" + f.edge.addr + "/testcloud/image/upload/"
	const n = 12
	for w := 1; w <= n; w++ {
		expectImage(t, fetch(t, fmt.Sprintf("%sw_%d/fleet/pic.jpg", base, 20*w)), format.JPEG, 20*w, 15*w)
	}
	// Both origins rendered some: rendezvous spread the derivatives.
	served := [2]int{}
	for i, o := range f.origins {
		served[i] = originMetric(t, o, `refract_derive_requests_total{outcome="render"}`)
	}
	if served[0] == 0 || served[1] == 0 || served[0]+served[1] != n {
		t.Fatalf("renders per origin %v, want both used and %d in all", served, n)
	}
	f.origins[1].stopped = true
	if err := f.origins[1].shutdown(); err != nil {
		t.Fatal(err)
	}
	for w := 1; w <= n; w++ {
		r := fetch(t, fmt.Sprintf("%sw_%d/fleet/pic.jpg", base, 20*w))
		if r.status != 200 || r.header.Get("X-Cache") != "HIT" {
			t.Errorf("a cached derivative with an origin down: %d %s", r.status, r.header.Get("X-Cache"))
		}
	}
	for w := 1; w <= n; w++ {
		r := fetch(t, fmt.Sprintf("%sw_%d/fleet/pic.jpg", base, 20*w+1))
		if r.status != 200 {
			t.Errorf("a miss with one origin down: %d %q", r.status, r.header.Get("X-Cld-Error"))
		}
	}
}

func originMetric(t *testing.T, n *originNode, sample string) int {
	t.Helper()
	return metricAt(t, "http://"+n.opsAddr+"/metrics", sample)
}

// deriveRequests is how many derive requests an origin answered.
func deriveRequests(t *testing.T, o *originNode) int {
	t.Helper()
	r := fetch(t, "http://"+o.opsAddr+"/metrics")
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^refract_derive_requests_total\{outcome="[^"]+"\} (\d+)$`).FindAllSubmatch(r.body, -1) {
		v, _ := strconv.Atoi(string(m[1]))
		n += v
	}
	return n
}

func (f *fleet) upload(t *testing.T, id string) {
	t.Helper()
	res, err := f.sdk(t, 0).Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(400, 300))), uploader.UploadParams{PublicID: id})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %+v", err, res)
	}
}

// stale-while-revalidate: an expired entry is served STALE at once, and
// however many requests see it, exactly one refresh reaches the origin.
func TestEdgeStaleWhileRevalidate(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) {
		e.Cache.MaxAge, e.Cache.StaleWhileRevalidate, e.Cache.StaleIfError = time.Second, time.Minute, 0
	})
	f.upload(t, "swr")
	u := "http://" + f.edge.addr + "/testcloud/image/upload/w_100/swr.jpg" // unversioned: max_age applies
	expectImage(t, fetch(t, u), format.JPEG, 100, 75)
	time.Sleep(1300 * time.Millisecond)
	before := deriveRequests(t, f.origins[0])
	var wg sync.WaitGroup
	stale := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := get(u)
			if err == nil {
				stale <- fmt.Sprint(r.status, " ", r.header.Get("X-Cache"))
			}
		}()
	}
	wg.Wait()
	close(stale)
	for s := range stale {
		if s != "200 STALE" && s != "200 HIT" {
			t.Errorf("a request during revalidation: %s", s)
		}
	}
	waitFor(t, "the refresh", func() bool { return fetch(t, u).header.Get("X-Cache") == "HIT" })
	if got := deriveRequests(t, f.origins[0]) - before; got != 1 {
		t.Errorf("%d origin requests while stale, want exactly 1 refresh", got)
	}
}

// stale-if-error: with every origin stopped, an expired entry is served
// STALE instead of an error; a URL never cached fails cleanly.
func TestEdgeStaleIfError(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) {
		e.Cache.MaxAge, e.Cache.StaleWhileRevalidate, e.Cache.StaleIfError = time.Second, 0, time.Hour
		e.Origin.Timeout = time.Second
	})
	f.upload(t, "sie")
	u := "http://" + f.edge.addr + "/testcloud/image/upload/w_120/sie.jpg"
	first := fetch(t, u)
	expectImage(t, first, format.JPEG, 120, 90)
	shutdownOnce(f.origins[0])
	time.Sleep(1300 * time.Millisecond)
	r := fetch(t, u)
	if r.status != 200 || r.header.Get("X-Cache") != "STALE" || !bytes.Equal(r.body, first.body) {
		t.Errorf("with the origin down: %d %s (same bytes %v)", r.status, r.header.Get("X-Cache"), bytes.Equal(r.body, first.body))
	}
	if r := fetch(t, "http://"+f.edge.addr+"/testcloud/image/upload/w_121/sie.jpg"); r.status != 502 {
		t.Errorf("a miss with no origin: %d %q", r.status, r.header.Get("X-Cld-Error"))
	}
}

// The disk tier keeps hits across a restart, and a corrupted file is a
// miss (fetched again), never bad bytes.
func TestEdgeDiskTier(t *testing.T) {
	dir := t.TempDir()
	f := startFleet(t, 1, func(e *config.Edge) { e.Cache.DiskDir, e.Cache.DiskBytes = dir, 64<<20 })
	f.upload(t, "disk")
	base := "http://" + f.edge.addr + "/testcloud/image/upload/"
	urls := []string{base + "w_80/disk.jpg", base + "w_160/disk.jpg"}
	bodies := map[string][]byte{}
	for _, u := range urls {
		r := fetch(t, u)
		w := map[string]int{urls[0]: 80, urls[1]: 160}[u]
		expectImage(t, r, format.JPEG, w, w*3/4)
		bodies[u] = r.body
	}
	waitFor(t, "the disk writes", func() bool { return f.edge.disk.Len() == 2 })
	// Restart the edge on the same directory: RAM is empty, disk is not.
	ec := f.edge.cfg
	http.DefaultClient.CloseIdleConnections()
	if err := f.edge.shutdown(); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "LOCK" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 2 {
		t.Fatalf("disk files %v", files)
	}
	// Corrupt one entry's body: its last bytes.
	b, _ := os.ReadFile(files[0])
	b[len(b)-20] ^= 0xff
	os.WriteFile(files[0], b, 0o600)

	e, err := startEdge(context.Background(), ec, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f.edge = e
	before := deriveRequests(t, f.origins[0])
	base = "http://" + e.addr + "/testcloud/image/upload/"
	for i, path := range []string{"w_80/disk.jpg", "w_160/disk.jpg"} {
		r := fetch(t, base+path)
		if r.status != 200 || !bytes.Equal(r.body, bodies[urls[i]]) {
			t.Errorf("%s after the restart: %d, same bytes %v", path, r.status, bytes.Equal(r.body, bodies[urls[i]]))
		}
	}
	if got := deriveRequests(t, f.origins[0]) - before; got != 1 {
		t.Errorf("%d origin requests after the restart, want 1 (the corrupted entry)", got)
	}
	if hits := metricAt(t, "http://"+e.opsAddr+"/metrics", `refract_edge_requests_total{cache="hit_disk"}`); hits != 1 {
		t.Errorf("%d disk hits, want 1", hits)
	}
	if c := metricAt(t, "http://"+e.opsAddr+"/metrics", "refract_edge_disk_corrupt_total"); c != 1 {
		t.Errorf("%d corrupt entries counted, want 1", c)
	}
}

// Authenticated assets with __cld_token__: a valid token (ACL or URL
// bound) delivers; expired, wrong-ACL and tampered ones get 401. A
// referrer outside the cloud's list gets 401, and a burst past the rate
// limit gets 429 with Retry-After.
func TestEdgeAccess(t *testing.T) {
	const keyHex = "00112233445566778899aabbccddeeff"
	f := startFleet(t, 1, func(e *config.Edge) {
		e.Clouds[0].TokenKey = keyHex
		e.RateLimit.Rate, e.RateLimit.Burst = 1, 40
	})
	res, err := f.sdk(t, 0).Upload.Upload(context.Background(), bytes.NewReader(testimg.JPEG(testimg.Quadrants(400, 300))),
		uploader.UploadParams{PublicID: "secret", Type: "authenticated"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload: %v %+v", err, res)
	}
	key, _ := hex.DecodeString(keyHex)
	path := "/testcloud/image/authenticated/w_100/secret.jpg"
	u := "http://" + f.edge.addr + path
	tok := func(p token.Params) string {
		p.Key = key
		s, err := token.Generate(p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if r := fetch(t, u); r.status != 401 {
		t.Errorf("no signature, no token: %d", r.status)
	}
	good := tok(token.Params{Duration: time.Minute, ACL: []string{"/testcloud/image/authenticated/*"}})
	expectImage(t, fetch(t, u+"?__cld_token__="+good), format.JPEG, 100, 75)
	urlBound := tok(token.Params{Duration: time.Minute, URL: path})
	expectImage(t, fetch(t, u+"?__cld_token__="+urlBound), format.JPEG, 100, 75)
	tampered := good[:len(good)-1] + map[bool]string{true: "0", false: "1"}[good[len(good)-1] != '0']
	for name, tk := range map[string]string{
		"expired":       tok(token.Params{Expiration: time.Now().Add(-time.Minute), ACL: []string{"/testcloud/*"}}),
		"wrong ACL":     tok(token.Params{Duration: time.Minute, ACL: []string{"/testcloud/image/upload/*"}}),
		"other URL":     tok(token.Params{Duration: time.Minute, URL: "/testcloud/image/authenticated/w_200/secret.jpg"}),
		"tampered hmac": tampered,
	} {
		if r := fetch(t, u+"?__cld_token__="+tk); r.status != 401 {
			t.Errorf("%s token: %d", name, r.status)
		}
	}

	// Rate limit: the burst (40, less what ran above) then 429s.
	limited := 0
	var retry string
	for i := 0; i < 60; i++ {
		r := fetch(t, "http://"+f.edge.addr+"/testcloud/image/upload/w_10/secret.jpg")
		if r.status == 429 {
			limited++
			retry = r.header.Get("Retry-After")
		}
	}
	if limited < 20 || retry == "" {
		t.Errorf("%d of 60 requests past the burst were limited (Retry-After %q)", limited, retry)
	}
}

func TestEdgeReferrers(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) { e.Clouds[0].AllowedReferrers = []string{"example.com", "*.example.org"} })
	f.upload(t, "ref")
	u := "http://" + f.edge.addr + "/testcloud/image/upload/w_50/ref.jpg"
	for ref, want := range map[string]int{
		"https://example.com/page": 200, "https://cdn.example.org/x": 200, "": 200,
		"https://evil.com/example.com": 401, "https://example.com.evil.com/": 401,
	} {
		if r := fetch(t, u, "Referer", ref); r.status != want {
			t.Errorf("Referer %q: %d, want %d", ref, r.status, want)
		}
	}
}

// fetchHost is fetch with a Host header, for CNAME and private-CDN hosts.
func fetchHost(t *testing.T, addr, host, path string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// Every delivery URL form of one derivative is the same derivative: one
// render, one cache entry, the same bytes.
func TestEdgeURLForms(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) { e.Clouds[0].Hosts = []string{"img.example.com"} })
	f.upload(t, "forms/pic")
	if res, err := f.sdk(t, 0).Upload.Upload(context.Background(), bytes.NewReader(testimg.PNG(testimg.Quadrants(32, 32))), uploader.UploadParams{PublicID: "favicon"}); err != nil || res.Error.Message != "" {
		t.Fatalf("favicon upload: %v %+v", err, res)
	}
	canonical := fetch(t, "http://"+f.edge.addr+"/testcloud/image/upload/w_200,c_scale/forms/pic.jpg")
	expectImage(t, canonical, format.JPEG, 200, 150)
	renders := deriveRequests(t, f.origins[0])
	for name, r := range map[string]response{
		"shared, iu":         fetch(t, "http://"+f.edge.addr+"/testcloud/iu/w_200,c_scale/forms/pic.jpg"),
		"shared, SEO suffix": fetch(t, "http://"+f.edge.addr+"/testcloud/images/w_200,c_scale/forms/pic/nice-name.jpg"),
		"CNAME":              fetchHost(t, f.edge.addr, "img.example.com", "/image/upload/w_200,c_scale/forms/pic.jpg"),
		"CNAME, port":        fetchHost(t, f.edge.addr, "img.example.com:8080", "/image/upload/w_200,c_scale/forms/pic.jpg"),
		"CNAME, root path":   fetchHost(t, f.edge.addr, "IMG.example.com", "/w_200,c_scale/forms/pic.jpg"),
		"CNAME, SEO suffix":  fetchHost(t, f.edge.addr, "img.example.com", "/images/w_200,c_scale/forms/pic/other-name.jpg"),
	} {
		if r.status != 200 || !bytes.Equal(r.body, canonical.body) || r.header.Get("X-Cache") != "HIT" {
			t.Errorf("%s: %d %s, same bytes %v", name, r.status, r.header.Get("X-Cache"), bytes.Equal(r.body, canonical.body))
		}
	}
	if got := deriveRequests(t, f.origins[0]) - renders; got != 0 {
		t.Errorf("the other URL forms reached the origin %d times", got)
	}
	fav := fetchHost(t, f.edge.addr, "img.example.com", "/favicon.ico")
	expectImage(t, fav, format.PNG, 32, 32)
	if r := fetch(t, "http://"+f.edge.addr+"/favicon.ico"); r.status != 404 {
		t.Errorf("favicon.ico on the shared host: %d", r.status)
	}
}

// lockedBuffer is a bytes.Buffer the edge's handlers may write to
// concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON lines written so far, decoded.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// The access log: errors always, successes as sampled; and the request
// limits: a URL over max_url_bytes is 414, one over the header buffer
// is refused before the handler.
func TestEdgeAccessLogAndLimits(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) { e.Log.Sample, e.Log.Errors = 0, true })
	f.upload(t, "logged")
	base := "http://" + f.edge.addr + "/testcloud/image/upload/"
	for i := 0; i < 3; i++ {
		if r := fetch(t, base+"w_40/logged.jpg", "User-Agent", "refract-test"); r.status != 200 {
			t.Fatalf("delivery: %d", r.status)
		}
	}
	if r := fetch(t, base+"w_40/absent.jpg"); r.status != 404 {
		t.Fatalf("absent: %d", r.status)
	}
	long := base + "w_40/" + strings.Repeat("a", 5000) + ".jpg"
	if r := fetch(t, long); r.status != 414 || r.header.Get("X-Cld-Error") != "URL is too long" {
		t.Errorf("a 5 KB URL: %d %q, want 414", r.status, r.header.Get("X-Cld-Error"))
	}
	if r, err := get(base + "w_40/" + strings.Repeat("a", 9000) + ".jpg"); err == nil && r.status < 400 {
		t.Errorf("a 9 KB request line: %d", r.status)
	}
	lines := f.logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines logged with sample 0, want the 404 and the 414: %v", len(lines), lines)
	}
	if l := lines[0]; l["status"] != 404.0 || l["uri"] != "/testcloud/image/upload/w_40/absent.jpg" || l["ip"] != "127.0.0.1" ||
		l["error"] != "Resource not found - absent" || l["cache"] != "MISS" {
		t.Errorf("404 line: %v", l)
	}
	if lines[1]["status"] != 414.0 {
		t.Errorf("414 line: %v", lines[1])
	}
}

// With sample 1 every request is logged, with its cache outcome.
func TestEdgeAccessLogSampled(t *testing.T) {
	f := startFleet(t, 1, func(e *config.Edge) { e.Log.Sample, e.Log.Errors = 1, false })
	f.upload(t, "sampled")
	u := "http://" + f.edge.addr + "/testcloud/image/upload/w_40/sampled.jpg"
	fetch(t, u)
	fetch(t, u, "User-Agent", "refract-test", "Referer", "https://example.com/")
	lines := f.logs.lines(t)
	if len(lines) != 2 || lines[0]["cache"] != "MISS" || lines[1]["cache"] != "HIT" || lines[1]["status"] != 200.0 ||
		lines[1]["ua"] != "refract-test" || lines[1]["referer"] != "https://example.com/" || lines[1]["bytes"].(float64) < 100 {
		t.Errorf("sampled lines: %v", lines)
	}
}
