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
	"github.com/refract-cdn/refract/origin/limit"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/sign"
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
	c, ok := h.cfg.Clouds.Lookup(r.PathValue("cloud"))
	if !ok {
		return nil, clderr.Unauthorized("Invalid cloud_name %s", r.PathValue("cloud"))
	}
	rt := r.PathValue("rt")
	switch rt {
	case "image", "raw", "auto":
	case "video":
		return nil, clderr.New(http.StatusNotImplemented, "Video uploads are not supported")
	default:
		return nil, clderr.BadRequest("Invalid resource type %s", rt)
	}
	if r.Header.Get("X-Unique-Upload-Id") != "" || r.Header.Get("Content-Range") != "" {
		return nil, clderr.BadRequest("Chunked uploads are not supported yet: upload files of at most %d bytes in one request", h.cfg.MaxBytes)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, h.cfg.MaxBytes*4/3+2*maxFormBytes)
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
	if err := h.authenticate(r, c, req.params); err != nil {
		return nil, err
	}
	if err := h.stageFile(req); err != nil {
		return nil, err
	}
	p := req.params
	if rt == "auto" {
		rt = p.Get("resource_type")
		if rt == "" || rt == "auto" {
			rt = "auto"
		}
	}
	typ := p.Get("type")
	if typ == "" {
		typ = "upload"
	}
	if _, ok := urlapi.ParseType(typ); !ok {
		return nil, clderr.BadRequest("Invalid type %s", typ)
	}

	a := &asset.Asset{
		Cloud: c.Name, Type: typ, Bytes: req.size, ETag: req.md5,
		CreatedAt: h.cfg.Now().UTC().Truncate(time.Second), OriginalFilename: stem(req.filename),
	}
	a.Version = a.CreatedAt.Unix()
	if tags := p.Get("tags"); tags != "" {
		for _, t := range strings.Split(tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				a.Tags = append(a.Tags, t)
			}
		}
	}
	if err := h.identify(r.Context(), req, rt, a); err != nil {
		return nil, err
	}
	if a.PublicID, err = publicID(p, req.filename, a.ResourceType, a.Format); err != nil {
		return nil, err
	}
	prev, err := h.cfg.Assets.Save(r.Context(), a, req.file, boolParam(p, "overwrite", true))
	switch {
	case errors.Is(err, asset.ErrExists):
		res := h.response(c, prev)
		res["existing"] = true
		return res, nil
	case errors.Is(err, asset.ErrConflict):
		return nil, clderr.New(http.StatusConflict, "Concurrent uploads to %s; retry", a.PublicID)
	case err != nil:
		return nil, err
	}
	res := h.response(c, a)
	if prev != nil {
		res["overwritten"] = true
		if boolParam(p, "invalidate", false) && h.cfg.Bus != nil {
			err := h.cfg.Bus.Publish(r.Context(), bus.Purge{Cloud: c.Name, ResourceType: a.ResourceType, Type: a.Type, PublicID: a.PublicID, At: h.cfg.Now()})
			if err != nil {
				h.cfg.Log.Warn("invalidation not published", "public_id", a.PublicID, "err", err)
			}
		}
	}
	return res, nil
}

// authenticate accepts HTTP Basic with the cloud's key and secret, or a
// signed request: the cloud's api_key, a timestamp under an hour old and
// a valid SHA-1 or SHA-256 signature.
func (h *Handler) authenticate(r *http.Request, c cloud.Cloud, p url.Values) error {
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
	case now.Sub(t) > staleAfter:
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
func (h *Handler) stageFile(req *request) error {
	if req.file != nil {
		return nil
	}
	switch s := req.fileStr; {
	case s == "":
		return clderr.BadRequest("Missing required parameter - file")
	case strings.HasPrefix(s, "data:"):
		return req.stageDataURI(strings.NewReader(s), h.cfg.TempDir, h.cfg.MaxBytes)
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return clderr.BadRequest("Remote URL uploads are not supported yet")
	}
	return clderr.BadRequest("Invalid file parameter: send the file, a data: URI or a URL")
}

// identify decides the resource type and, for images, validates the file
// completely before anything is stored.
func (h *Handler) identify(ctx context.Context, req *request, rt string, a *asset.Asset) error {
	a.ResourceType = rt
	if rt == "raw" {
		return nil
	}
	if req.size == 0 {
		if rt == "auto" {
			a.ResourceType = "raw"
			return nil
		}
		return clderr.BadRequest("Empty file")
	}
	release, err := h.cfg.Probe.Acquire(ctx)
	if err != nil {
		return errBusy
	}
	defer release()
	buf := make([]byte, req.size)
	if _, err := io.ReadFull(req.file, buf); err != nil {
		return err
	}
	if _, err := req.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	info, err := render.Probe(buf, h.cfg.MaxPixels)
	if err != nil {
		if rt == "auto" && render.IsInvalidImage(err) {
			a.ResourceType = "raw"
			return nil
		}
		return err
	}
	a.ResourceType = "image"
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

// response is the Upload API's JSON for a, with Cloudinary's fields.
func (h *Handler) response(c cloud.Cloud, a *asset.Asset) map[string]any {
	v := strconv.FormatInt(a.Version, 10)
	rel := "/" + c.Name + "/" + a.ResourceType + "/" + a.Type + "/v" + v + "/" + escapePath(a.PublicID)
	if a.ResourceType == "image" && a.Format != "" {
		rel += "." + a.Format
	}
	secure := h.cfg.SecureDeliveryURL
	if secure == "" {
		secure = h.cfg.DeliveryURL
	}
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
		"url":               strings.TrimRight(h.cfg.DeliveryURL, "/") + rel,
		"secure_url":        strings.TrimRight(secure, "/") + rel,
		"asset_folder":      folder,
		"display_name":      path.Base(a.PublicID),
		"original_filename": a.OriginalFilename,
		"api_key":           c.APIKey,
	}
	if a.ResourceType == "image" {
		res["width"], res["height"], res["format"] = a.Width, a.Height, a.Format
		res["pages"] = max(1, a.Pages)
	}
	return res
}

// escapePath percent-encodes each segment of a public_id for a URL.
func escapePath(id string) string {
	segs := strings.Split(id, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
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
	writeJSON(w, clderr.Status(err), map[string]any{"error": map[string]string{"message": clderr.Message(err)}})
}
