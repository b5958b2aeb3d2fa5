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
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/ops"
)

// runOrigin runs one origin node of a fleet: refract origin --config F.
func runOrigin(args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	path := fs.String("config", "configs/origin.yaml", "YAML configuration file")
	storeFlag := fs.String("store", "", "overrides the config's store: s3://bucket[/prefix] or a directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	oc := config.DefaultOrigin()
	if err := config.Load(*path, &oc); err != nil {
		return err
	}
	if *storeFlag != "" {
		oc.Store = *storeFlag
	}
	return runUntilSignal(func(ctx context.Context, log *slog.Logger) (chan error, func() error, error) {
		n, err := startOrigin(ctx, oc, log)
		if err != nil {
			return nil, nil, err
		}
		return n.done, n.shutdown, nil
	})
}

// runUntilSignal starts a fleet node with a JSON logger and runs it
// until SIGINT or SIGTERM, or until one of its listeners fails (done),
// then shuts it down.
func runUntilSignal(start func(ctx context.Context, log *slog.Logger) (done chan error, shutdown func() error, err error)) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done, shutdown, err := start(ctx, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-done:
		log.Error("a listener failed; shutting down", "err", err)
		done <- err // shutdown collects one result per listener
	}
	return shutdown()
}

// originNode is a running refract origin.
type originNode struct {
	cfg            config.Origin
	parts          *originParts
	ops            *ops.Ops
	api, opsrv     *http.Server
	apiAddr        string
	opsAddr        string
	done           chan error
	stopBackground context.CancelFunc
	stopped        bool           // shut down already (tests)
	js             *bus.JetStream // the purge bus, when NATS carries it
}

func startOrigin(ctx context.Context, oc config.Origin, log *slog.Logger) (*originNode, error) {
	if oc.Limits.RenderConcurrency <= 0 {
		oc.Limits.RenderConcurrency = runtime.NumCPU()
	}
	if err := oc.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(oc.Data, "tmp"), 0o755); err != nil {
		return nil, err
	}
	sweepStaged(filepath.Join(oc.Data, "tmp"), time.Hour)
	render.Startup()
	n := &originNode{cfg: oc, ops: ops.New(), done: make(chan error, 2)}
	// Without NATS there is no edge to reach (none runs in this
	// process), so no bus: invalidations are skipped and the purge API
	// says it is not configured, rather than accept purges for nobody.
	var purges bus.Bus
	if oc.Bus.NATS.Enabled() {
		js, err := dialBus(ctx, oc.Bus.NATS, nodeName("origin"))
		if err != nil {
			return nil, err
		}
		registerBusMetrics(n.ops.Registry, js)
		purges, n.js = js, js
		defer func() {
			if n.apiAddr == "" { // start failed: the node will never shut down
				js.Close()
			}
		}()
	} else {
		log.Warn("no purge bus (bus.nats.urls): invalidations will not reach any edge")
	}
	publicURL := oc.PublicURL
	if publicURL == "" {
		publicURL = "http://" + oc.Listen
	}
	var err error
	n.parts, err = buildOrigin(ctx, oc, originDeps{
		clouds: cloud.NewRegistry(oc.Clouds...), bus: purges, registerer: n.ops.Registry, log: log,
		deliveryURL: publicURL, secureDeliveryURL: oc.SecurePublicURL,
	})
	if err != nil {
		return nil, err
	}
	apiLn, err := net.Listen("tcp", oc.Listen)
	if err != nil {
		return nil, fmt.Errorf("api listener: %w", err)
	}
	opsLn, err := net.Listen("tcp", oc.OpsListen)
	if err != nil {
		apiLn.Close()
		return nil, fmt.Errorf("ops listener: %w", err)
	}
	n.apiAddr, n.opsAddr = apiLn.Addr().String(), opsLn.Addr().String()
	n.api = &http.Server{
		Handler: n.parts.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}
	n.ops.AddCheck("store", n.parts.check)
	n.opsrv = &http.Server{Handler: n.ops.Handler(), ReadHeaderTimeout: 5 * time.Second}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopBackground = cancel
	n.parts.start(bg)
	go func() { n.done <- ignoreClosed(n.api.Serve(apiLn)) }()
	go func() { n.done <- ignoreClosed(n.opsrv.Serve(opsLn)) }()
	n.ops.SetReady(true)
	log.Info("refract origin started", "api", n.apiAddr, "ops", n.opsAddr, "store", oc.Store, "clouds", len(oc.Clouds))
	return n, nil
}

func (n *originNode) shutdown() error {
	n.ops.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	errs := []error{n.api.Shutdown(ctx), n.opsrv.Shutdown(ctx)}
	for i := 0; i < 2; i++ {
		errs = append(errs, <-n.done)
	}
	n.stopBackground()
	n.parts.wait()
	if n.js != nil {
		n.js.Close()
	}
	return errors.Join(errs...)
}
