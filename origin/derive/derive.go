// Package derive is the origin's internal endpoint that edges call on a
// miss. It answers with a stored derivative when one exists; otherwise it
// loads the original, renders it with bounded concurrency, stores the
// derivative and answers. Concurrent requests for one derivative render
// once.
package derive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/limit"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/usage"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/flight"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/peerauth"
	"github.com/refract-cdn/refract/shared/safehttp"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Config wires the service.
type Config struct {
	Assets         *asset.Repo
	Limit          *limit.Limiter
	Secret         []byte // shared with the edges (peerauth)
	MaxPixels      int    // output and intermediate limit
	MaxSourceBytes int64  // largest original to load
	Log            *slog.Logger
	Registerer     prometheus.Registerer
	// Named returns a cloud's named transformation (t_<name>), if any.
	Named func(cloud, name string) (string, bool)
	// Clouds holds each cloud's settings (strict transformations); nil
	// means no cloud is strict.
	Clouds *cloud.Registry
	// AllowedForStrict reports whether a named transformation may be
	// rendered on request in a strict cloud.
	AllowedForStrict func(cloud, name string) bool
	// Usage counts renders per cloud; nil counts nothing.
	Usage *usage.Recorder
	// Fetch downloads fetch deliveries' images (the SSRF-guarded client);
	// nil refuses fetch delivery.
	Fetch *safehttp.Client
}

// Service serves derivative.Endpoint.
type Service struct {
	cfg     Config
	flight  flight.Group[string, result]
	fetches flight.Group[string, *asset.Asset]
	// downloads bounds the fetch downloads held in memory at once.
	downloads chan struct{}
	renders   prometheus.Counter
	latency   prometheus.Histogram
	outcome   *prometheus.CounterVec
}

type result struct {
	body    []byte
	format  format.Format
	version int64
	etag    string
	source  string
	warning string // X-Cld-Error on a success: the d_ default stood in
}

// New returns the service and registers its metrics.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{
		cfg:       cfg,
		downloads: make(chan struct{}, maxDownloads),
		renders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refract_renders_total", Help: "Renders actually performed by libvips.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "refract_render_duration_seconds", Help: "Time to render and encode one derivative.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 13),
		}),
		outcome: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refract_derive_requests_total", Help: "Derive requests from edges by outcome.",
		}, []string{"outcome"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.renders, s.latency, s.outcome)
	}
	return s
}

// ServeHTTP answers an authenticated derive request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !peerauth.Verify(s.cfg.Secret, r.Header.Get(peerauth.Header), r.Method, r.URL.RequestURI(), time.Now()) {
		s.fail(w, clderr.Unauthorized("Invalid peer authentication"))
		return
	}
	spec, err := derivative.ParseQuery(r.URL.Query())
	if err != nil {
		s.fail(w, err)
		return
	}
	res, err := s.Derive(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.outcome.WithLabelValues(res.source).Inc()
	h := w.Header()
	h.Set("Content-Type", res.format.MIME())
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	h.Set("ETag", res.etag)
	h.Set(derivative.HeaderVersion, strconv.FormatInt(res.version, 10))
	h.Set(derivative.HeaderSource, res.source)
	if res.warning != "" {
		h.Set("X-Cld-Error", res.warning)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(res.body)
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		err = clderr.New(http.StatusServiceUnavailable, "Storage is unavailable; retry later")
	}
	status := clderr.Status(err)
	s.outcome.WithLabelValues(strconv.Itoa(status)).Inc()
	if status >= 500 {
		s.cfg.Log.Error("derive failed", "err", err)
	}
	w.Header().Set("X-Cld-Error", clderr.Message(err))
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
}

// renderTimeout bounds one coalesced render, queueing included.
const renderTimeout = 2 * time.Minute

var errBusy = clderr.New(http.StatusTooManyRequests, "Too many concurrent renders; retry")

// Derive returns the bytes for spec.
func (s *Service) Derive(ctx context.Context, spec derivative.Spec) (result, error) {
	var ch transform.Chain
	if err := transform.Parse(spec.Tx, &ch); err != nil {
		return result{}, err
	}
	// One retry covers an overwrite that deleted the original between
	// reading the metadata and reading the bytes.
	for attempt := 0; ; attempt++ {
		res, err := s.derive(ctx, spec, &ch)
		if errors.Is(err, store.ErrNotFound) && attempt == 0 {
			continue
		}
		return res, err
	}
}

func (s *Service) derive(ctx context.Context, spec derivative.Spec, ch *transform.Chain) (result, error) {
	var a *asset.Asset
	var err error
	if spec.Type == urlapi.Fetch {
		a, err = s.fetchAsset(ctx, spec.Cloud, spec.PublicID)
	} else {
		a, _, err = s.cfg.Assets.Get(ctx, spec.Cloud, spec.ResourceType.String(), spec.Type.String(), spec.PublicID)
	}
	warning := ""
	if errors.Is(err, asset.ErrNotFound) {
		warning = "Resource not found - " + spec.PublicID
		a, err = s.defaultImage(ctx, spec, ch)
		if errors.Is(err, asset.ErrNotFound) {
			return result{}, clderr.NotFound("%s", warning)
		}
	}
	if err != nil {
		return result{}, err
	}
	res, err := s.deriveAsset(ctx, spec, ch, a)
	res.warning = warning
	return res, err
}

// defaultImage loads the asset a chain's d_<public_id>.<ext> names, for a
// missing asset; asset.ErrNotFound when there is none.
func (s *Service) defaultImage(ctx context.Context, spec derivative.Spec, ch *transform.Chain) (*asset.Asset, error) {
	def := ""
	for i := range ch.Components {
		if ch.Components[i].Has(transform.ParamDefault) {
			def = ch.Components[i].Default
		}
	}
	if def == "" || spec.ResourceType != urlapi.Image {
		return nil, asset.ErrNotFound
	}
	id := strings.ReplaceAll(def[:strings.LastIndexByte(def, '.')], ":", "/")
	a, _, err := s.cfg.Assets.Get(ctx, spec.Cloud, "image", "upload", id)
	return a, err
}

func (s *Service) deriveAsset(ctx context.Context, spec derivative.Spec, ch *transform.Chain, a *asset.Asset) (result, error) {
	src := format.FromExt(a.Format)
	if spec.ResourceType == urlapi.Raw || a.ResourceType == "raw" {
		if !ch.Empty() {
			return result{}, clderr.BadRequest("Transformations are not supported for raw files")
		}
		return s.original(ctx, a, format.Unknown)
	}
	out := render.ResolveFormat(spec.Format, spec.Accepts, src, a.Alpha, render.Animated(src, a.Pages, ch))
	if ch.Flags()&transform.FlagGetInfo != 0 {
		out = format.JSON
	}
	if ch.Empty() && out == src {
		// The original, as uploaded: nothing to render.
		return s.original(ctx, a, src)
	}
	if !out.Writable() && out != format.JSON {
		return result{}, render.UnsupportedFormat(out) // refused before any work
	}
	id, err := s.identity(ctx, spec, ch, src, a)
	if err != nil {
		return result{}, err
	}
	name := derivative.StorageName(id, out)
	key := asset.DerivedKey(a.Cloud, a.VersionID, name)
	if res, err := s.stored(ctx, key, a, out); err == nil || !errors.Is(err, store.ErrNotFound) {
		return res, err
	}
	if err := s.strict(spec, ch); err != nil {
		return result{}, err
	}
	res, err, _ := s.flight.Do(key, func() (result, error) {
		// Shared by every waiter, so not tied to the first caller's request.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renderTimeout)
		defer cancel()
		// A render that finished just before this flight began has stored it.
		if res, err := s.stored(ctx, key, a, out); err == nil || !errors.Is(err, store.ErrNotFound) {
			return res, err
		}
		return s.render(ctx, a, key, ch, out, spec)
	})
	return res, err
}

func (s *Service) stored(ctx context.Context, key string, a *asset.Asset, f format.Format) (result, error) {
	body, _, err := store.ReadAll(ctx, s.cfg.Assets.Store, key, 1<<30)
	if err != nil {
		return result{}, err
	}
	return result{body: body, format: f, version: a.Version, etag: etag(body), source: "hit"}, nil
}

func (s *Service) original(ctx context.Context, a *asset.Asset, f format.Format) (result, error) {
	body, _, err := store.ReadAll(ctx, s.cfg.Assets.Store, a.OriginalKey, s.cfg.MaxSourceBytes)
	if err != nil {
		return result{}, err
	}
	return result{body: body, format: f, version: a.Version, etag: `"` + a.ETag + `"`, source: "original"}, nil
}

func (s *Service) render(ctx context.Context, a *asset.Asset, key string, ch *transform.Chain, out format.Format, spec derivative.Spec) (result, error) {
	release, err := s.cfg.Limit.Acquire(ctx)
	if errors.Is(err, limit.ErrBusy) {
		return result{}, errBusy
	}
	if err != nil {
		return result{}, err
	}
	defer release()
	src, _, err := store.ReadAll(ctx, s.cfg.Assets.Store, a.OriginalKey, s.cfg.MaxSourceBytes)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	res, err := render.Render(src, render.Request{
		Chain: ch, Format: out, Accepts: spec.Accepts, MaxPixels: s.cfg.MaxPixels,
		Layer: func(id string) ([]byte, error) { return s.layer(ctx, spec.Cloud, id) },
		Named: func(name string) (string, bool) {
			if s.cfg.Named == nil {
				return "", false
			}
			return s.cfg.Named(spec.Cloud, name)
		},
	})
	if err != nil {
		return result{}, err
	}
	s.renders.Inc()
	s.latency.Observe(time.Since(start).Seconds())
	// Create-only: if another origin stored it first, its bytes are as good.
	name := key[strings.LastIndexByte(key, '/')+1:]
	tx := ch.String()
	if err := s.cfg.Assets.PutDerived(context.WithoutCancel(ctx), a, name, tx, res.Format.Ext(), res.Body, res.Format.MIME()); err != nil {
		s.cfg.Log.Warn("derivative not stored", "key", key, "err", err)
	}
	if s.cfg.Usage != nil {
		s.cfg.Usage.Render(a.Cloud)
	}
	return result{body: res.Body, format: res.Format, version: a.Version, etag: etag(res.Body), source: "render"}, nil
}

// strict refuses, in a cloud with strict transformations, a derivative
// that does not exist yet, unless the URL was signed or names only
// named transformations allowed for strict mode.
func (s *Service) strict(spec derivative.Spec, ch *transform.Chain) error {
	if spec.Signed || s.cfg.Clouds == nil {
		return nil
	}
	if c, ok := s.cfg.Clouds.Lookup(spec.Cloud); !ok || !c.StrictTransformations {
		return nil
	}
	if s.allowedNamed(spec.Cloud, ch) {
		return nil
	}
	tx := ch.String()
	if spec.Format != format.Unknown {
		tx += "/" + spec.Format.Ext()
	}
	return clderr.Unauthorized("Transformation %s is not allowed", tx)
}

// allowedNamed reports whether every component is nothing but t_ names
// allowed for strict mode (a format from the extension aside).
func (s *Service) allowedNamed(cloud string, ch *transform.Chain) bool {
	if s.cfg.AllowedForStrict == nil || ch.Empty() {
		return false
	}
	for i := range ch.Components {
		c := &ch.Components[i]
		if c.Set != 1<<transform.ParamNamed || c.NVars != 0 || c.If.Kind != 0 {
			return false
		}
		for _, name := range strings.Split(c.Named, ".") {
			if !s.cfg.AllowedForStrict(cloud, name) {
				return false
			}
		}
	}
	return true
}

// Output is a derivative made for the Upload API (eager, explicit).
type Output struct {
	Body   []byte
	Format format.Format
}

// Eager makes (or finds) the derivative tx in format f of asset a, as an
// eager or explicit transformation: it is stored like any derivative, so
// deliveries of it are hits, and strict mode lets them through.
func (s *Service) Eager(ctx context.Context, a *asset.Asset, tx string, f format.Format) (Output, error) {
	var ch transform.Chain
	if err := transform.Parse(tx, &ch); err != nil {
		return Output{}, err
	}
	rt, _ := urlapi.ParseResourceType(a.ResourceType)
	typ, _ := urlapi.ParseType(a.Type)
	spec := derivative.Spec{Cloud: a.Cloud, ResourceType: rt, Type: typ, PublicID: a.PublicID,
		Tx: ch.String(), Format: f, Signed: true}
	res, err := s.deriveAsset(ctx, spec, &ch, a)
	if err != nil {
		return Output{}, err
	}
	return Output{Body: res.body, Format: res.format}, nil
}

// identity is what names a stored derivative beyond the asset's version:
// the canonical transformation, plus the definitions of the named
// transformations it uses and the versions of the images it layers, so
// that editing either renders anew instead of serving the old bytes. For
// fl_getinfo it adds the image format the JSON reports.
func (s *Service) identity(ctx context.Context, spec derivative.Spec, ch *transform.Chain, src format.Format, a *asset.Asset) (string, error) {
	id := ch.String()
	var extra []string
	for i := range ch.Components {
		c := &ch.Components[i]
		if c.Has(transform.ParamNamed) && s.cfg.Named != nil {
			for _, name := range strings.Split(c.Named, ".") {
				text, _ := s.cfg.Named(spec.Cloud, name)
				extra = append(extra, "t_"+name+"="+text)
			}
		}
		if c.HasLayer() && c.Layer.Kind == transform.LayerImage {
			la, _, err := s.cfg.Assets.Get(ctx, spec.Cloud, "image", "upload", c.Layer.PublicID())
			switch {
			case errors.Is(err, asset.ErrNotFound):
				return "", render.ErrMissingLayer(c.Layer.PublicID())
			case err != nil:
				return "", err
			}
			extra = append(extra, "l_"+c.Layer.ID+"="+la.VersionID)
		}
	}
	if ch.Flags()&transform.FlagGetInfo != 0 {
		img := render.ResolveFormat(ch.Format(), spec.Accepts, src, a.Alpha, render.Animated(src, a.Pages, ch))
		extra = append(extra, "getinfo="+img.Ext())
	}
	if len(extra) == 0 {
		return id, nil
	}
	return id + "\x00" + strings.Join(extra, "\x00"), nil
}

// layer reads the original of an overlay's public_id, in the cloud's
// public uploads.
func (s *Service) layer(ctx context.Context, cloud, id string) ([]byte, error) {
	if urlapi.ValidatePublicID(id) != nil {
		return nil, render.ErrMissingLayer(id)
	}
	a, _, err := s.cfg.Assets.Get(ctx, cloud, "image", "upload", id)
	if errors.Is(err, asset.ErrNotFound) {
		return nil, render.ErrMissingLayer(id)
	}
	if err != nil {
		return nil, err
	}
	body, _, err := store.ReadAll(ctx, s.cfg.Assets.Store, a.OriginalKey, s.cfg.MaxSourceBytes)
	if errors.Is(err, store.ErrNotFound) {
		return nil, render.ErrMissingLayer(id)
	}
	return body, err
}

// etag is a strong validator for a derivative's bytes.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Transform renders src with ch into f for the Upload API's incoming
// transformations and format conversions: it takes a render slot like
// any render, and layers and named transformations come from cloud.
func (s *Service) Transform(ctx context.Context, cloud string, src []byte, ch *transform.Chain, f format.Format) (render.Result, error) {
	release, err := s.cfg.Limit.Acquire(ctx)
	if errors.Is(err, limit.ErrBusy) {
		return render.Result{}, errBusy
	}
	if err != nil {
		return render.Result{}, err
	}
	defer release()
	res, err := render.Render(src, render.Request{
		Chain: ch, Format: f, MaxPixels: s.cfg.MaxPixels,
		Layer: func(id string) ([]byte, error) { return s.layer(ctx, cloud, id) },
		Named: func(name string) (string, bool) {
			if s.cfg.Named == nil {
				return "", false
			}
			return s.cfg.Named(cloud, name)
		},
	})
	if err == nil {
		s.renders.Inc()
		if s.cfg.Usage != nil {
			s.cfg.Usage.Render(cloud)
		}
	}
	return res, err
}
