package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/admin"
	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/chunk"
	"github.com/refract-cdn/refract/origin/derive"
	"github.com/refract-cdn/refract/origin/jobs"
	"github.com/refract-cdn/refract/origin/limit"
	"github.com/refract-cdn/refract/origin/named"
	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/localfs"
	s3store "github.com/refract-cdn/refract/origin/store/s3"
	"github.com/refract-cdn/refract/origin/upload"
	"github.com/refract-cdn/refract/origin/usage"
	"github.com/refract-cdn/refract/origin/webhook"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/safehttp"
)

// originParts is an origin's services, shared by refract dev and refract
// origin: the APIs and the derive endpoint on one mux, over one store.
type originParts struct {
	store  store.Store
	assets *asset.Repo
	derive *derive.Service
	upload *upload.Handler
	jobs   *jobs.Queue
	mux    *http.ServeMux
	// background work (job workers) stops when ctx given to start ends.
	background []func(ctx context.Context)
	wg         sync.WaitGroup
}

// originDeps are what the caller owns: the clouds, the bus, metrics.
type originDeps struct {
	clouds     *cloud.Registry
	bus        bus.Bus
	registerer prometheus.Registerer
	log        *slog.Logger
	// deliveryURL is the base of delivery URLs in responses.
	deliveryURL, secureDeliveryURL string
}

// openStore opens a Store from a --store value: s3://bucket[/prefix] or
// a local directory.
// A bucket that does not answer at start is not an error: readiness
// reports it until it does.
func openStore(ctx context.Context, spec, tmpDir string) (store.Store, error) {
	if !strings.HasPrefix(spec, "s3://") {
		return localfs.New(spec)
	}
	bucket, prefix, err := s3store.ParseURL(spec)
	if err != nil {
		return nil, err
	}
	return s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: prefix, TempDir: tmpDir})
}

func buildOrigin(ctx context.Context, oc config.Origin, d originDeps) (*originParts, error) {
	if err := os.MkdirAll(filepath.Join(oc.Data, "tmp"), 0o755); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, oc.Store, filepath.Join(oc.Data, "tmp"))
	if err != nil {
		return nil, err
	}
	p := &originParts{store: st, assets: &asset.Repo{Store: st}, mux: http.NewServeMux()}
	lim := oc.Limits
	// One limiter bounds all libvips work, renders and upload probes
	// alike, to the CPUs.
	vipsWork := limit.New(lim.RenderConcurrency, lim.RenderQueue)
	d.registerer.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "refract_vips_jobs_running", Help: "libvips jobs (renders, upload probes) running."},
			func() float64 { return float64(vipsWork.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "refract_vips_jobs_queued", Help: "libvips jobs waiting for a slot."},
			func() float64 { return float64(vipsWork.Waiting()) }),
	)
	var names *named.Set
	if oc.Transformations != "" {
		if names, err = named.Load(oc.Transformations); err != nil {
			return nil, err
		}
	}
	// Named transformations: the file's first, then those made by API.
	registry := named.NewRegistry(st, names)
	nodeID := oc.NodeID
	if nodeID == "" {
		if nodeID, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("node_id: %w", err)
		}
	}
	renders, err := usage.NewRecorder(st, nodeID)
	if err != nil {
		return nil, err
	}
	p.background = append(p.background, func(ctx context.Context) { renders.Run(ctx, time.Minute) })
	allow := make([]netip.Prefix, 0, len(oc.Remote.Allow))
	for _, a := range oc.Remote.Allow {
		pfx, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("remote.allow: %w", err)
		}
		allow = append(allow, pfx)
	}
	// One guarded client for every URL a user chooses: remote uploads,
	// webhooks and fetch delivery.
	remote := safehttp.NewClient(safehttp.Policy{
		Allow: allow, MaxBytes: max(oc.Remote.MaxBytes, lim.MaxUploadBytes),
		Timeout: oc.Remote.Timeout, MaxRedirects: oc.Remote.MaxRedirects,
	})
	p.derive = derive.New(derive.Config{
		Assets: p.assets, Limit: vipsWork, Secret: []byte(oc.PeerSecret),
		MaxPixels: lim.MaxOutputPixels, MaxSourceBytes: lim.MaxUploadBytes, Log: d.log, Registerer: d.registerer,
		Named: registry.Lookup, AllowedForStrict: registry.AllowedForStrict, Clouds: d.clouds, Usage: renders,
		Fetch: remote, // fetch delivery, from the clouds' fetch_domains only
	})
	presets := &preset.Repo{Store: st}
	chunks := &chunk.Assembler{Store: st, MaxBytes: lim.MaxUploadBytes}
	p.background = append(p.background, func(ctx context.Context) {
		// Pieces of uploads abandoned for a day are garbage.
		for t := time.NewTicker(time.Hour); ; {
			if n, err := chunks.Sweep(ctx, time.Now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				d.log.Warn("chunk sweep failed", "err", err)
			} else if n > 0 {
				d.log.Info("abandoned chunked uploads removed", "uploads", n)
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
	queue := jobs.New(st, jobs.Options{
		Workers: oc.Jobs.Workers, MaxAttempts: oc.Jobs.MaxAttempts, Log: d.log, Registerer: d.registerer,
	})
	p.jobs = queue
	p.upload = upload.New(upload.Config{
		Clouds: d.clouds, Assets: p.assets, Bus: d.bus,
		InFlight: limit.New(lim.MaxUploads, 4*lim.MaxUploads),
		Probe:    vipsWork,
		MaxBytes: lim.MaxUploadBytes, MaxPixels: lim.MaxUploadPixels,
		TempDir: filepath.Join(oc.Data, "tmp"), DeliveryURL: d.deliveryURL, SecureDeliveryURL: d.secureDeliveryURL,
		Log: d.log, Registerer: d.registerer, Deriver: p.derive,
		Jobs: queue, Fetch: remote, Chunks: chunks, Presets: presets,
		Notify: func(ctx context.Context, cloud, url string, body []byte) error {
			return webhook.Notify(ctx, queue, webhook.Notification{URL: url, Cloud: cloud, Body: body})
		},
	})
	queue.Handle(upload.KindEager, func(ctx context.Context, j jobs.Job) error {
		err := p.upload.RunEagerJob(ctx, j.Payload)
		if errors.Is(err, upload.ErrPermanent) {
			return jobs.Permanent(err)
		}
		return err
	})
	webhook.Register(queue, &webhook.Sender{Client: remote.HTTP()}, func(name string) (string, bool) {
		c, ok := d.clouds.Lookup(name)
		return c.APISecret, ok
	})
	p.background = append(p.background, func(ctx context.Context) {
		if err := queue.Run(ctx); err != nil {
			d.log.Error("job queue stopped", "err", err)
		}
	})
	p.upload.Register(p.mux)
	admin.New(admin.Config{
		Clouds: d.clouds, Assets: p.assets, Presets: presets, Named: registry,
		Usage: &usage.Reporter{Assets: p.assets, Recorder: renders}, Bus: d.bus,
		DeliveryURL: d.deliveryURL, SecureDeliveryURL: d.secureDeliveryURL,
		RateLimit: oc.Admin.RateLimitPerHour, Unavailable: unavailable,
		Log: d.log, Registerer: d.registerer,
	}).Register(p.mux)
	p.mux.Handle(derivative.Endpoint, p.derive)
	return p, nil
}

// start runs the background work until ctx ends; wait waits for it to
// finish (a last usage flush, jobs under way), so nothing writes to the
// store after shutdown returns.
func (p *originParts) start(ctx context.Context) {
	for _, f := range p.background {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			f(ctx)
		}()
	}
}

func (p *originParts) wait() { p.wg.Wait() }

// check is the readiness probe: the store answers.
func (p *originParts) check(ctx context.Context) error {
	_, err := p.store.List(ctx, "assets/", "", 1)
	return err
}

// unavailable says an error means the store cannot be reached (503).
func unavailable(err error) bool { return errors.Is(err, store.ErrUnavailable) }
