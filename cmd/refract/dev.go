package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/delivery"
	"github.com/refract-cdn/refract/edge/forward"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/ops"
)

// devConfig is refract dev's configuration: every default is usable as is.
type devConfig struct {
	Data             string
	EdgeAddr         string
	APIAddr          string
	OpsAddr          string
	PublicURL        string // base of delivery URLs in API responses; default http://<edge-addr>
	CacheBytes       int64
	MaxAge           time.Duration
	MaxUploadBytes   int64
	MaxUploadPixels  int
	MaxOutputPixels  int
	RenderSlots      int
	RenderQueue      int
	MaxUploads       int
	OriginTimeout    time.Duration
	Demo             bool
	Transformations  string        // JSON file of named transformations
	Store            string        // s3://bucket[/prefix] or a directory; default <data>/store
	Strict           bool          // strict transformations for the node's cloud
	Clouds           []cloud.Cloud // more tenants besides the node's own cloud
	RemoteAllow      []string      // CIDRs that remote fetches may reach despite being private
	CloudinaryURL    string
	Log              *slog.Logger
	ShutdownDeadline time.Duration
}

func defaultDevConfig() devConfig {
	return devConfig{
		Data:             "./var",
		EdgeAddr:         "127.0.0.1:8080",
		APIAddr:          "127.0.0.1:8081",
		OpsAddr:          "127.0.0.1:9090",
		CacheBytes:       256 << 20,
		MaxAge:           time.Hour,
		MaxUploadBytes:   20 << 20,
		MaxUploadPixels:  50_000_000,
		MaxOutputPixels:  25_000_000,
		RenderSlots:      runtime.NumCPU(),
		RenderQueue:      64,
		MaxUploads:       16,
		OriginTimeout:    60 * time.Second,
		ShutdownDeadline: 10 * time.Second,
	}
}

func runDev(args []string) error {
	cfg := defaultDevConfig()
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory: credentials, originals, derivatives")
	fs.StringVar(&cfg.EdgeAddr, "edge-addr", cfg.EdgeAddr, "delivery listener")
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "Upload and Admin API listener")
	fs.StringVar(&cfg.OpsAddr, "ops-addr", cfg.OpsAddr, "metrics and health listener")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "base URL of delivery URLs in API responses (default http://<edge-addr>)")
	fs.Int64Var(&cfg.CacheBytes, "cache-bytes", cfg.CacheBytes, "size of the edge's RAM cache in bytes")
	fs.DurationVar(&cfg.MaxAge, "max-age", cfg.MaxAge, "cache lifetime of unversioned URLs")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", cfg.MaxUploadBytes, "largest upload accepted")
	fs.IntVar(&cfg.MaxUploadPixels, "max-upload-pixels", cfg.MaxUploadPixels, "largest image accepted, in pixels")
	fs.IntVar(&cfg.MaxOutputPixels, "max-output-pixels", cfg.MaxOutputPixels, "largest derivative, in pixels")
	fs.IntVar(&cfg.RenderSlots, "render-concurrency", cfg.RenderSlots, "renders run at once")
	fs.IntVar(&cfg.RenderQueue, "render-queue", cfg.RenderQueue, "renders waiting before new ones get 429")
	fs.IntVar(&cfg.MaxUploads, "max-uploads", cfg.MaxUploads, "uploads received at once; more wait, then get 429")
	fs.BoolVar(&cfg.Demo, "demo", false, "upload the bundled sample image and print example URLs")
	fs.StringVar(&cfg.Store, "store", "", "where originals, derivatives and metadata live: s3://bucket[/prefix] (AWS_* environment) or a directory (default <data>/store)")
	fs.BoolVar(&cfg.Strict, "strict-transformations", false, "deliver only eager, explicit, allowed named or signed transformations")
	cloudsFile := fs.String("clouds", "", `YAML file of more clouds: {clouds: [{name, api_key, api_secret, strict_transformations}]}`)
	fs.Func("remote-allow", "a private CIDR that remote uploads and webhooks may reach (repeatable)", func(v string) error {
		cfg.RemoteAllow = append(cfg.RemoteAllow, v)
		return nil
	})
	fs.StringVar(&cfg.Transformations, "transformations", "", `JSON file of named transformations: {"<cloud>" or "*": {"<name>": "<transformation>"}}`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.CloudinaryURL = os.Getenv("CLOUDINARY_URL")
	if *cloudsFile != "" {
		var f struct {
			Clouds []cloud.Cloud `yaml:"clouds"`
		}
		if err := config.Load(*cloudsFile, &f); err != nil {
			return err
		}
		cfg.Clouds = f.Clouds
	}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The origin's Go side (uploads in flight, API answers) needs more
	// room than an edge's; libvips' memory is outside the Go limit.
	setMemoryLimit(cfg.Log, cfg.CacheBytes, 192<<20)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := startDev(ctx, cfg)
	if err != nil {
		return err
	}
	n.printBanner(os.Stdout)
	if cfg.Demo {
		if err := n.demo(os.Stdout); err != nil {
			cfg.Log.Error("demo upload failed", "err", err)
		}
	}
	select {
	case <-ctx.Done():
		cfg.Log.Info("shutting down")
	case err := <-n.done:
		// A listener stopped on its own: do not run on half a node.
		cfg.Log.Error("a listener failed; shutting down", "err", err)
		n.done <- err // shutdown collects one result per listener
	}
	return n.shutdown()
}

// credentials are what refract dev keeps in its data directory.
type credentials struct {
	cloud.Cloud
	PeerSecret string `json:"peer_secret"`
}

// loadCredentials takes the cloud from CLOUDINARY_URL when set, and
// otherwise from the data directory, generating demo credentials on the
// first run. The peer secret is always kept in the data directory.
func loadCredentials(dir, cloudinaryURL string) (credentials, bool, error) {
	path := filepath.Join(dir, "credentials.json")
	var cr credentials
	generated := false
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &cr); err != nil {
			return cr, false, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return cr, false, err
	}
	if cloudinaryURL != "" {
		c, err := cloud.ParseURL(cloudinaryURL)
		if err != nil {
			return cr, false, err
		}
		cr.Cloud = c
	}
	if cr.Name == "" {
		cr.Cloud = cloud.Cloud{Name: "demo", APIKey: randomDigits(15), APISecret: randomToken(27)}
		generated = true
	}
	if cr.PeerSecret == "" {
		cr.PeerSecret = randomToken(32)
	}
	b, _ := json.MarshalIndent(cr, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return cr, false, err
	}
	return cr, generated, nil
}

func randomToken(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

// devNode is a running refract dev: origin, edge and ops in one process.
type devNode struct {
	cfg       devConfig
	creds     credentials
	generated bool
	edgeAddr  string
	apiAddr   string
	opsAddr   string
	publicURL string
	ops       *ops.Ops
	origin    *originParts
	// stopBackground ends the origin's background work at shutdown.
	stopBackground context.CancelFunc
	cache          *cache.Cache
	edge           *fasthttp.Server
	api, opsrv     *http.Server
	done           chan error
}

// startDev opens the data directory, binds the three listeners and starts
// serving. Addresses may use port 0; the node reports the real ones.
func startDev(ctx context.Context, cfg devConfig) (*devNode, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.Data, "tmp"), 0o755); err != nil {
		return nil, err
	}
	sweepStaged(filepath.Join(cfg.Data, "tmp"), time.Hour)
	creds, generated, err := loadCredentials(cfg.Data, cfg.CloudinaryURL)
	if err != nil {
		return nil, err
	}
	own := creds.Cloud
	own.StrictTransformations = cfg.Strict
	all := append([]cloud.Cloud{own}, cfg.Clouds...)
	oc := config.DefaultOrigin()
	oc.Clouds, oc.PeerSecret = all, creds.PeerSecret
	if err := oc.Validate(); err != nil {
		return nil, err
	}
	render.Startup()
	n := &devNode{cfg: cfg, creds: creds, generated: generated, ops: ops.New(), done: make(chan error, 3)}
	edgeLn, err := net.Listen("tcp", cfg.EdgeAddr)
	if err != nil {
		return nil, fmt.Errorf("edge listener: %w", err)
	}
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		edgeLn.Close()
		return nil, fmt.Errorf("api listener: %w", err)
	}
	opsLn, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		edgeLn.Close()
		apiLn.Close()
		return nil, fmt.Errorf("ops listener: %w", err)
	}
	n.edgeAddr, n.apiAddr, n.opsAddr = edgeLn.Addr().String(), apiLn.Addr().String(), opsLn.Addr().String()
	n.publicURL = cfg.PublicURL
	if n.publicURL == "" {
		n.publicURL = "http://" + n.edgeAddr
	}

	clouds := cloud.NewRegistry(all...)
	purges := bus.NewLocal()
	secret := []byte(creds.PeerSecret)
	reg := n.ops.Registry

	// Origin: the APIs and the derive endpoint, on the local store
	// unless --store says otherwise.
	storeSpec := cfg.Store
	if storeSpec == "" {
		storeSpec = filepath.Join(cfg.Data, "store")
	}
	oc.Store, oc.Data, oc.Transformations = storeSpec, cfg.Data, cfg.Transformations
	oc.Remote.Allow = cfg.RemoteAllow
	oc.NodeID = "dev"
	oc.Limits = config.Limits{
		MaxUploadBytes: cfg.MaxUploadBytes, MaxUploadPixels: cfg.MaxUploadPixels, MaxOutputPixels: cfg.MaxOutputPixels,
		RenderConcurrency: cfg.RenderSlots, RenderQueue: cfg.RenderQueue, MaxUploads: cfg.MaxUploads,
	}
	n.origin, err = buildOrigin(ctx, oc, originDeps{
		clouds: clouds, bus: purges, registerer: reg, log: cfg.Log, deliveryURL: n.publicURL,
	})
	if err != nil {
		edgeLn.Close()
		apiLn.Close()
		opsLn.Close()
		return nil, err
	}
	n.api = &http.Server{
		Handler: n.origin.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}

	// Edge: RAM cache, bans fed by the bus, origin over loopback.
	if n.cache, err = cache.New(cfg.CacheBytes); err != nil {
		return nil, err
	}
	dcfg := delivery.Config{
		Clouds: clouds, Cache: n.cache, MaxAge: cfg.MaxAge, ImmutableTTL: 24 * time.Hour, Registerer: reg,
		Origin: forward.New(n.apiAddr, secret, cfg.OriginTimeout), MaxURLBytes: 4 << 10,
	}
	dcfg.Bans = ban.New(delivery.BanTTL(dcfg))
	dl := delivery.New(dcfg)
	purges.Subscribe(dl.Purge)
	n.edge = &fasthttp.Server{
		Handler: dl.Handle, Name: "refract",
		ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second,
		ReadBufferSize: 8 << 10, MaxRequestBodySize: 64 << 10,
		DisablePreParseMultipartForm: true, NoDefaultContentType: true,
	}

	n.ops.AddCheck("store", n.origin.check)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stopBackground = cancel
	n.origin.start(bg)
	n.opsrv = &http.Server{Handler: n.ops.Handler(), ReadHeaderTimeout: 5 * time.Second}

	go func() { n.done <- n.edge.Serve(edgeLn) }()
	go func() { n.done <- ignoreClosed(n.api.Serve(apiLn)) }()
	go func() { n.done <- ignoreClosed(n.opsrv.Serve(opsLn)) }()
	n.ops.SetReady(true)
	cfg.Log.Info("refract dev started", "edge", n.edgeAddr, "api", n.apiAddr, "ops", n.opsAddr, "data", cfg.Data)
	return n, nil
}

// sweepStaged removes uploads staged before a crash: nothing refers to
// them, and a live upload is never an hour old.
func sweepStaged(dir string, age time.Duration) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown drains: readiness goes false, listeners stop accepting, and
// requests in flight get ShutdownDeadline to finish.
func (n *devNode) shutdown() error {
	n.ops.SetReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownDeadline)
	defer cancel()
	errs := []error{n.edge.ShutdownWithContext(ctx), n.api.Shutdown(ctx), n.opsrv.Shutdown(ctx)}
	for i := 0; i < 3; i++ {
		errs = append(errs, <-n.done)
	}
	n.stopBackground()
	n.origin.wait()
	n.cache.Close()
	return errors.Join(errs...)
}

// cloudinaryURL is the CLOUDINARY_URL an SDK needs to talk to this node.
func (n *devNode) cloudinaryURL() string {
	return n.creds.URL() + "?upload_prefix=http://" + n.apiAddr
}

func (n *devNode) printBanner(w io.Writer) {
	fmt.Fprintf(w, "\nRefract dev node\n")
	fmt.Fprintf(w, "  edge (delivery)   http://%s/%s/image/upload/...\n", n.edgeAddr, n.creds.Name)
	fmt.Fprintf(w, "  upload/admin API  http://%s/v1_1/%s/\n", n.apiAddr, n.creds.Name)
	fmt.Fprintf(w, "  ops               http://%s/metrics  /healthz  /readyz\n", n.opsAddr)
	fmt.Fprintf(w, "  data              %s\n", n.cfg.Data)
	if n.generated {
		fmt.Fprintf(w, "\nGenerated demo credentials (kept in %s):\n", filepath.Join(n.cfg.Data, "credentials.json"))
	} else {
		fmt.Fprintf(w, "\nCredentials:\n")
	}
	fmt.Fprintf(w, "  CLOUDINARY_URL=%s\n\n", n.cloudinaryURL())
}
