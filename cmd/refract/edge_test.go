package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
)

const fleetSecret = "fleet-peer-secret-0123456789"

// fleet is origins sharing one store and an edge in front of them.
type fleet struct {
	origins []*originNode
	edge    *edgeNode
	cloud   cloud.Cloud
}

func startFleet(t *testing.T, origins int, mod func(*config.Edge)) *fleet {
	t.Helper()
	store := filepath.Join(t.TempDir(), "store")
	if s3Available() {
		srv := s3test.Start(t)
		setS3Env(t, srv)
		store = srv.URL()
	}
	c, _ := cloud.ParseURL(testCloud)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fleet{cloud: c}
	var addrs []string
	for i := 0; i < origins; i++ {
		oc := config.DefaultOrigin()
		oc.Listen, oc.OpsListen = "127.0.0.1:0", "127.0.0.1:0"
		oc.Store, oc.Data, oc.PeerSecret, oc.NodeID = store, t.TempDir(), fleetSecret, fmt.Sprint("origin-", i)
		oc.Clouds = []cloud.Cloud{c}
		oc.Limits.RenderConcurrency = 2
		n, err := startOrigin(context.Background(), oc, log)
		if err != nil {
			t.Fatal(err)
		}
		f.origins = append(f.origins, n)
		addrs = append(addrs, n.apiAddr)
		t.Cleanup(func() { shutdownOnce(n) })
	}
	ec := config.DefaultEdge()
	ec.Listen, ec.OpsListen, ec.Origins, ec.PeerSecret = "127.0.0.1:0", "127.0.0.1:0", addrs, fleetSecret
	ec.Clouds = []cloud.Cloud{c}
	ec.Cache.DiskDir = ""
	ec.Origin.Timeout = 5e9
	if mod != nil {
		mod(&ec)
	}
	e, err := startEdge(context.Background(), ec, log)
	if err != nil {
		t.Fatal(err)
	}
	f.edge = e
	t.Cleanup(func() {
		if err := e.shutdown(); err != nil {
			t.Errorf("edge shutdown: %v", err)
		}
	})
	return f
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
