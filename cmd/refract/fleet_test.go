package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api"
	cldadmin "github.com/cloudinary/cloudinary-go/v2/api/admin"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/bus/natstest"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/testimg"
)

// pubFleet is the multi-node deployment on loopback: edges and origins
// on one bucket (MinIO under make test) and one NATS JetStream server.
// Each edge reaches NATS through its own proxy, so a test can cut one
// edge off.
type pubFleet struct {
	nats    *natstest.Server
	origins []*originNode
	edges   []*edgeNode
	proxies []*tcpProxy
	configs []config.Edge
	cloud   cloud.Cloud
	log     *slog.Logger
}

func startPubFleet(t testing.TB, edges, origins int) *pubFleet {
	t.Helper()
	c, _ := cloud.ParseURL(testCloud)
	f := &pubFleet{nats: natstest.Start(t), cloud: c, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var addrs []string
	f.origins, addrs = startOrigins(t, origins, c, f.log, func(oc *config.Origin) { oc.Bus.NATS.URLs = []string{f.nats.URL()} })
	for i := 0; i < edges; i++ {
		p := startProxy(t, strings.TrimPrefix(f.nats.URL(), "nats://"))
		ec := config.DefaultEdge()
		ec.Listen, ec.OpsListen, ec.Origins, ec.PeerSecret = "127.0.0.1:0", "127.0.0.1:0", addrs, fleetSecret
		ec.Clouds = []cloud.Cloud{c}
		ec.Cache.DiskDir, ec.StateDir = "", t.TempDir()
		ec.Origin.Timeout = 5 * time.Second
		ec.Bus.NATS.URLs = []string{"nats://" + p.addr()}
		e, err := startEdge(context.Background(), ec, f.log, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		f.edges, f.proxies, f.configs = append(f.edges, e), append(f.proxies, p), append(f.configs, ec)
		t.Cleanup(func() {
			http.DefaultClient.CloseIdleConnections()
			if err := e.shutdown(); err != nil {
				t.Errorf("edge shutdown: %v", err)
			}
		})
	}
	return f
}

func (f *pubFleet) sdk(t testing.TB) *cloudinary.Cloudinary {
	t.Helper()
	cld, err := cloudinary.NewFromURL(testCloud + "?upload_prefix=http://" + f.origins[0].apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	return cld
}

// upload stores a w×h image of one colour under id, overwriting with
// invalidate.
func (f *pubFleet) upload(t testing.TB, id string, c uint8) {
	t.Helper()
	res, err := f.sdk(t).Upload.Upload(context.Background(), bytes.NewReader(testimg.PNG(solid(64, 48, c))),
		uploader.UploadParams{PublicID: id, Overwrite: api.Bool(true), Invalidate: api.Bool(true)})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("upload %s: %v %+v", id, err, res)
	}
}

// colour reads the red channel of a delivered image's centre.
func colour(t *testing.T, r response) uint8 {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d (%s)", r.status, r.header.Get("X-Cld-Error"))
	}
	return pixelAt(t, r.body, 8, 8)[0]
}

// eventually polls cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

var fleetAccepts = map[string]string{"avif": "image/avif,image/webp,*/*", "webp": "image/webp,*/*", "jpeg": "*/*"}

// Overwrite with invalidate: every edge serves the new bytes of the
// unversioned URL in every format it had cached.
func TestFleetOverwrite(t *testing.T) {
	f := startPubFleet(t, 3, 2)
	f.upload(t, "over/pic", 200)
	u := "/testcloud/image/upload/w_16,f_auto/over/pic"
	for _, e := range f.edges {
		for name, acc := range fleetAccepts {
			fetch(t, "http://"+e.addr+u, "Accept", acc)
			if r := fetch(t, "http://"+e.addr+u, "Accept", acc); r.header.Get("X-Cache") != "HIT" || colour(t, r) < 150 {
				t.Fatalf("%s: not a hit of the first upload: %s", name, r.header.Get("X-Cache"))
			}
		}
	}
	start := time.Now()
	f.upload(t, "over/pic", 20)
	for i, e := range f.edges {
		for name, acc := range fleetAccepts {
			ok := eventually(2*time.Second, func() bool {
				r, err := get("http://"+e.addr+u, "Accept", acc)
				return err == nil && r.status == 200 && pixelAt(t, r.body, 8, 8)[0] < 100
			})
			if !ok {
				t.Errorf("edge %d still serves the old %s bytes %v after the overwrite", i, name, time.Since(start))
			}
		}
	}
}

// One edge is cut off from NATS during 50 overwrites. Once it is back
// and has caught up it serves none of the replaced bytes; the other
// edges never did.
func TestFleetDisconnect(t *testing.T) {
	f := startPubFleet(t, 3, 2)
	const n = 50
	url := func(i int) string { return fmt.Sprintf("/testcloud/image/upload/w_16/dis/%d.png", i) }
	for i := 0; i < n; i++ {
		f.upload(t, fmt.Sprint("dis/", i), 200)
	}
	for _, e := range f.edges {
		for i := 0; i < n; i++ {
			fetch(t, "http://"+e.addr+url(i))
		}
	}
	cut := f.edges[2]
	before := metricAt(t, "http://"+cut.opsAddr+"/metrics", "refract_bus_applied_total")
	f.proxies[2].cut()
	if !eventually(5*time.Second, func() bool {
		return metricAt(t, "http://"+cut.opsAddr+"/metrics", "refract_bus_connected") == 0
	}) {
		t.Fatal("the edge did not notice it was cut off")
	}
	for i := 0; i < n; i++ {
		f.upload(t, fmt.Sprint("dis/", i), 20)
	}
	for _, e := range f.edges[:2] {
		for i := 0; i < n; i++ {
			if c := colour(t, fetch(t, "http://"+e.addr+url(i))); c > 100 {
				t.Fatalf("a connected edge serves old bytes of %d", i)
			}
		}
	}
	f.proxies[2].restore()
	if !eventually(15*time.Second, func() bool {
		return metricAt(t, "http://"+cut.opsAddr+"/metrics", "refract_bus_applied_total") >= before+n
	}) {
		t.Fatal("the edge did not catch up within 15 s of reconnecting")
	}
	for i := 0; i < n; i++ {
		if c := colour(t, fetch(t, "http://"+cut.addr+url(i))); c > 100 {
			t.Errorf("the reconnected edge serves the replaced bytes of %d", i)
		}
	}
}

// The stream loses purges while an edge is away: coming back, the edge
// drops every unversioned entry, and keeps the versioned ones.
func TestFleetStreamLoss(t *testing.T) {
	f := startPubFleet(t, 1, 1)
	f.upload(t, "loss/kept", 200)
	f.upload(t, "loss/changed", 200)
	e := f.edges[0]
	res, err := f.sdk(t).Admin.Asset(context.Background(), cldadmin.AssetParams{PublicID: "loss/kept"})
	if err != nil {
		t.Fatal(err)
	}
	versioned := fmt.Sprintf("/testcloud/image/upload/w_16/v%d/loss/kept.png", res.Version)
	unversioned := "/testcloud/image/upload/w_16/loss/kept.png"
	changed := "/testcloud/image/upload/w_16/loss/changed.png"
	for _, u := range []string{versioned, unversioned, changed, versioned, unversioned, changed} {
		fetch(t, "http://"+e.addr+u)
	}
	f.proxies[0].cut()
	eventually(5*time.Second, func() bool { return metricAt(t, "http://"+e.opsAddr+"/metrics", "refract_bus_connected") == 0 })
	f.upload(t, "loss/changed", 20)
	// The stream forgets everything while the edge is away.
	nc, err := nats.Connect(f.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), bus.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.proxies[0].restore()
	if !eventually(15*time.Second, func() bool {
		return metricAt(t, "http://"+e.opsAddr+"/metrics", "refract_bus_resets_total") >= 1
	}) {
		t.Fatal("the edge did not notice the lost purges")
	}
	if c := colour(t, fetch(t, "http://"+e.addr+changed)); c > 100 {
		t.Error("the edge serves bytes whose purge the stream lost")
	}
	if r := fetch(t, "http://"+e.addr+unversioned); r.header.Get("X-Cache") != "MISS" {
		t.Errorf("an unversioned entry survived the reset: %s", r.header.Get("X-Cache"))
	}
	if r := fetch(t, "http://"+e.addr+versioned); r.header.Get("X-Cache") != "HIT" {
		t.Errorf("a versioned entry was dropped: %s", r.header.Get("X-Cache"))
	}
}

// 300 concurrent cold requests for one derivative, spread over 3 edges:
// rendezvous hashing sends them to one origin, which renders once.
func TestFleetCoalescing(t *testing.T) {
	f := startPubFleet(t, 3, 2)
	f.upload(t, "co/pic", 200)
	const n = 300
	var wg sync.WaitGroup
	var bad atomic.Int32
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := get("http://" + f.edges[i%3].addr + "/testcloud/image/upload/w_33,c_scale,e_grayscale/co/pic.webp")
			if err != nil || r.status != 200 {
				bad.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests failed", bad.Load(), n)
	}
	renders := 0
	for _, o := range f.origins {
		renders += originMetric(t, o, "refract_renders_total")
	}
	if renders != 1 {
		t.Errorf("%d renders for %d requests over 3 edges, want 1", renders, n)
	}
}

// One origin is killed under load: cached objects keep coming from all
// three edges without a 5xx, and misses fail over to the survivor.
func TestFleetOriginLoss(t *testing.T) {
	f := startPubFleet(t, 3, 2)
	f.upload(t, "loss/pic", 200)
	const n = 12
	path := func(w int) string { return fmt.Sprintf("/testcloud/image/upload/w_%d/loss/pic.png", w) }
	for _, e := range f.edges {
		for w := 1; w <= n; w++ {
			fetch(t, "http://"+e.addr+path(w))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed atomic.Int32
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := get("http://" + f.edges[(i+k)%3].addr + path(1+k%n))
				if err != nil || r.status >= 500 {
					failed.Add(1)
				} else {
					served.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	f.origins[1].stopped = true
	if err := f.origins[1].shutdown(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() < 100 {
		t.Errorf("cached objects under load with an origin killed: %d served, %d failed", served.Load(), failed.Load())
	}
	for i, e := range f.edges {
		for w := n + 1; w <= n+6; w++ {
			if r := fetch(t, "http://"+e.addr+path(w+10*i)); r.status != 200 {
				t.Errorf("edge %d: a miss with one origin down: %d %q", i, r.status, r.header.Get("X-Cld-Error"))
			}
		}
	}
}

// tcpProxy forwards loopback connections to target until cut.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func startProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// cut closes every forwarded connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// solid is a w×h image of red r (green and blue 40).
func solid(w, h int, r uint8) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{R: r, G: 40, B: 40, A: 255})
		}
	}
	return img
}
