package upload

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// The Upload API's siblings: signed calls that act on stored assets.
// They take form parameters only (no file).

// maxManageIDs bounds the public_ids of one tags or context call, as
// Cloudinary's 1000.
const maxManageIDs = 1000

// manage wraps a sibling endpoint: it resolves the cloud, reads and
// authenticates the form, and answers in the Upload API's shape.
func (h *Handler) manage(fn func(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res, err := func() (map[string]any, error) {
			c, rt, err := h.target(r)
			if err != nil {
				return nil, err
			}
			if rt == "auto" {
				return nil, clderr.BadRequest("Invalid resource type auto")
			}
			r.Body = http.MaxBytesReader(nil, r.Body, 2*maxFormBytes)
			req, err := parse(r, h.cfg.TempDir, 0)
			if req != nil {
				defer req.close()
			}
			if err != nil {
				return nil, err
			}
			if req.file != nil || req.fileStr != "" {
				return nil, clderr.BadRequest("Unexpected parameter - file")
			}
			if err := flatten(req); err != nil {
				return nil, err
			}
			if err := h.authenticate(r, c, req.params, staleAfter); err != nil {
				return nil, err
			}
			return fn(r.Context(), c, rt, req.params)
		}()
		if err != nil {
			if clderr.Status(err) >= 500 {
				h.cfg.Log.Error("api call failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, storeErr(err))
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// deliveryType reads the type parameter (default upload).
func deliveryType(p url.Values, key string) (string, error) {
	t := p.Get(key)
	if t == "" {
		return "upload", nil
	}
	if _, ok := urlapi.ParseType(t); !ok {
		return "", clderr.BadRequest("Invalid %s %s", key, t)
	}
	return t, nil
}

func required(p url.Values, key string) (string, error) {
	v := p.Get(key)
	if v == "" {
		return "", clderr.BadRequest("Missing required parameter - %s", key)
	}
	return v, nil
}

// destroy deletes an asset, its derivatives and, with invalidate, the
// edges' copies.
func (h *Handler) destroy(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error) {
	id, err := required(p, "public_id")
	if err != nil {
		return nil, err
	}
	typ, err := deliveryType(p, "type")
	if err != nil {
		return nil, err
	}
	if urlapi.ValidatePublicID(id) != nil {
		return map[string]any{"result": "not found"}, nil // no asset can have it
	}
	a, err := h.cfg.Assets.Delete(ctx, c.Name, rt, typ, id)
	if errors.Is(err, asset.ErrNotFound) {
		return map[string]any{"result": "not found"}, nil
	}
	if err != nil {
		return nil, err
	}
	if boolParam(p, "invalidate", false) {
		h.invalidate(ctx, a)
	}
	return map[string]any{"result": "ok"}, nil
}

// rename moves an asset to another public_id (and type).
func (h *Handler) rename(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error) {
	from, err := required(p, "from_public_id")
	if err != nil {
		return nil, err
	}
	to, err := required(p, "to_public_id")
	if err != nil {
		return nil, err
	}
	if urlapi.ValidatePublicID(from) != nil {
		return nil, clderr.NotFound("Resource not found - %s", from)
	}
	if err := urlapi.ValidatePublicID(to); err != nil {
		return nil, err
	}
	typ, err := deliveryType(p, "type")
	if err != nil {
		return nil, err
	}
	toType := typ
	if p.Get("to_type") != "" {
		if toType, err = deliveryType(p, "to_type"); err != nil {
			return nil, err
		}
	}
	a, replaced, err := h.cfg.Assets.Rename(ctx, c.Name, rt, typ, from, toType, to, boolParam(p, "overwrite", false))
	switch {
	case errors.Is(err, asset.ErrNotFound):
		return nil, clderr.NotFound("Resource not found - %s", from)
	case errors.Is(err, asset.ErrExists):
		return nil, clderr.BadRequest("to_public_id %s already exists", to)
	case errors.Is(err, asset.ErrConflict):
		return nil, clderr.New(http.StatusConflict, "Concurrent changes to %s; retry", from)
	case err != nil:
		return nil, err
	}
	if boolParam(p, "invalidate", false) {
		old := *a
		old.PublicID, old.Type = from, typ
		h.invalidate(ctx, &old)
		if replaced != nil {
			h.invalidate(ctx, replaced)
		}
	}
	return h.response(c, a), nil
}

// tags adds, removes or replaces a tag on several assets.
func (h *Handler) tags(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error) {
	cmd := p.Get("command")
	tag := p.Get("tag")
	var tags []string
	switch cmd {
	case "add", "remove", "replace":
		if tags = splitList(tag); len(tags) == 0 {
			return nil, clderr.BadRequest("Missing required parameter - tag")
		}
	case "remove_all":
	default:
		return nil, clderr.BadRequest("Invalid command %s", cmd)
	}
	return h.updateMany(ctx, c, rt, p, func(a *asset.Asset) error {
		switch cmd {
		case "add":
			for _, t := range tags {
				if !slices.Contains(a.Tags, t) {
					a.Tags = append(a.Tags, t)
				}
			}
		case "remove":
			a.Tags = slices.DeleteFunc(a.Tags, func(t string) bool { return slices.Contains(tags, t) })
		case "replace":
			a.Tags = slices.Clone(tags)
		case "remove_all":
			a.Tags = nil
		}
		if len(a.Tags) > maxTags {
			return clderr.BadRequest("Too many tags on %s: at most %d", a.PublicID, maxTags)
		}
		return nil
	})
}

// maxTags is Cloudinary's limit of tags per asset.
const maxTags = 1000

// context adds contextual metadata to several assets, or removes it all.
func (h *Handler) context(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error) {
	cmd := p.Get("command")
	var add map[string]string
	switch cmd {
	case "add":
		var err error
		if add, err = parseContext(p.Get("context")); err != nil {
			return nil, err
		}
		if len(add) == 0 {
			return nil, clderr.BadRequest("Missing required parameter - context")
		}
	case "remove_all":
	default:
		return nil, clderr.BadRequest("Invalid command %s", cmd)
	}
	return h.updateMany(ctx, c, rt, p, func(a *asset.Asset) error {
		if cmd == "remove_all" {
			a.Context = nil
			return nil
		}
		if a.Context == nil {
			a.Context = map[string]string{}
		}
		for k, v := range add {
			a.Context[k] = v
		}
		if len(a.Context) > maxContextKeys {
			return clderr.BadRequest("Too many context keys on %s", a.PublicID)
		}
		return nil
	})
}

// updateMany applies fn to each of public_ids[] and reports the ids it
// changed; missing ones are skipped, as Cloudinary does.
func (h *Handler) updateMany(ctx context.Context, c cloud.Cloud, rt string, p url.Values, fn func(*asset.Asset) error) (map[string]any, error) {
	typ, err := deliveryType(p, "type")
	if err != nil {
		return nil, err
	}
	ids := publicIDs(p)
	if len(ids) == 0 {
		return nil, clderr.BadRequest("Missing required parameter - public_ids")
	}
	if len(ids) > maxManageIDs {
		return nil, clderr.BadRequest("Too many public_ids: at most %d", maxManageIDs)
	}
	done := []string{}
	for _, id := range ids {
		if urlapi.ValidatePublicID(id) != nil {
			continue // no asset can have it
		}
		_, err := h.cfg.Assets.Update(ctx, c.Name, rt, typ, id, fn)
		switch {
		case errors.Is(err, asset.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		done = append(done, id)
	}
	return map[string]any{"public_ids": done}, nil
}

// publicIDs reads public_ids: flattened, whether sent as public_ids[],
// public_ids[0]… or one comma-separated value.
func publicIDs(p url.Values) []string { return splitList(p.Get("public_ids")) }

// explicit applies eager transformations (and tag or context changes) to
// an existing asset.
func (h *Handler) explicit(ctx context.Context, c cloud.Cloud, rt string, p url.Values) (map[string]any, error) {
	id, err := required(p, "public_id")
	if err != nil {
		return nil, err
	}
	if urlapi.ValidatePublicID(id) != nil {
		return nil, clderr.NotFound("Resource not found - %s", id)
	}
	o, err := parseOptions(p)
	if err != nil {
		return nil, err
	}
	var a *asset.Asset
	if p.Has("tags") || p.Has("context") {
		a, err = h.cfg.Assets.Update(ctx, c.Name, rt, o.typ, id, func(a *asset.Asset) error {
			if p.Has("tags") {
				a.Tags = o.tags
			}
			if p.Has("context") {
				a.Context = o.context
			}
			return nil
		})
	} else {
		a, _, err = h.cfg.Assets.Get(ctx, c.Name, rt, o.typ, id)
	}
	if errors.Is(err, asset.ErrNotFound) {
		return nil, clderr.NotFound("Resource not found - %s", id)
	}
	if err != nil {
		return nil, err
	}
	if a.ResourceType == "raw" && len(o.eager) > 0 {
		return nil, clderr.BadRequest("Transformations are not supported for raw files")
	}
	res := h.response(c, a)
	if len(o.eager) > 0 {
		if err := h.eager(ctx, c, a, o, res); err != nil {
			return nil, err
		}
	}
	if o.invalidate {
		h.invalidate(ctx, a)
	}
	if o.notify != "" {
		h.notify(ctx, c, o.notify, "explicit", res)
	}
	return res, nil
}
