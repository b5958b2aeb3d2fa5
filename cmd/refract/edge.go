package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/delivery"
	"github.com/refract-cdn/refract/edge/forward"
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := startEdge(ctx, ec, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-n.done:
		log.Error("a listener failed; shutting down", "err", err)
		n.done <- err
	}
	return n.shutdown()
}

// edgeNode is a running refract edge.
type edgeNode struct {
	cfg      config.Edge
	ops      *ops.Ops
	cache    *cache.Cache
	pool     *forward.Pool
	server   *fasthttp.Server
	opsrv    *http.Server
	addr     string
	opsAddr  string
	done     chan error
	stopPool context.CancelFunc
}

func startEdge(ctx context.Context, ec config.Edge, log *slog.Logger) (*edgeNode, error) {
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

	dcfg := delivery.Config{
		Clouds: cloud.NewRegistry(ec.Clouds...), Cache: n.cache, Origin: n.pool,
		MaxAge: ec.Cache.MaxAge, ImmutableTTL: ec.Cache.ImmutableTTL, Registerer: n.ops.Registry,
	}
	dcfg.Bans = ban.New(delivery.BanTTL(dcfg))
	dl := delivery.New(dcfg)
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
	n.stopPool()
	n.pool.Close()
	n.cache.Close()
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
