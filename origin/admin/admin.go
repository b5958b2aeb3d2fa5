// Package admin is Cloudinary's Admin API on the origin, under
// /v1_1/<cloud>/: resources, derived resources and tags, named
// transformations, upload presets, usage and ping. Requests authenticate
// with HTTP Basic api_key:api_secret of the cloud in the path, spend a
// per-cloud hourly budget, and are answered in the shapes the official
// SDKs decode.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/named"
	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/usage"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Config wires the handler.
type Config struct {
	Clouds  *cloud.Registry
	Assets  *asset.Repo
	Presets *preset.Repo
	Named   *named.Registry
	Usage   *usage.Reporter // nil: storage counted from Assets, no renders
	Bus     bus.Bus         // receives purges for invalidate=true; may be nil
	// DeliveryURL is the base of url in responses, such as
	// "https://img.example.com"; secure_url uses SecureDeliveryURL when set.
	DeliveryURL       string
	SecureDeliveryURL string
	// RateLimit is each cloud's budget of requests per hour, per node;
	// DefaultRateLimit when 0.
	RateLimit int
	// Unavailable reports errors that mean the store is down (answered
	// 503, retryable) rather than failed (500); nil treats none so.
	Unavailable func(error) bool
	Log         *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time
}

// Handler serves the Admin API.
type Handler struct {
	cfg      Config
	limit    *limiter
	requests *prometheus.CounterVec
}

// New returns the Admin API handler and registers its metrics.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.Usage == nil {
		cfg.Usage = &usage.Reporter{Assets: cfg.Assets}
	}
	h := &Handler{
		cfg:   cfg,
		limit: &limiter{budget: cfg.RateLimit, now: cfg.Now, clouds: map[string]*window{}},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refract_admin_requests_total", Help: "Admin API requests by route and status.",
		}, []string{"route", "code"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.requests)
	}
	return h
}

// endpoint answers one route: a JSON-encodable result or an error.
type endpoint func(r *http.Request, c cloud.Cloud, p params) (any, error)

// Register mounts the handler's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	const base = "/v1_1/{cloud}/"
	routes := []struct {
		pattern string
		fn      endpoint
	}{
		{"GET " + base + "ping", h.ping},
		{"GET " + base + "usage", h.usage},
		{"GET " + base + "usage/{date}", h.usage},
		{"GET " + base + "resources", h.resourceTypes},
		{"GET " + base + "resources/{rt}", h.listResources},
		{"GET " + base + "resources/{rt}/{type}", h.listResources},
		{"GET " + base + "resources/{rt}/tags/{tag...}", h.listByTag},
		{"GET " + base + "resources/{rt}/{type}/{public_id...}", h.getResource},
		{"DELETE " + base + "resources/{rt}/{type}", h.deleteResources},
		{"DELETE " + base + "derived_resources", h.deleteDerived},
		{"GET " + base + "tags/{rt}", h.tags},
		{"GET " + base + "transformations", h.getTransformations},
		{"GET " + base + "transformations/{name}", h.getTransformations},
		{"POST " + base + "transformations", h.createTransformation},
		{"PUT " + base + "transformations", h.updateTransformation},
		{"PUT " + base + "transformations/{name}", h.updateTransformation},
		{"DELETE " + base + "transformations", h.deleteTransformation},
		{"DELETE " + base + "transformations/{name}", h.deleteTransformation},
		{"GET " + base + "upload_presets", h.listPresets},
		{"GET " + base + "upload_presets/{name}", h.getPreset},
		{"POST " + base + "upload_presets", h.createPreset},
		{"PUT " + base + "upload_presets/{name}", h.updatePreset},
		{"DELETE " + base + "upload_presets/{name}", h.deletePreset},
		{"POST " + base + "purge", h.purge},
	}
	for _, rt := range routes {
		route, fn := rt.pattern, rt.fn
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, route, fn) })
	}
}

var errRateLimited = clderr.New(420, "Rate Limit Exceeded")

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, route string, fn endpoint) {
	var res any
	c, err := h.authenticate(r, w.Header())
	if err == nil && !h.limit.take(c.Name, w.Header()) {
		err = errRateLimited
	}
	var p params
	if err == nil {
		p, err = parseParams(r)
	}
	if err == nil {
		res, err = fn(r, c, p)
	}
	if err != nil {
		err = h.classify(err)
		status := clderr.Status(err)
		h.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		if status >= 500 && status != http.StatusNotImplemented {
			h.cfg.Log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(w, err)
		return
	}
	h.requests.WithLabelValues(route, "200").Inc()
	writeJSON(w, http.StatusOK, res)
}

// authenticate checks HTTP Basic credentials against the cloud in the
// path. A request for a known cloud shows its rate-limit state even when
// refused, without spending it.
func (h *Handler) authenticate(r *http.Request, hdr http.Header) (cloud.Cloud, error) {
	name := r.PathValue("cloud")
	c, ok := h.cfg.Clouds.Lookup(name)
	if !ok {
		return c, clderr.Unauthorized("Invalid cloud_name %s", name)
	}
	key, secret, ok := r.BasicAuth()
	switch {
	case !ok || key == "":
		h.limit.show(c.Name, hdr)
		hdr.Set("WWW-Authenticate", `Basic realm="Cloudinary Admin API"`)
		return c, clderr.Unauthorized("Must supply api_key")
	case !c.CheckKey(key, secret):
		h.limit.show(c.Name, hdr)
		if key != c.APIKey {
			return c, clderr.Unauthorized("Unknown API key %s", key)
		}
		return c, clderr.Unauthorized("api_secret mismatch")
	}
	return c, nil
}

// classify turns the errors of the layers below into statuses; anything
// unknown stays an internal error.
func (h *Handler) classify(err error) error {
	var ce *clderr.Error
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, asset.ErrBadCursor), errors.Is(err, preset.ErrBadCursor), errors.Is(err, named.ErrBadCursor):
		return clderr.BadRequest("Invalid next_cursor")
	case errors.Is(err, asset.ErrConflict), errors.Is(err, preset.ErrConflict), errors.Is(err, named.ErrConflict):
		return clderr.New(http.StatusConflict, "Concurrent updates; retry")
	case errors.Is(err, asset.ErrInvalidTag):
		return clderr.BadRequest("Invalid tag")
	case errors.Is(err, store.ErrInvalidKey):
		return clderr.BadRequest("Invalid name or public_id")
	case errors.Is(err, context.Canceled):
		return clderr.New(499, "Request canceled") // the client left; not a server failure
	case errors.Is(err, context.DeadlineExceeded), h.cfg.Unavailable != nil && h.cfg.Unavailable(err):
		return clderr.New(http.StatusServiceUnavailable, "Storage is unavailable; retry")
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError answers {"error":{"message":...}}, which the SDKs read, with
// the message in X-Cld-Error too.
func writeError(w http.ResponseWriter, err error) {
	status := clderr.Status(err)
	w.Header().Set("X-Cld-Error", clderr.Message(err))
	if status == http.StatusServiceUnavailable || status == 420 {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"message": clderr.Message(err)}})
}

func (h *Handler) ping(*http.Request, cloud.Cloud, params) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

// deliveryURLs are url and secure_url for a delivery path (starting "/").
func (h *Handler) deliveryURLs(rel string) (string, string) {
	secure := h.cfg.SecureDeliveryURL
	if secure == "" {
		secure = h.cfg.DeliveryURL
	}
	return strings.TrimRight(h.cfg.DeliveryURL, "/") + rel, strings.TrimRight(secure, "/") + rel
}

// deliveryPath is a version's delivery path, as the Upload API's
// responses build it.
func deliveryPath(cloudName string, a *asset.Asset, tx, ext string) string {
	return urlapi.Path(cloudName, a.ResourceType, a.Type, tx, a.Version, a.PublicID, ext)
}
