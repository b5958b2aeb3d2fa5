package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/accesslog"
	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/delivery"
	"github.com/refract-cdn/refract/edge/disk"
	"github.com/refract-cdn/refract/edge/forward"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/ops"
)

// runEdge runs one edge (PoP): refract edge --config F.
func runEdge(args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	path := fs.String("config", "configs/edge.yaml", "YAML configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ec := config.DefaultEdge()
	if err := config.Load(*path, &ec); err != nil {
		return err
	}
	return runUntilSignal(func(ctx context.Context, log *slog.Logger) (chan error, func() error, error) {
		setMemoryLimit(log, ec.Cache.RAMBytes, 64<<20)
		// The access log goes to standard output, one JSON object per
		// line, for the journal or a log shipper.
		n, err := startEdge(ctx, ec, log, os.Stdout)
		if err != nil {
			return nil, nil, err
		}
		return n.done, n.shutdown, nil
	})
}

// edgeNode is a running refract edge.
type edgeNode struct {
	cfg      config.Edge
	ops      *ops.Ops
	cache    *cache.Cache
	disk     *disk.Tier
	pool     *forward.Pool
	server   *fasthttp.Server
	opsrv    *http.Server
	addr     string
	opsAddr  string
	done     chan error
	stopPool context.CancelFunc
	purges   *follower // nil without NATS
}

// startEdge starts an edge; accessLog receives its access log lines.
func startEdge(ctx context.Context, ec config.Edge, log *slog.Logger, accessLog io.Writer) (*edgeNode, error) {
	if err := ec.Validate(); err != nil {
		return nil, err
	}
	n := &edgeNode{cfg: ec, ops: ops.New(), done: make(chan error, 2)}
	var err error
	if n.cache, err = cache.New(ec.Cache.RAMBytes); err != nil {
		return nil, err
	}
	n.pool, err = forward.NewPool(ec.Origins, forward.PoolOptions{
		Secret: []byte(ec.PeerSecret), Timeout: ec.Origin.Timeout,
		HealthInterval: ec.Origin.HealthInterval, EjectAfter: ec.Origin.EjectAfter, EjectFor: ec.Origin.EjectFor,
		MaxConnsPerOrigin: ec.Origin.MaxConns, Registerer: n.ops.Registry,
	})
	if err != nil {
		n.cache.Close()
		return nil, err
	}
	poolCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopPool = cancel
	n.pool.Start(poolCtx)

	access, err := delivery.NewAccess(ec.Clouds, ec.RateLimit.Rate, ec.RateLimit.Burst, ec.RateLimit.MaxClients)
	if err != nil {
		n.close()
		return nil, err
	}
	if ec.Cache.DiskDir != "" {
		if n.disk, err = disk.Open(ec.Cache.DiskDir, ec.Cache.DiskBytes, disk.Options{}); err != nil {
			n.close()
			return nil, fmt.Errorf("disk tier: %w", err)
		}
		registerDiskMetrics(n.ops.Registry, n.disk)
	}
	n.ops.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "refract_edge_cache_bytes", Help: "Bytes held by a cache tier.", ConstLabels: prometheus.Labels{"tier": "ram"},
	}, func() float64 { return float64(n.cache.Used()) }))
	dcfg := delivery.Config{
		Clouds: cloud.NewRegistry(ec.Clouds...), Cache: n.cache, Origin: n.pool, Disk: n.disk, Access: access,
		MaxAge: ec.Cache.MaxAge, ImmutableTTL: ec.Cache.ImmutableTTL, NegativeTTL: ec.Cache.NegativeTTL,
		StaleWhileRevalidate: ec.Cache.StaleWhileRevalidate, StaleIfError: ec.Cache.StaleIfError,
		MaxURLBytes: ec.HTTP.MaxURLBytes, AccessLog: accesslog.New(accessLog, ec.Log.Sample, ec.Log.Errors),
		Registerer: n.ops.Registry,
	}
	dcfg.Bans = ban.New(delivery.BanTTL(dcfg))
	dl := delivery.New(dcfg)
	if ec.Bus.NATS.Enabled() {
		js, err := dialBus(ctx, ec.Bus.NATS, nodeName("edge"))
		if err != nil {
			n.close()
			return nil, err
		}
		registerBusMetrics(n.ops.Registry, js)
		// Caught up before the listener opens: a restarted edge's disk
		// tier must not serve what was purged while it was away.
		n.purges, err = follow(ctx, js, ec.StateDir, bus.Handler{Purge: dl.Purge, Reset: dl.DropUnversioned}, 15*time.Second, log)
		if err != nil {
			js.Close()
			n.close()
			return nil, err
		}
	} else {
		log.Warn("no purge bus (bus.nats.urls): invalidations from origins in other processes never reach this edge")
	}
	n.server = &fasthttp.Server{
		Handler: dl.Handle, Name: "refract",
		ReadTimeout: ec.HTTP.ReadTimeout, WriteTimeout: ec.HTTP.WriteTimeout, IdleTimeout: ec.HTTP.IdleTimeout,
		// The request line and headers must fit the read buffer: this is
		// the header size limit.
		ReadBufferSize: ec.HTTP.MaxHeaderBytes, MaxRequestBodySize: 64 << 10, Concurrency: ec.HTTP.MaxConns,
		DisablePreParseMultipartForm: true, NoDefaultContentType: true,
	}
	ln, err := net.Listen("tcp", ec.Listen)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("edge listener: %w", err)
	}
	opsLn, err := net.Listen("tcp", ec.OpsListen)
	if err != nil {
		ln.Close()
		n.close()
		return nil, fmt.Errorf("ops listener: %w", err)
	}
	n.addr, n.opsAddr = ln.Addr().String(), opsLn.Addr().String()
	n.opsrv = &http.Server{Handler: n.ops.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { n.done <- n.server.Serve(ln) }()
	go func() { n.done <- ignoreClosed(n.opsrv.Serve(opsLn)) }()
	n.ops.SetReady(true)
	log.Info("refract edge started", "listen", n.addr, "ops", n.opsAddr, "origins", len(ec.Origins), "clouds", len(ec.Clouds))
	return n, nil
}

func (n *edgeNode) close() {
	if n.purges != nil {
		n.purges.close()
	}
	n.stopPool()
	n.pool.Close()
	n.cache.Close()
	if n.disk != nil {
		n.disk.Close()
	}
}

// registerDiskMetrics exports the disk tier's counters and size.
func registerDiskMetrics(reg prometheus.Registerer, t *disk.Tier) {
	counter := func(name, help string, v func(disk.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(t.Stats())) })
	}
	reg.MustRegister(
		counter("refract_edge_disk_hits_total", "Disk tier hits.", func(s disk.Stats) uint64 { return s.Hits }),
		counter("refract_edge_disk_misses_total", "Disk tier misses.", func(s disk.Stats) uint64 { return s.Misses }),
		counter("refract_edge_disk_corrupt_total", "Disk entries refused by their checksum.", func(s disk.Stats) uint64 { return s.Corrupt }),
		counter("refract_edge_disk_writes_total", "Disk tier writes.", func(s disk.Stats) uint64 { return s.Writes }),
		counter("refract_edge_disk_dropped_total", "Disk writes dropped because the writers were behind.", func(s disk.Stats) uint64 { return s.Dropped }),
		counter("refract_edge_disk_evictions_total", "Disk tier evictions.", func(s disk.Stats) uint64 { return s.Evictions }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "refract_edge_cache_bytes", Help: "Bytes held by a cache tier.", ConstLabels: prometheus.Labels{"tier": "disk"},
		}, func() float64 { return float64(t.Used()) }),
	)
}

func (n *edgeNode) shutdown() error {
	n.ops.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	errs := []error{n.server.ShutdownWithContext(ctx), n.opsrv.Shutdown(ctx)}
	for i := 0; i < 2; i++ {
		errs = append(errs, <-n.done)
	}
	n.close()
	return errors.Join(errs...)
}
