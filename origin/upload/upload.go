// Package upload is the Cloudinary Upload API on the origin:
// POST /v1_1/<cloud>/<image|raw|auto>/upload, signed as the SDKs sign it.
package upload

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/chunk"
	"github.com/refract-cdn/refract/origin/derive"
	"github.com/refract-cdn/refract/origin/limit"
	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/safehttp"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Config wires the handler.
type Config struct {
	Clouds    *cloud.Registry
	Assets    *asset.Repo
	InFlight  *limit.Limiter // bounds uploads being received, before any body is read
	Probe     *limit.Limiter // bounds concurrent image validation (libvips work)
	Bus       bus.Bus        // receives purges for invalidate=true
	MaxBytes  int64          // largest file accepted
	MaxPixels int            // largest image accepted
	TempDir   string         // where uploads are staged
	// DeliveryURL is the base of delivery URLs in responses, such as
	// "https://img.example.com"; secure_url uses SecureDeliveryURL when set.
	DeliveryURL       string
	SecureDeliveryURL string
	Now               func() time.Time
	Log               *slog.Logger
	Registerer        prometheus.Registerer
	// Deriver renders incoming and eager transformations.
	Deriver *derive.Service
	// Fetch downloads remote files (file=http(s)://…) with the SSRF
	// guard; nil refuses them.
	Fetch *safehttp.Client
	// Chunks assembles chunked uploads; nil refuses them.
	Chunks *chunk.Assembler
	// Presets holds upload presets; nil refuses upload_preset.
	Presets *preset.Repo
	// Jobs persists eager_async work; nil runs eager transformations
	// synchronously.
	Jobs Queue
	// Notify queues a webhook to url with body, signed with the cloud's
	// secret; nil drops notifications.
	Notify func(ctx context.Context, cloud, url string, body []byte) error
}

// Queue persists work to do after the response.
type Queue interface {
	Enqueue(ctx context.Context, kind string, payload any) error
}

// Handler serves the Upload API.
type Handler struct {
	cfg     Config
	uploads *prometheus.CounterVec
}

// New returns the Upload API handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	h := &Handler{cfg: cfg, uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "refract_uploads_total", Help: "Upload API requests by outcome.",
	}, []string{"outcome"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.uploads)
	}
	return h
}

// Register mounts the handler's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/upload", h.serveUpload)
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/explicit", h.manage(h.explicit))
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/destroy", h.manage(h.destroy))
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/rename", h.manage(h.rename))
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/tags", h.manage(h.tags))
	mux.HandleFunc("POST /v1_1/{cloud}/{rt}/context", h.manage(h.context))
}

// staleAfter is how old a signed request's timestamp may be.
const staleAfter = time.Hour

var errBusy = clderr.New(http.StatusTooManyRequests, "Too many uploads in progress; retry")

func (h *Handler) serveUpload(w http.ResponseWriter, r *http.Request) {
	var res map[string]any
	release, err := h.cfg.InFlight.Acquire(r.Context())
	if err == nil {
		res, err = h.upload(r)
		release()
	} else {
		err = errBusy
	}
	if err != nil {
		err = storeErr(err)
		h.uploads.WithLabelValues(strconv.Itoa(clderr.Status(err))).Inc()
		if clderr.Status(err) >= 500 {
			h.cfg.Log.Error("upload failed", "path", r.URL.Path, "err", err)
		}
		writeError(w, err)
		return
	}
	h.uploads.WithLabelValues("200").Inc()
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) upload(r *http.Request) (map[string]any, error) {
	c, rt, err := h.target(r)
	if err != nil {
		return nil, err
	}
	if r.Header.Get("X-Unique-Upload-Id") != "" || r.Header.Get("Content-Range") != "" {
		return h.chunked(r, c, rt)
	}
	// Bounds how long a client may send, not memory (bodies stream): a
	// data URI is 4/3 of the file and percent-encoding can triple it.
	r.Body = http.MaxBytesReader(nil, r.Body, h.cfg.MaxBytes*4+4*maxFormBytes)
	req, err := parse(r, h.cfg.TempDir, h.cfg.MaxBytes)
	if req != nil {
		defer req.close()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit, h.cfg.MaxBytes)
		}
		return nil, err
	}
	if err := flatten(req); err != nil {
		return nil, err
	}
	if err := h.authorize(r, c, req.params, staleAfter); err != nil {
		return nil, err
	}
	if err := h.stageFile(r.Context(), req); err != nil {
		return nil, err
	}
	return h.store(r.Context(), c, rt, req)
}

// target reads the cloud and resource type of an Upload API path.
func (h *Handler) target(r *http.Request) (cloud.Cloud, string, error) {
	c, ok := h.cfg.Clouds.Lookup(r.PathValue("cloud"))
	if !ok {
		return c, "", clderr.Unauthorized("Invalid cloud_name %s", r.PathValue("cloud"))
	}
	rt := r.PathValue("rt")
	switch rt {
	case "image", "raw", "auto":
	case "video":
		return c, "", clderr.New(http.StatusNotImplemented, "Video uploads are not supported")
	default:
		return c, "", clderr.BadRequest("Invalid resource type %s", rt)
	}
	return c, rt, nil
}

// options are an upload's parameters, validated before anything is
// stored.
type options struct {
	typ            string
	tags           []string
	context        map[string]string
	eager          []Eager
	eagerAsync     bool
	incoming       *transform.Chain
	format         format.Format
	allowedFormats []string
	overwrite      bool
	invalidate     bool
	notify         string // notification_url
	eagerNotify    string // eager_notification_url
}

func parseOptions(p url.Values) (*options, error) {
	o := &options{
		typ:        p.Get("type"),
		tags:       splitList(p.Get("tags")),
		eagerAsync: boolParam(p, "eager_async", false),
		overwrite:  boolParam(p, "overwrite", true),
		invalidate: boolParam(p, "invalidate", false),
		notify:     p.Get("notification_url"),
	}
	if o.typ == "" {
		o.typ = "upload"
	}
	for _, t := range o.tags {
		if !asset.ValidTag(t) {
			return nil, clderr.BadRequest("Invalid tag - %s", t)
		}
	}
	if _, ok := urlapi.ParseType(o.typ); !ok {
		return nil, clderr.BadRequest("Invalid type %s", o.typ)
	}
	var err error
	if o.context, err = parseContext(p.Get("context")); err != nil {
		return nil, err
	}
	if o.eager, err = ParseEager(p.Get("eager")); err != nil {
		return nil, err
	}
	if tx := p.Get("transformation"); tx != "" {
		o.incoming = new(transform.Chain)
		if err := transform.Parse(tx, o.incoming); err != nil {
			return nil, err
		}
	}
	if f := p.Get("format"); f != "" {
		if o.format = format.FromExt(f); o.format == format.Unknown || !o.format.Writable() {
			return nil, clderr.BadRequest("Invalid format - %s", f)
		}
	}
	for _, f := range splitList(p.Get("allowed_formats")) {
		o.allowedFormats = append(o.allowedFormats, strings.ToLower(f))
	}
	for _, u := range []string{"notification_url", "eager_notification_url"} {
		if v := p.Get(u); v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return nil, clderr.BadRequest("Invalid %s - %s", u, v)
		}
	}
	o.eagerNotify = p.Get("eager_notification_url")
	if o.eagerNotify == "" {
		o.eagerNotify = o.notify
	}
	return o, nil
}

// store validates, transforms and saves a staged upload, then runs its
// eager transformations and queues its notifications.
func (h *Handler) store(ctx context.Context, c cloud.Cloud, rt string, req *request) (map[string]any, error) {
	p := req.params
	o, err := parseOptions(p)
	if err != nil {
		return nil, err
	}
	if p.Get("resource_type") != "" && rt == "auto" {
		rt = p.Get("resource_type")
	}
	a := &asset.Asset{
		Cloud: c.Name, Type: o.typ, Bytes: req.size, ETag: req.md5, Tags: o.tags, Context: o.context,
		CreatedAt: h.cfg.Now().UTC().Truncate(time.Second), OriginalFilename: stem(req.filename),
	}
	a.Version = a.CreatedAt.Unix()
	src, err := h.identify(ctx, req, rt, a)
	if err != nil {
		return nil, err
	}
	if err := checkAllowed(o.allowedFormats, a, req.filename); err != nil {
		return nil, err
	}
	if a.ResourceType == "raw" && (o.incoming != nil || len(o.eager) > 0) {
		return nil, clderr.BadRequest("Transformations are not supported for raw files")
	}
	if a.ResourceType == "image" && (o.incoming != nil || (o.format != format.Unknown && o.format.Ext() != a.Format)) {
		if err := h.applyIncoming(ctx, c, req, src, o, a); err != nil {
			return nil, err
		}
	}
	src = nil // the original may be large: let it go before the eager renders
	if a.PublicID, err = publicID(p, req.filename, a.ResourceType, a.Format); err != nil {
		return nil, err
	}
	prev, err := h.cfg.Assets.Save(ctx, a, req.file, o.overwrite)
	switch {
	case errors.Is(err, asset.ErrExists):
		res := h.response(c, prev)
		res["existing"] = true
		return res, nil
	case errors.Is(err, asset.ErrConflict):
		return nil, clderr.New(http.StatusConflict, "Concurrent uploads to %s; retry", a.PublicID)
	case err != nil:
		return nil, storeErr(err)
	}
	res := h.response(c, a)
	if prev != nil {
		res["overwritten"] = true
		if o.invalidate {
			h.invalidate(ctx, a)
		}
	}
	if len(o.eager) > 0 {
		if err := h.eager(ctx, c, a, o, res); err != nil {
			return nil, err
		}
	}
	if o.notify != "" {
		h.notify(ctx, c, o.notify, "upload", res)
	}
	return res, nil
}

// eager runs the eager transformations now, or queues them with
// eager_async; either way the response lists them.
func (h *Handler) eager(ctx context.Context, c cloud.Cloud, a *asset.Asset, o *options, res map[string]any) error {
	if !o.eagerAsync || h.cfg.Jobs == nil {
		out, err := h.runEager(ctx, c, a, o.eager)
		if err != nil {
			// The asset is stored; the failed transformation is what the
			// client must hear about, as Cloudinary reports it.
			return err
		}
		res["eager"] = out
		return nil
	}
	batch := asset.NewID()
	job := EagerJob{Cloud: c.Name, ResourceType: a.ResourceType, Type: a.Type, PublicID: a.PublicID,
		VersionID: a.VersionID, Eager: o.eager, NotificationURL: o.eagerNotify, BatchID: batch}
	if err := h.cfg.Jobs.Enqueue(ctx, KindEager, job); err != nil {
		return storeErr(err)
	}
	pending := make([]map[string]any, 0, len(o.eager))
	for _, e := range o.eager {
		u, su := h.deliveryURLs(c, a, e.Tx, e.Format)
		pending = append(pending, map[string]any{"transformation": e.String(), "status": "processing",
			"batch_id": batch, "url": u, "secure_url": su})
	}
	res["eager"] = pending
	res["batch_id"] = batch
	return nil
}

// invalidate asks the edges to drop what they hold of a's public_id.
func (h *Handler) invalidate(ctx context.Context, a *asset.Asset) {
	if h.cfg.Bus == nil {
		return
	}
	err := h.cfg.Bus.Publish(ctx, bus.Purge{Cloud: a.Cloud, ResourceType: a.ResourceType, Type: a.Type, PublicID: a.PublicID, At: h.cfg.Now()})
	if err != nil {
		h.cfg.Log.Warn("invalidation not published", "public_id", a.PublicID, "err", err)
	}
}

// notify queues a webhook with body (the API response) and its type.
// A notification that cannot be queued is logged: the upload itself
// succeeded and must not be reported as failed.
func (h *Handler) notify(ctx context.Context, c cloud.Cloud, url, kind string, body map[string]any) {
	if h.cfg.Notify == nil {
		return
	}
	msg := make(map[string]any, len(body)+1)
	for k, v := range body {
		msg[k] = v
	}
	msg["notification_type"] = kind
	b, _ := json.Marshal(msg)
	if err := h.cfg.Notify(ctx, c.Name, url, b); err != nil {
		h.cfg.Log.Error("notification not queued", "url", url, "err", err)
	}
}

// checkAllowed applies allowed_formats to the uploaded file's format (an
// image's, or a raw file's extension).
func checkAllowed(allowed []string, a *asset.Asset, filename string) error {
	if len(allowed) == 0 {
		return nil
	}
	got := a.Format
	if a.ResourceType == "raw" {
		got = strings.TrimPrefix(strings.ToLower(path.Ext(filename)), ".")
	}
	for _, f := range allowed {
		if f == got || (format.FromExt(f) != format.Unknown && format.FromExt(f) == format.FromExt(got)) {
			return nil
		}
	}
	if got == "" {
		got = "unknown"
	}
	return clderr.BadRequest("%s format %s not allowed", titleRT(a.ResourceType), got)
}

func titleRT(rt string) string {
	if rt == "raw" {
		return "Raw file"
	}
	return "Image"
}

// authenticate accepts HTTP Basic with the cloud's key and secret, or a
// signed request: the cloud's api_key, a timestamp under an hour old and
// a valid SHA-1 or SHA-256 signature.
func (h *Handler) authenticate(r *http.Request, c cloud.Cloud, p url.Values, window time.Duration) error {
	if key, secret, ok := r.BasicAuth(); ok {
		if !c.CheckKey(key, secret) {
			return clderr.Unauthorized("Invalid credentials")
		}
		return nil
	}
	for _, k := range []string{"api_key", "timestamp", "signature"} {
		if p.Get(k) == "" {
			return clderr.BadRequest("Missing required parameter - %s", k)
		}
	}
	if p.Get("api_key") != c.APIKey {
		return clderr.Unauthorized("Unknown API key %s", p.Get("api_key"))
	}
	ts, err := strconv.ParseInt(p.Get("timestamp"), 10, 64)
	if err != nil {
		return clderr.Unauthorized("Invalid timestamp %s", p.Get("timestamp"))
	}
	now, t := h.cfg.Now(), time.Unix(ts, 0)
	const layout = "2006-01-02 15:04:05 -0700"
	switch {
	case now.Sub(t) > window:
		return clderr.Unauthorized("Stale request - reported time is %s which is more than 1 hour ago", t.UTC().Format(layout))
	case t.Sub(now) > staleAfter:
		return clderr.Unauthorized("Stale request - reported time is %s which is more than 1 hour in the future", t.UTC().Format(layout))
	}
	if !sign.VerifyUpload(p, p.Get("signature"), c.APISecret) {
		return clderr.Unauthorized("Invalid Signature %s. String to sign - '%s'.", p.Get("signature"), sign.UploadToSign(p))
	}
	return nil
}

// stageFile makes sure the file is in a temporary file.
func (h *Handler) stageFile(ctx context.Context, req *request) error {
	if req.file != nil {
		return nil
	}
	switch s := req.fileStr; {
	case s == "":
		return clderr.BadRequest("Missing required parameter - file")
	case strings.HasPrefix(s, "data:"):
		return req.stageDataURI(strings.NewReader(s), h.cfg.TempDir, h.cfg.MaxBytes)
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		if h.cfg.Fetch == nil {
			return clderr.BadRequest("Remote URL uploads are turned off")
		}
		return req.stageRemote(ctx, h.cfg.Fetch, s, h.cfg.TempDir, h.cfg.MaxBytes)
	}
	return clderr.BadRequest("Invalid file parameter: send the file, a data: URI or a URL")
}

// identify decides the resource type and, for images, validates the file
// completely before anything is stored. It returns the image's bytes,
// which an incoming transformation needs.
func (h *Handler) identify(ctx context.Context, req *request, rt string, a *asset.Asset) ([]byte, error) {
	a.ResourceType = rt
	if rt == "raw" {
		return nil, nil
	}
	if req.size == 0 {
		if rt == "auto" {
			a.ResourceType = "raw"
			return nil, nil
		}
		return nil, clderr.BadRequest("Empty file")
	}
	release, err := h.cfg.Probe.Acquire(ctx)
	if err != nil {
		return nil, errBusy
	}
	defer release()
	buf := make([]byte, req.size)
	if _, err := io.ReadFull(req.file, buf); err != nil {
		return nil, err
	}
	if _, err := req.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	info, err := render.Probe(buf, h.cfg.MaxPixels)
	if err != nil {
		if rt == "auto" && render.IsInvalidImage(err) {
			a.ResourceType = "raw"
			return nil, nil
		}
		return nil, err
	}
	a.ResourceType = "image"
	a.Format, a.Width, a.Height = info.Format.Ext(), info.Width, info.Height
	a.Alpha, a.Pages = info.Alpha, info.Pages
	return buf, nil
}

// applyIncoming replaces the staged image with the incoming
// transformation's result (and the format parameter's conversion), so
// that the stored original is the transformed image.
func (h *Handler) applyIncoming(ctx context.Context, c cloud.Cloud, req *request, src []byte, o *options, a *asset.Asset) error {
	ch := o.incoming
	if ch == nil {
		ch = &transform.Chain{}
	}
	f := o.format
	if f == format.Unknown {
		if f = ch.Format(); f == format.Unknown || f == format.Auto {
			f = format.FromExt(a.Format)
		}
	}
	res, err := h.cfg.Deriver.Transform(ctx, c.Name, src, ch, f)
	if err != nil {
		return err
	}
	if err := req.replace(res.Body, h.cfg.TempDir); err != nil {
		return err
	}
	info, err := render.Probe(res.Body, h.cfg.MaxPixels)
	if err != nil {
		return err
	}
	a.Bytes, a.ETag = req.size, req.md5
	a.Format, a.Width, a.Height = info.Format.Ext(), info.Width, info.Height
	a.Alpha, a.Pages = info.Alpha, info.Pages
	return nil
}

// publicID names the asset: public_id as given, else the file's name with
// use_filename (and a random suffix with unique_filename), else random;
// folder is prepended. Raw ids keep their extension, as Cloudinary's do.
func publicID(p url.Values, filename, rt, format string) (string, error) {
	id := strings.Trim(p.Get("public_id"), "/")
	if id == "" {
		if boolParam(p, "use_filename", false) && stem(filename) != "" {
			id = sanitize(stem(filename))
			if boolParam(p, "unique_filename", true) {
				id += "_" + randomID(6)
			}
		} else {
			id = randomID(20)
		}
		if ext := path.Ext(filename); rt == "raw" && ext != "" {
			id += sanitize(ext)
		}
	}
	if folder := strings.Trim(p.Get("folder"), "/"); folder != "" {
		id = folder + "/" + id
	}
	if err := urlapi.ValidatePublicID(id); err != nil {
		return "", err
	}
	// A folder named v<digits> would read as a version in every URL.
	if dir := path.Dir(id); dir != "." {
		for _, seg := range strings.Split(dir, "/") {
			if versionLike.MatchString(seg) {
				return "", clderr.BadRequest("Invalid public_id %s: a folder cannot be named v followed by digits", id)
			}
		}
	}
	return id, nil
}

var versionLike = regexp.MustCompile(`^v[0-9]+$`)

func stem(filename string) string {
	base := path.Base(strings.ReplaceAll(filename, "\\", "/"))
	if base == "." || base == "/" {
		return ""
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

// sanitize replaces what a public_id may not hold with "_".
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r == 0x7f, strings.ContainsRune("?&#\\%<>+/", r):
			return '_'
		}
		return r
	}, s)
}

// randomID is n characters of [a-z0-9] starting with a letter, the shape
// of Cloudinary's generated ids.
func randomID(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	const alnum = letters + "0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		if i == 0 {
			b[i] = letters[int(b[i])%len(letters)]
		} else {
			b[i] = alnum[int(b[i])%len(alnum)]
		}
	}
	return string(b)
}

// deliveryURLs are the http and https URLs of a's version with
// transformation tx (may be empty) in format ext (empty: the asset's).
func (h *Handler) deliveryURLs(c cloud.Cloud, a *asset.Asset, tx, ext string) (string, string) {
	switch {
	case a.ResourceType != "image":
		ext = "" // raw ids keep their extension in the id
	case ext == "":
		ext = a.Format
	}
	rel := urlapi.Path(c.Name, a.ResourceType, a.Type, tx, a.Version, a.PublicID, ext)
	secure := h.cfg.SecureDeliveryURL
	if secure == "" {
		secure = h.cfg.DeliveryURL
	}
	return strings.TrimRight(h.cfg.DeliveryURL, "/") + rel, strings.TrimRight(secure, "/") + rel
}

// response is the Upload API's JSON for a, with Cloudinary's fields.
func (h *Handler) response(c cloud.Cloud, a *asset.Asset) map[string]any {
	v := strconv.FormatInt(a.Version, 10)
	u, su := h.deliveryURLs(c, a, "", "")
	folder := ""
	if i := strings.LastIndexByte(a.PublicID, '/'); i >= 0 {
		folder = a.PublicID[:i]
	}
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	res := map[string]any{
		"asset_id":          a.AssetID,
		"public_id":         a.PublicID,
		"version":           a.Version,
		"version_id":        a.VersionID,
		"signature":         sign.Response(a.PublicID, v, c.APISecret),
		"resource_type":     a.ResourceType,
		"type":              a.Type,
		"created_at":        a.CreatedAt.UTC().Format(time.RFC3339),
		"tags":              tags,
		"bytes":             a.Bytes,
		"etag":              a.ETag,
		"placeholder":       false,
		"url":               u,
		"secure_url":        su,
		"asset_folder":      folder,
		"display_name":      path.Base(a.PublicID),
		"original_filename": a.OriginalFilename,
		"api_key":           c.APIKey,
	}
	if len(a.Context) > 0 {
		res["context"] = map[string]any{"custom": a.Context}
	}
	if a.ResourceType == "image" {
		res["width"], res["height"], res["format"] = a.Width, a.Height, a.Format
		res["pages"] = max(1, a.Pages)
	}
	return res
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers in the Upload API's error shape, which is what the
// SDKs read: they ignore the status code.
func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("X-Cld-Error", clderr.Message(err))
	if s := clderr.Status(err); s == http.StatusServiceUnavailable || s == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, clderr.Status(err), map[string]any{"error": map[string]string{"message": clderr.Message(err)}})
}
