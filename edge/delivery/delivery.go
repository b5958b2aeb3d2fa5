// Package delivery is the edge's HTTP handler for delivery URLs: it
// parses and authorises the URL, negotiates the format, serves RAM hits,
// whole or a byte range, without allocating, and coalesces misses into
// one origin request.
package delivery

import (
	"bytes"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/accesslog"
	"github.com/refract-cdn/refract/edge/ban"
	"github.com/refract-cdn/refract/edge/cache"
	"github.com/refract-cdn/refract/edge/disk"
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
	// NegativeTTL is how long a 404 is remembered; 0 forgets it.
	NegativeTTL time.Duration
	// StaleWhileRevalidate serves an expired entry this long past its
	// freshness while one background request refreshes it;
	// StaleIfError serves it this long while the origins fail.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	// Disk is the second tier; nil keeps everything in RAM.
	Disk *disk.Tier
	// Access holds tokens, referrer lists and the rate limit; nil allows
	// everything the URL's signature rules allow.
	Access *Access
	// MaxURLBytes refuses longer request URIs with 414; 0 is no limit
	// beyond the listener's header buffer.
	MaxURLBytes int
	// AccessLog samples requests into the access log; nil logs none.
	AccessLog  *accesslog.Logger
	Registerer prometheus.Registerer
}

// BanTTL is how long a purge must be remembered under cfg.
func BanTTL(cfg Config) time.Duration {
	return max(cfg.MaxAge, cfg.ImmutableTTL) + time.Minute
}

// Server serves delivery URLs.
type Server struct {
	cfg          Config
	txs          *txCache
	flight       flight.Group[uint64, *cache.Entry]
	states       sync.Pool
	unversioned  string // Cache-Control of unversioned URLs
	hits, misses prometheus.Counter
	diskHits     prometheus.Counter
	stale        prometheus.Counter
	limited      prometheus.Counter
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
		txs:         newTxCache(),
		unversioned: "public, max-age=" + strconv.Itoa(int(cfg.MaxAge/time.Second)),
		hits:        requests.WithLabelValues("hit"),
		misses:      requests.WithLabelValues("miss"),
		errors:      requests.WithLabelValues("error"),
		diskHits:    requests.WithLabelValues("hit_disk"),
		stale:       requests.WithLabelValues("stale"),
		limited:     requests.WithLabelValues("rate_limited"),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "refract_edge_coalesced_total", Help: "Misses that waited on another request's origin fetch.",
		}),
		originTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "refract_edge_origin_duration_seconds", Help: "Latency of origin fetches.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	s.states.New = func() any { return new(state) }
	startClock()
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(requests, s.coalesced, s.originTime)
	}
	return s
}

// state is the per-request scratch space, pooled so hits allocate nothing.
type state struct {
	req urlapi.Request
	// chain is req.Tx parsed when parsed is set: a txCache hit skips the
	// parse, and only a miss needs the chain itself.
	chain  transform.Chain
	parsed bool
	// canon is the canonical transformation: canonBuf, or a txCache
	// entry's, which must not be written to.
	canon    []byte
	canonBuf []byte
	key      []byte
	buf      []byte
	dprAuto  bool // the chain's dpr_auto was resolved from client hints
	// path and hdr are the request's, for a background refresh to copy;
	// hostCloud names the cloud when the Host header chose it.
	path      []byte
	hdr       *fasthttp.RequestHeader
	hostCloud string
}

// Handle is the fasthttp handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	if s.cfg.AccessLog == nil {
		s.handle(ctx)
		return
	}
	sampled := s.cfg.AccessLog.Sample()
	s.handle(ctx)
	s.cfg.AccessLog.Done(ctx, sampled, ctx.Response.Header.PeekBytes(hXCache))
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	if s.cfg.MaxURLBytes > 0 && len(ctx.Request.Header.RequestURI()) > s.cfg.MaxURLBytes {
		s.fail(ctx, errURITooLong)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		s.fail(ctx, errMethod)
		return
	}
	if err := s.cfg.Access.allowClient(ctx); err != nil {
		s.limited.Inc()
		s.fail(ctx, err)
		return
	}
	st := s.states.Get().(*state)
	defer s.states.Put(st)
	if err := s.serve(ctx, st); err != nil {
		s.fail(ctx, err)
	}
}

var (
	errMethod     = clderr.New(fasthttp.StatusMethodNotAllowed, "Method not allowed")
	errURITooLong = clderr.New(fasthttp.StatusRequestURITooLong, "URL is too long")
	errSignature  = clderr.Unauthorized("Invalid signature")
	errUnsigned   = clderr.Unauthorized("Signature required for this resource")
	errRawTx      = clderr.BadRequest("Transformations are not supported for raw files")
)

func (s *Server) serve(ctx *fasthttp.RequestCtx, st *state) error {
	// The path as sent: fasthttp's decoded Path() would hide escapes
	// that are part of the signed string.
	st.path, st.hdr = ctx.URI().PathOriginal(), &ctx.Request.Header
	if err := s.parse(ctx, st); err != nil {
		return err
	}
	r := &st.req
	c, ok := s.cfg.Clouds.Lookup(r.Cloud)
	if !ok {
		return clderr.NotFound("Unknown cloud - %s", r.Cloud)
	}
	if err := s.cfg.Access.allowReferrer(ctx, c.Name); err != nil {
		return err
	}
	txFormat, err := s.canonical(st, st.hdr)
	if err != nil {
		return err
	}
	if err := s.authorize(st, &c); err != nil {
		if err != errUnsigned || r.Type != urlapi.Authenticated {
			return err
		}
		// An authenticated asset may instead carry a token.
		if err := s.cfg.Access.allowToken(ctx, c.Name); err != nil {
			return err
		}
	}
	// A transformation parses to a chain of at least one component, so
	// Tx != "" is !chain.Empty().
	if r.ResourceType == urlapi.Raw && r.Tx != "" {
		return errRawTx
	}
	f, acc := s.negotiate(st, txFormat)
	h := derivative.Hash(st.key)
	now := coarseNow()
	e := s.cfg.Cache.Get(h, st.key)
	v := s.verdict(e)
	if v == ban.Gone {
		e = nil
	}
	if e == nil && s.cfg.Disk != nil {
		e, v = s.fromDisk(h, st.key)
	}
	var expires int64
	if e != nil {
		expires = e.Expires
		if v == ban.Stale {
			expires = min(expires, now) // soft-purged: revalidate
		}
	}
	if e != nil && now < expires {
		s.hits.Inc()
		return s.serveEntry(ctx, st, e, xCacheHit, timingHit, now)
	}
	if e != nil && now < expires+int64(s.cfg.StaleWhileRevalidate) {
		// Stale: answer now, and let one request refresh it behind us.
		if e.StartRefresh() {
			s.refresh(st, h, e)
		}
		s.stale.Inc()
		return s.serveEntry(ctx, st, e, xCacheStale, timingStale, now)
	}
	if !st.parsed {
		// The miss path needs the chain's flags. A txCache entry never
		// has a dpr_auto, so there is nothing to resolve.
		if err := transform.Parse(r.Tx, &st.chain); err != nil {
			return err
		}
		st.parsed = true
	}
	if r.Type == urlapi.Fetch {
		// Refused here, so a flood of foreign URLs never reaches an
		// origin (which checks too). Hits were allowed when stored.
		if host, ok := c.FetchAllowed(r.PublicID); !ok {
			return clderr.Unauthorized("Fetch from %s is not allowed", host)
		}
	}
	start := time.Now()
	stale := e
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
	if err != nil && stale != nil && originFailed(err) && now < stale.Expires+int64(s.cfg.StaleIfError) {
		// stale-if-error: the origins fail, the old bytes still stand.
		s.stale.Inc()
		return s.serveEntry(ctx, st, stale, xCacheStale, timingStale, now)
	}
	if err != nil {
		return err
	}
	if e.Status == fasthttp.StatusNotFound {
		return clderr.NotFound("%s", e.Error)
	}
	s.misses.Inc()
	// What this request waited for the origin, coalesced or not.
	st.buf = append(st.buf[:0], "cdn-cache;desc=MISS, origin;dur="...)
	st.buf = strconv.AppendFloat(st.buf, float64(time.Since(start).Microseconds())/1000, 'f', -1, 64)
	s.write(ctx, e, xCacheMiss, st.buf, st.dprAuto)
	return nil
}

// parse reads the delivery URL: on a private-CDN or CNAME host mapped
// to a cloud the path omits the cloud (and may be a root-path URL);
// elsewhere it is the shared distribution's /<cloud>/… form.
func (s *Server) parse(ctx *fasthttp.RequestCtx, st *state) error {
	host := ctx.Host()
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	return s.parseOn(b2s(host), b2s(st.path), st)
}

// parseOn parses path as requested on host (without a port): a host
// mapped to a cloud serves it without <cloud> in the path.
func (s *Server) parseOn(host, path string, st *state) error {
	st.hostCloud = ""
	if c, ok := s.cfg.Clouds.LookupHost(host); ok && host != "" {
		st.hostCloud = c.Name
		return urlapi.ParseHost(c.Name, path, &st.req)
	}
	return urlapi.Parse(path, &st.req)
}

// negotiate picks the output format (the chain's f_, else the
// extension's; f_auto reads Accept) and sets st.key.
func (s *Server) negotiate(st *state, txFormat format.Format) (format.Format, format.Accepts) {
	f := txFormat // derivative.OutputFormat: the chain's f_, else the extension's
	if f == format.Unknown {
		f = st.req.Format()
	}
	var acc format.Accepts
	if f == format.Auto {
		acc = format.ParseAccept(peek(st.hdr, hAccept))
	}
	st.key = derivative.AppendKey(st.key[:0], &st.req, st.canon, f, acc)
	return f, acc
}

// prepare is what a background refresh redoes of serve on its own
// state: parse, canonical form, format and key; the request it
// refreshes for was authorised already.
func (s *Server) prepare(st *state, hostCloud, path string, hdr *fasthttp.RequestHeader) (format.Format, format.Accepts, error) {
	st.path, st.hdr, st.hostCloud = nil, hdr, hostCloud
	var err error
	if hostCloud != "" {
		err = urlapi.ParseHost(hostCloud, path, &st.req)
	} else {
		err = urlapi.Parse(path, &st.req)
	}
	if err != nil {
		return 0, 0, err
	}
	txFormat, err := s.canonical(st, hdr)
	if err != nil {
		return 0, 0, err
	}
	if !st.parsed {
		if err := transform.Parse(st.req.Tx, &st.chain); err != nil {
			return 0, 0, err
		}
		st.parsed = true
	}
	f, acc := s.negotiate(st, txFormat)
	return f, acc, nil
}

// canonical sets st.canon to the canonical form of the request's
// transformation, with any dpr_auto resolved from the client's hints,
// and returns the chain's f_ (format.Unknown without one).
func (s *Server) canonical(st *state, h *fasthttp.RequestHeader) (format.Format, error) {
	tx := st.req.Tx
	st.parsed, st.dprAuto = false, false
	if tx == "" {
		st.chain.Reset()
		st.parsed, st.canon = true, nil
		return format.Unknown, nil
	}
	if t := s.txs.get(tx); t != nil {
		st.canon = t.canon
		return t.format, nil
	}
	if err := transform.Parse(tx, &st.chain); err != nil {
		return format.Unknown, err
	}
	st.parsed = true
	st.dprAuto = resolveDPR(&st.chain, h)
	st.canonBuf = st.chain.AppendCanonical(st.canonBuf[:0])
	st.canon = st.canonBuf
	f := st.chain.Format()
	if !st.dprAuto {
		// A resolved dpr_auto's canonical form is the request's, not the
		// URL's: those chains are parsed every time.
		s.txs.put(tx, st.canon, f)
	}
	return f, nil
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
	case r.Type == urlapi.Private && r.Tx == "":
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

// verdict is what the bans say about e (nil is Fresh). With no bans it
// costs one atomic load; with some, two hashes of the key.
func (s *Server) verdict(e *cache.Entry) ban.Verdict {
	if e == nil || s.cfg.Bans.Len() == 0 {
		return ban.Fresh
	}
	sub := ban.Subject{Asset: e.Asset, Stored: e.Stored}
	var named bool
	sub.Cloud, sub.Variant, named = derivative.KeyHashes(e.Key)
	// Versioned: the URL named the asset's own version, so its bytes
	// never change. fl_immutable_cache makes other URLs immutable too,
	// and a version that is not the asset's is cached as unversioned.
	sub.Versioned = named && e.CacheControl == immutable
	return s.cfg.Bans.Check(&sub)
}

// Purge applies a purge from the bus: every entry of a cloud, one
// delivery URL in every negotiated format, or assets with all their
// derivatives. A URL that does not parse, or names another cloud, is
// ignored.
func (s *Server) Purge(p bus.Purge) {
	if s.cfg.Bans == nil {
		return
	}
	switch {
	case p.All:
		s.cfg.Bans.Add(ban.Cloud, derivative.CloudHash(p.Cloud), p.At, p.Soft)
	case p.URL != "":
		if h, ok := s.variantOf(p.Cloud, p.URL); ok {
			s.cfg.Bans.Add(ban.Variant, h, p.At, p.Soft)
		}
	default:
		var b []byte
		for _, id := range p.IDs() {
			s.cfg.Bans.Add(ban.Asset, assetHash(b, p.Cloud, p.ResourceType, p.Type, id), p.At, p.Soft)
		}
	}
}

// DropUnversioned drops every entry whose URL did not name the asset's
// version, for when purges may have been missed.
func (s *Server) DropUnversioned() {
	if s.cfg.Bans != nil {
		s.cfg.Bans.DropUnversioned(time.Now())
	}
}

// variantOf is the variant hash of a delivery URL of cloud: a path, or
// a full URL whose host may map to the cloud.
func (s *Server) variantOf(cloudName, raw string) (uint64, bool) {
	path, host := raw, ""
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		path, host = u.EscapedPath(), u.Hostname()
	}
	var st state
	if err := s.parseOn(host, path, &st); err != nil || st.req.Cloud != cloudName {
		return 0, false
	}
	var hdr fasthttp.RequestHeader // no Accept: only the variant is wanted
	st.hdr = &hdr
	txFormat, err := s.canonical(&st, &hdr)
	if err != nil {
		return 0, false
	}
	s.negotiate(&st, txFormat)
	_, v, _ := derivative.KeyHashes(st.key)
	return v, v != 0
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
	asset := assetHash(st.buf, r.Cloud, r.ResourceType.String(), r.Type.String(), r.PublicID)
	if resp.Status != fasthttp.StatusOK {
		msg := resp.Error
		if msg == "" {
			msg = "Origin error"
		}
		if resp.Status == fasthttp.StatusNotFound && s.cfg.NegativeTTL > 0 {
			// Negative caching: a flood of requests for a missing asset
			// reaches the origin once per NegativeTTL. A purge (an
			// upload with invalidate) bans it like any entry.
			e := &cache.Entry{Key: append([]byte(nil), st.key...), Status: fasthttp.StatusNotFound,
				Error: headerValue(msg), Asset: asset, Stored: start.UnixNano(), Expires: start.Add(s.cfg.NegativeTTL).UnixNano()}
			s.cfg.Cache.Set(h, e, s.cfg.NegativeTTL)
		}
		return nil, clderr.New(resp.Status, "%s", msg)
	}
	e := &cache.Entry{
		Key:          append([]byte(nil), st.key...),
		Body:         resp.Body,
		ContentType:  headerValue(resp.ContentType),
		ETag:         headerValue(resp.ETag),
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
		e.Error = headerValue(resp.Error)
		e.CacheControl, ttl = s.unversioned, s.cfg.MaxAge
	}
	if st.chain.Flags()&transform.FlagAttachment != 0 {
		e.Disposition = disposition(&st.chain, r, resp.ContentType)
	}
	if ttl > 0 {
		e.Expires = start.Add(ttl).UnixNano()
		// Kept past its freshness for the stale windows.
		s.cfg.Cache.Set(h, e, ttl+max(s.cfg.StaleWhileRevalidate, s.cfg.StaleIfError))
		if s.cfg.Disk != nil {
			s.cfg.Disk.SetAsync(h, e, time.Unix(0, e.Expires))
		}
	}
	return e, nil
}

// serveEntry answers with a cached entry: a negative one is its 404.
func (s *Server) serveEntry(ctx *fasthttp.RequestCtx, st *state, e *cache.Entry, xCache, timing []byte, now int64) error {
	if e.Status == fasthttp.StatusNotFound {
		return clderr.NotFound("%s", e.Error)
	}
	s.write(ctx, e, xCache, timing, st.dprAuto)
	age := max(0, now-e.Stored) / int64(time.Second)
	st.buf = strconv.AppendInt(st.buf[:0], age, 10)
	ctx.Response.Header.SetCanonical(hAge, st.buf)
	return nil
}

// fromDisk looks h up in the disk tier, promoting an entry hit often
// enough into RAM; a purged entry is a miss.
func (s *Server) fromDisk(h uint64, key []byte) (*cache.Entry, ban.Verdict) {
	e, expires, ok := s.cfg.Disk.Get(h, key)
	if !ok {
		return nil, ban.Fresh
	}
	v := s.verdict(e)
	if v == ban.Gone {
		return nil, v
	}
	e.Expires = expires.UnixNano()
	s.diskHits.Inc()
	if s.cfg.Disk.Hot(h) {
		if left := time.Until(expires) + max(s.cfg.StaleWhileRevalidate, s.cfg.StaleIfError); left > 0 {
			s.cfg.Cache.Set(h, e, left)
		}
	}
	return e, v
}

// originFailed says an error is the origins' failure, which
// stale-if-error covers, rather than an answer about the request.
func originFailed(err error) bool {
	return clderr.Status(err) >= fasthttp.StatusInternalServerError
}

// refresh revalidates a stale entry in the background. The request's
// strings point into buffers fasthttp reuses, so the path and the
// headers the key depends on are copied, and the goroutine prepares the
// request again on its own state.
func (s *Server) refresh(st *state, h uint64, stale *cache.Entry) {
	path, hostCloud := string(st.path), st.hostCloud
	var hdr fasthttp.RequestHeader
	for _, k := range refreshHeaders {
		if v := peek(st.hdr, k); len(v) > 0 {
			hdr.SetBytesKV(k, v)
		}
	}
	go func() {
		cp := s.states.Get().(*state)
		defer s.states.Put(cp)
		_, err, _ := s.flight.Do(h, func() (*cache.Entry, error) {
			f, acc, err := s.prepare(cp, hostCloud, path, &hdr)
			if err != nil {
				return nil, err
			}
			return s.fetch(cp, f, acc, h)
		})
		if err != nil {
			// Let a later request try again; stale-if-error covers until then.
			stale.EndRefresh()
		}
	}()
}

// refreshHeaders are the request headers a derivative's key depends on,
// in the normal form peek needs ("Sec-Ch-Dpr", not "Sec-CH-DPR").
var refreshHeaders = [][]byte{hAccept, hSecCHDPR, hDPR}

// write answers with e. xCache and timing are the X-Cache and
// Server-Timing values of the outcome. hints says the request's dpr_auto
// was resolved from client hints: entries are shared with the explicit
// dpr_ they resolved to, so that Vary is the request's, not the entry's.
//
// Keys are set in fasthttp's normal form with SetCanonical, and values
// as they are (an entry's were made safe when it was built): Set would
// copy and normalise every key and copy and scan every value, on every
// hit.
func (s *Server) write(ctx *fasthttp.RequestCtx, e *cache.Entry, xCache, timing []byte, hints bool) {
	h := &ctx.Response.Header
	h.SetCanonical(hXCache, xCache)
	h.SetCanonical(hServerTiming, timing)
	h.SetCanonical(hCacheControl, s2b(e.CacheControl))
	h.SetCanonical(hETag, s2b(e.ETag))
	h.SetCanonical(hAllowOrigin, star)
	h.SetCanonical(hTimingOrigin, star)
	if e.Vary != "" || hints {
		h.SetCanonical(hVary, s2b(vary(e.Vary != "", hints)))
	}
	if e.Disposition != "" {
		h.SetCanonical(hDisposition, s2b(e.Disposition))
	}
	if e.Error != "" {
		h.SetCanonical(hCldError, s2b(e.Error))
	}
	h.SetContentType(e.ContentType)
	req := &ctx.Request.Header
	// If-None-Match is evaluated before Range (RFC 9110 13.2.2).
	if inm := peek(req, hIfNoneMatch); len(inm) > 0 && etagMatches(inm, e.ETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	body := e.Body
	if spec := peek(req, hRange); len(spec) > 0 && ifRange(peek(req, hIfRange), e.ETag) {
		// HEAD is answered as GET would be, as nginx and net/http do;
		// fasthttp leaves out the body.
		switch start, end, res := byteRange(spec, len(body)); res {
		case rangeSatisfiable:
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.SetContentRange(start, end, len(body))
			body = body[start : end+1]
		case rangeUnsatisfiable:
			ctx.SetStatusCode(fasthttp.StatusRequestedRangeNotSatisfiable)
			unsatisfiable(ctx, len(body))
			return
		}
	}
	h.SetCanonical(hAcceptRanges, bytesUnit)
	ctx.Response.SetBodyRaw(body)
}

// unsatisfiable finishes a 416: no body, the size in Content-Range, and
// never stored, since a cache that keys on the URL alone could answer a
// request without Range with it. It is rare, so it may allocate.
func unsatisfiable(ctx *fasthttp.RequestCtx, size int) {
	h := &ctx.Response.Header
	h.SetCanonical(hCacheControl, noStore)
	h.Set(fasthttp.HeaderContentRange, "bytes */"+strconv.Itoa(size))
	ctx.Response.ResetBody()
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
	h.Set(fasthttp.HeaderTimingAllowOrigin, "*")
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
