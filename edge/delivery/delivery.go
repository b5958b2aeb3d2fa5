// Package delivery is the edge's HTTP handler for delivery URLs: it
// parses and authorises the URL, negotiates the format, serves RAM hits
// without allocating, and coalesces misses into one origin request.
package delivery

import (
	"bytes"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/forward"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/flight"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Config wires the handler.
type Config struct {
	Clouds *cloud.Registry
	Cache  *cache.Cache
	Origin *forward.Client
	Bans   *ban.List
	// MaxAge is the cache lifetime of unversioned URLs, and of URLs whose
	// version is not the asset's current one (the SDKs write v1 for any
	// id in a folder). 0 disables caching them.
	MaxAge time.Duration
	// ImmutableTTL is how long the RAM tier keeps a URL whose version is
	// the asset's: clients are told a year, but purges (bans) must
	// outlive every entry they cover, so the edge keeps them less.
	ImmutableTTL time.Duration
	Registerer   prometheus.Registerer
}

// BanTTL is how long a purge must be remembered under cfg.
func BanTTL(cfg Config) time.Duration {
	return max(cfg.MaxAge, cfg.ImmutableTTL) + time.Minute
}

// Server serves delivery URLs.
type Server struct {
	cfg          Config
	flight       flight.Group[uint64, *cache.Entry]
	states       sync.Pool
	unversioned  string // Cache-Control of unversioned URLs
	hits, misses prometheus.Counter
	errors       prometheus.Counter
	coalesced    prometheus.Counter
	originTime   prometheus.Histogram
}

const immutable = "public, max-age=31536000, immutable"

// New returns the delivery handler.
func New(cfg Config) *Server {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "refract_edge_requests_total", Help: "Delivery requests by cache outcome.",
	}, []string{"cache"})
	s := &Server{
		cfg:         cfg,
		unversioned: "public, max-age=" + strconv.Itoa(int(cfg.MaxAge/time.Second)),
		hits:        requests.WithLabelValues("hit"),
		misses:      requests.WithLabelValues("miss"),
		errors:      requests.WithLabelValues("error"),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refract_edge_coalesced_total", Help: "Misses that waited on another request's origin fetch.",
		}),
		originTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "refract_edge_origin_duration_seconds", Help: "Latency of origin fetches.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	requests.WithLabelValues("stale") // exported at zero until stale serving exists
	s.states.New = func() any { return new(state) }
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(requests, s.coalesced, s.originTime)
	}
	return s
}

// state is the per-request scratch space, pooled so hits allocate nothing.
type state struct {
	req     urlapi.Request
	chain   transform.Chain
	canon   []byte
	key     []byte
	buf     []byte
	dprAuto bool // the chain's dpr_auto was resolved from client hints
}

// Handle is the fasthttp handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		s.fail(ctx, errMethod)
		return
	}
	st := s.states.Get().(*state)
	defer s.states.Put(st)
	if err := s.serve(ctx, st); err != nil {
		s.fail(ctx, err)
	}
}

var (
	errMethod    = clderr.New(fasthttp.StatusMethodNotAllowed, "Method not allowed")
	errSignature = clderr.Unauthorized("Invalid signature")
	errUnsigned  = clderr.Unauthorized("Signature required for this resource")
	errRawTx     = clderr.BadRequest("Transformations are not supported for raw files")
)

func (s *Server) serve(ctx *fasthttp.RequestCtx, st *state) error {
	// The path as sent: fasthttp's decoded Path() would hide escapes
	// that are part of the signed string.
	if err := urlapi.Parse(b2s(ctx.URI().PathOriginal()), &st.req); err != nil {
		return err
	}
	r := &st.req
	c, ok := s.cfg.Clouds.Lookup(r.Cloud)
	if !ok {
		return clderr.NotFound("Unknown cloud - %s", r.Cloud)
	}
	if err := transform.Parse(r.Tx, &st.chain); err != nil {
		return err
	}
	if err := s.authorize(st, &c); err != nil {
		return err
	}
	if r.ResourceType == urlapi.Raw && !st.chain.Empty() {
		return errRawTx
	}
	st.dprAuto = resolveDPR(&st.chain, &ctx.Request.Header)
	st.canon = st.chain.AppendCanonical(st.canon[:0])
	f := derivative.OutputFormat(r, &st.chain)
	var acc format.Accepts
	if f == format.Auto {
		acc = format.ParseAccept(ctx.Request.Header.Peek(fasthttp.HeaderAccept))
	}
	st.key = derivative.AppendKey(st.key[:0], r, st.canon, f, acc)
	h := derivative.Hash(st.key)
	if e := s.cfg.Cache.Get(h, st.key); e != nil && !s.banned(e) {
		s.hits.Inc()
		s.write(ctx, e, "HIT", st.dprAuto)
		age := max(0, time.Now().UnixNano()-e.Stored) / int64(time.Second)
		st.buf = strconv.AppendInt(st.buf[:0], age, 10)
		ctx.Response.Header.SetBytesV(fasthttp.HeaderAge, st.buf)
		return nil
	}
	e, err, shared := s.flight.Do(h, func() (*cache.Entry, error) {
		return s.fetch(st, f, acc, h)
	})
	if shared {
		s.coalesced.Inc()
		if err == nil && !bytes.Equal(e.Key, st.key) {
			// Another key with the same hash was in flight: fetch our own.
			e, err = s.fetch(st, f, acc, h)
		}
	}
	if err != nil {
		return err
	}
	s.misses.Inc()
	s.write(ctx, e, "MISS", st.dprAuto)
	return nil
}

// authorize checks s--SIG-- when present and requires it where the
// delivery type does: everything authenticated, and private originals.
func (s *Server) authorize(st *state, c *cloud.Cloud) error {
	r := &st.req
	if r.Signature != "" {
		st.buf = r.AppendToSign(st.buf[:0])
		if !sign.VerifyDelivery(st.buf, r.Signature, c.APISecret) {
			return errSignature
		}
		return nil
	}
	switch {
	case r.Type == urlapi.Authenticated:
		return errUnsigned
	case r.Type == urlapi.Private && st.chain.Empty():
		return errUnsigned
	}
	return nil
}

// assetHash identifies the asset an entry belongs to, for purges; b is
// scratch space.
func assetHash(b []byte, cloud string, rt, typ, publicID string) uint64 {
	b = append(b[:0], cloud...)
	b = append(b, 0)
	b = append(b, rt...)
	b = append(b, 0)
	b = append(b, typ...)
	b = append(b, 0)
	b = append(b, publicID...)
	return derivative.Hash(b)
}

func (s *Server) banned(e *cache.Entry) bool {
	return s.cfg.Bans != nil && s.cfg.Bans.Banned(e.Asset, e.Stored)
}

// Purge applies a purge from the bus.
func (s *Server) Purge(p bus.Purge) {
	if s.cfg.Bans == nil {
		return
	}
	s.cfg.Bans.Add(assetHash(nil, p.Cloud, p.ResourceType, p.Type, p.PublicID), p.At)
}

// fetch asks the origin and caches a successful answer.
func (s *Server) fetch(st *state, f format.Format, acc format.Accepts, h uint64) (*cache.Entry, error) {
	r := &st.req
	spec := derivative.Spec{
		Cloud: r.Cloud, ResourceType: r.ResourceType, Type: r.Type, PublicID: r.PublicID,
		Tx: string(st.canon), Format: f, Accepts: acc, Signed: r.Signature != "",
	}
	start := time.Now()
	resp, err := s.cfg.Origin.Derive(&spec)
	s.originTime.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	if resp.Status != fasthttp.StatusOK {
		msg := resp.Error
		if msg == "" {
			msg = "Origin error"
		}
		return nil, clderr.New(resp.Status, "%s", msg)
	}
	asset := assetHash(st.buf, r.Cloud, r.ResourceType.String(), r.Type.String(), r.PublicID)
	e := &cache.Entry{
		Key:          append([]byte(nil), st.key...),
		Body:         resp.Body,
		ContentType:  resp.ContentType,
		ETag:         resp.ETag,
		CacheControl: immutable,
		Asset:        asset,
		Stored:       start.UnixNano(), // before the fetch: a purge during it still bans the entry
	}
	ttl := s.cfg.ImmutableTTL
	if r.Version == "" || r.Version != resp.Version {
		// Only the asset's own version names these bytes for ever; any
		// other URL may show a newer version after an overwrite.
		e.CacheControl, ttl = s.unversioned, s.cfg.MaxAge
	}
	if st.chain.Flags()&transform.FlagImmutableCache != 0 {
		e.CacheControl, ttl = immutable, s.cfg.ImmutableTTL
	}
	e.Vary = vary(f == format.Auto, false)
	if resp.Error != "" {
		// A d_ default image stands in for a missing asset, which may be
		// uploaded at any time: never immutable.
		e.Error = resp.Error
		e.CacheControl, ttl = s.unversioned, s.cfg.MaxAge
	}
	if st.chain.Flags()&transform.FlagAttachment != 0 {
		e.Disposition = disposition(&st.chain, r, resp.ContentType)
	}
	if ttl > 0 {
		s.cfg.Cache.Set(h, e, ttl)
	}
	return e, nil
}

// write answers with e. hints says the request's dpr_auto was resolved
// from client hints: entries are shared with the explicit dpr_ they
// resolved to, so that Vary is the request's, not the entry's.
func (s *Server) write(ctx *fasthttp.RequestCtx, e *cache.Entry, outcome string, hints bool) {
	h := &ctx.Response.Header
	h.Set("X-Cache", outcome)
	h.Set(fasthttp.HeaderCacheControl, e.CacheControl)
	h.Set(fasthttp.HeaderETag, e.ETag)
	h.Set(fasthttp.HeaderAccessControlAllowOrigin, "*")
	if e.Vary != "" || hints {
		h.Set(fasthttp.HeaderVary, vary(e.Vary != "", hints))
	}
	if e.Disposition != "" {
		h.Set(fasthttp.HeaderContentDisposition, e.Disposition)
	}
	if e.Error != "" {
		h.Set("X-Cld-Error", e.Error)
	}
	h.SetContentType(e.ContentType)
	if inm := ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 && etagMatches(inm, e.ETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.Response.SetBodyRaw(e.Body)
}

// etagMatches implements If-None-Match: a list of entity tags, or "*".
func etagMatches(header []byte, etag string) bool {
	for len(header) > 0 {
		i := bytes.IndexByte(header, ',')
		tag := header
		if i >= 0 {
			tag, header = header[:i], header[i+1:]
		} else {
			header = nil
		}
		tag = bytes.TrimSpace(tag)
		tag = bytes.TrimPrefix(tag, []byte("W/"))
		if string(tag) == "*" || string(tag) == etag {
			return true
		}
	}
	return false
}

func (s *Server) fail(ctx *fasthttp.RequestCtx, err error) {
	s.errors.Inc()
	status := clderr.Status(err)
	ctx.Response.ResetBody()
	ctx.SetStatusCode(status)
	h := &ctx.Response.Header
	h.Set("X-Cld-Error", clderr.Message(err))
	h.Set("X-Cache", "MISS") // errors are never served from the cache
	h.Set(fasthttp.HeaderAccessControlAllowOrigin, "*")
	h.Set("Access-Control-Expose-Headers", "X-Cld-Error")
	switch status {
	case fasthttp.StatusBadRequest, fasthttp.StatusNotFound:
		// As Cloudinary does: errors are cached briefly, so a flood of
		// bad URLs does not reach the origin each time.
		h.Set(fasthttp.HeaderCacheControl, "public, max-age=60")
	default:
		h.Set(fasthttp.HeaderCacheControl, "no-store")
	}
	if status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable {
		h.Set(fasthttp.HeaderRetryAfter, "1")
	}
}

// b2s views b as a string without copying; the string must not outlive
// the request that owns b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
