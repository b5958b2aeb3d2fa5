package admin

import (
	"errors"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Limits Cloudinary documents for one call.
const (
	maxPublicIDs  = 100  // public_ids in one list or delete
	maxDeleteMany = 1000 // assets one delete by prefix or all removes
)

// resourceType checks the {rt} of a path. Video is a valid type with no
// assets: Refract does not store videos.
func resourceType(r *http.Request) (string, error) {
	switch rt := r.PathValue("rt"); rt {
	case "image", "raw", "video":
		return rt, nil
	default:
		return "", clderr.BadRequest("Invalid resource type %s", rt)
	}
}

// unsupported are Admin API listings under resources/<rt>/ that Refract
// does not implement; without this they would read as delivery types.
var unsupported = []string{"context", "moderations", "by_asset_folder", "visual_search", "related_assets", "restore"}

// deliveryType checks a delivery type from the path or the type parameter.
// Types Refract never stores (fetch, facebook, ...) list as empty.
func deliveryType(t string) (string, error) {
	if slices.Contains(unsupported, t) {
		return "", clderr.New(http.StatusNotImplemented, "resources/<resource_type>/%s is not supported", t)
	}
	if t == "" || len(t) > 32 || strings.Trim(t, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", clderr.BadRequest("Invalid type %s", t)
	}
	return t, nil
}

func (h *Handler) resourceTypes(r *http.Request, c cloud.Cloud, _ params) (any, error) {
	types := []string{}
	for _, rt := range []string{"image", "raw"} {
		as, _, err := h.cfg.Assets.List(r.Context(), asset.Query{Cloud: c.Name, ResourceType: rt, Max: 1})
		if err != nil {
			return nil, err
		}
		if len(as) > 0 {
			types = append(types, rt)
		}
	}
	return map[string]any{"resource_types": types}, nil
}

// listOptions are the parameters every listing of resources shares.
type listOptions struct {
	max                int
	cursor             string
	withTags, withCtxt bool
}

func listOpts(p params) (listOptions, error) {
	var o listOptions
	var err error
	if o.max, err = p.integer("max_results", asset.DefaultMax, 1, asset.MaxResults); err != nil {
		return o, err
	}
	o.cursor = p.get("next_cursor")
	if o.withTags, err = p.boolean("tags", false); err != nil {
		return o, err
	}
	o.withCtxt, err = p.boolean("context", false)
	return o, err
}

func (h *Handler) listResources(r *http.Request, c cloud.Cloud, p params) (any, error) {
	rt, err := resourceType(r)
	if err != nil {
		return nil, err
	}
	typ := r.PathValue("type")
	if typ == "" {
		typ = p.get("type")
	}
	if typ != "" {
		if typ, err = deliveryType(typ); err != nil {
			return nil, err
		}
	}
	o, err := listOpts(p)
	if err != nil {
		return nil, err
	}
	q := asset.Query{Cloud: c.Name, ResourceType: rt, Type: typ, Prefix: p.get("prefix"), Max: o.max, Cursor: o.cursor}
	if ids := p.list("public_ids"); len(ids) > 0 {
		if len(ids) > maxPublicIDs {
			return nil, clderr.BadRequest("Too many public_ids: at most %d", maxPublicIDs)
		}
		q.PublicIDs = ids
	}
	return h.list(r, c, q, o)
}

func (h *Handler) listByTag(r *http.Request, c cloud.Cloud, p params) (any, error) {
	rt, err := resourceType(r)
	if err != nil {
		return nil, err
	}
	tag := r.PathValue("tag")
	if !asset.ValidTag(tag) {
		return nil, clderr.BadRequest("Invalid tag %s", tag)
	}
	o, err := listOpts(p)
	if err != nil {
		return nil, err
	}
	return h.list(r, c, asset.Query{Cloud: c.Name, ResourceType: rt, Tag: tag, Max: o.max, Cursor: o.cursor}, o)
}

func (h *Handler) list(r *http.Request, c cloud.Cloud, q asset.Query, o listOptions) (any, error) {
	as, next, err := h.cfg.Assets.List(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(as))
	for i, a := range as {
		out[i] = h.resource(c, a, o.withTags, o.withCtxt)
	}
	res := map[string]any{"resources": out}
	if next != "" {
		res["next_cursor"] = next
	}
	return res, nil
}

// resource is an asset as the Admin API lists it.
func (h *Handler) resource(c cloud.Cloud, a *asset.Asset, withTags, withContext bool) map[string]any {
	ext := ""
	if a.ResourceType == "image" {
		ext = a.Format
	}
	u, su := h.deliveryURLs(deliveryPath(c.Name, a, "", ext))
	folder := ""
	if i := strings.LastIndexByte(a.PublicID, '/'); i >= 0 {
		folder = a.PublicID[:i]
	}
	m := map[string]any{
		"asset_id":      a.AssetID,
		"public_id":     a.PublicID,
		"version":       a.Version,
		"version_id":    a.VersionID,
		"resource_type": a.ResourceType,
		"type":          a.Type,
		"created_at":    a.CreatedAt.UTC().Format(time.RFC3339),
		"bytes":         a.Bytes,
		"asset_folder":  folder,
		"display_name":  path.Base(a.PublicID),
		"backup":        false,
		"access_mode":   "public",
		"url":           u,
		"secure_url":    su,
	}
	if a.ResourceType == "image" {
		m["format"], m["width"], m["height"] = a.Format, a.Width, a.Height
	}
	if withTags {
		tags := a.Tags
		if tags == nil {
			tags = []string{}
		}
		m["tags"] = tags
	}
	if withContext && len(a.Context) > 0 {
		m["context"] = map[string]any{"custom": a.Context}
	}
	return m
}

func (h *Handler) getResource(r *http.Request, c cloud.Cloud, p params) (any, error) {
	rt, err := resourceType(r)
	if err != nil {
		return nil, err
	}
	typ, err := deliveryType(r.PathValue("type"))
	if err != nil {
		return nil, err
	}
	id := r.PathValue("public_id")
	if err := urlapi.ValidatePublicID(id); err != nil {
		return nil, err
	}
	maxDerived, err := p.integer("max_results", asset.DefaultMax, 1, asset.MaxResults)
	if err != nil {
		return nil, err
	}
	a, _, err := h.cfg.Assets.Get(r.Context(), c.Name, rt, typ, id)
	if errors.Is(err, asset.ErrNotFound) {
		return nil, clderr.NotFound("Resource not found - %s", id)
	}
	if err != nil {
		return nil, err
	}
	ds, err := h.cfg.Assets.Derived(r.Context(), a, maxDerived)
	if err != nil {
		return nil, err
	}
	derived := make([]map[string]any, len(ds))
	for i, d := range ds {
		e := map[string]any{"transformation": d.Transformation, "format": d.Format, "bytes": d.Bytes, "id": d.ID}
		// Without its transformation text a derivative has no URL.
		if d.Transformation != "" {
			e["url"], e["secure_url"] = h.deliveryURLs(deliveryPath(c.Name, a, d.Transformation, d.Format))
		}
		derived[i] = e
	}
	res := h.resource(c, a, true, true)
	res["etag"] = a.ETag
	res["derived"] = derived
	if a.ResourceType == "image" {
		res["pages"] = max(a.Pages, 1)
	}
	if a.OriginalFilename != "" {
		res["original_filename"] = a.OriginalFilename
	}
	return res, nil
}

// deleteResources deletes by public_ids, by prefix or all of a type;
// keep_original deletes only the derivatives, and transformations only
// those derivatives. Prefix and all delete up to maxDeleteMany assets a
// call and then answer partial with a next_cursor.
func (h *Handler) deleteResources(r *http.Request, c cloud.Cloud, p params) (any, error) {
	rt, err := resourceType(r)
	if err != nil {
		return nil, err
	}
	typ, err := deliveryType(r.PathValue("type"))
	if err != nil {
		return nil, err
	}
	keep, err := p.boolean("keep_original", false)
	if err != nil {
		return nil, err
	}
	invalidate, err := p.boolean("invalidate", false)
	if err != nil {
		return nil, err
	}
	all, err := p.boolean("all", false)
	if err != nil {
		return nil, err
	}
	var txs []string
	for _, tx := range strings.Split(p.get("transformations"), "|") {
		if tx = strings.TrimSpace(tx); tx == "" {
			continue
		}
		var ch transform.Chain
		if err := transform.Parse(tx, &ch); err != nil {
			return nil, err
		}
		txs = append(txs, ch.String())
	}
	ids, prefixes := p.list("public_ids"), p.list("prefix")
	var targets []string
	partial, next := false, ""
	switch {
	case len(ids) > 0:
		if len(ids) > maxPublicIDs {
			return nil, clderr.BadRequest("Too many public_ids: at most %d", maxPublicIDs)
		}
		for _, id := range ids {
			if err := urlapi.ValidatePublicID(id); err != nil {
				return nil, err
			}
		}
		targets = ids
	case len(prefixes) > 0 || all:
		if len(prefixes) == 0 {
			prefixes = []string{""}
		}
		if len(prefixes) > 1 && p.get("next_cursor") != "" {
			return nil, clderr.BadRequest("next_cursor applies to one prefix at a time")
		}
		for _, prefix := range prefixes {
			if len(targets) >= maxDeleteMany {
				partial = true // this prefix is for a repeated call
				break
			}
			cursor := p.get("next_cursor")
			for len(targets) < maxDeleteMany {
				as, nc, err := h.cfg.Assets.List(r.Context(), asset.Query{Cloud: c.Name, ResourceType: rt, Type: typ,
					Prefix: prefix, Cursor: cursor, Max: min(asset.MaxResults, maxDeleteMany-len(targets))})
				if err != nil {
					return nil, err
				}
				for _, a := range as {
					targets = append(targets, a.PublicID)
				}
				if cursor = nc; cursor == "" {
					break
				}
			}
			if cursor != "" {
				// More remain. Deleted assets leave the listing, so a
				// repeated call continues too; the cursor also covers
				// keep_original, where they stay.
				partial = true
				if len(prefixes) == 1 {
					next = cursor
				}
				break
			}
		}
	default:
		return nil, clderr.BadRequest("Missing required parameter - public_ids, prefix or all")
	}
	status := make([]string, len(targets))
	err = asset.ForEach(r.Context(), len(targets), func(i int) error {
		var err error
		status[i], err = h.deleteOne(r, c.Name, rt, typ, targets[i], keep, txs)
		return err
	})
	if err != nil {
		return nil, err
	}
	deleted := make(map[string]string, len(targets))
	for i, id := range targets {
		deleted[id] = status[i]
		if invalidate && status[i] == "deleted" && h.cfg.Bus != nil {
			pg := bus.Purge{Cloud: c.Name, ResourceType: rt, Type: typ, PublicID: id, At: h.cfg.Now()}
			if err := h.cfg.Bus.Publish(r.Context(), pg); err != nil {
				h.cfg.Log.Warn("invalidation not published", "public_id", id, "err", err)
			}
		}
	}
	res := map[string]any{"deleted": deleted, "partial": partial}
	if next != "" {
		res["next_cursor"] = next
	}
	return res, nil
}

// deleteOne deletes an asset, or its derivatives (those of txs when
// given): "deleted" or "not_found".
func (h *Handler) deleteOne(r *http.Request, cloudName, rt, typ, id string, keep bool, txs []string) (string, error) {
	ctx := r.Context()
	if keep || len(txs) > 0 {
		a, _, err := h.cfg.Assets.Get(ctx, cloudName, rt, typ, id)
		if errors.Is(err, asset.ErrNotFound) {
			return "not_found", nil
		}
		if err != nil {
			return "", err
		}
		var match func(asset.Derived) bool
		if len(txs) > 0 {
			match = func(d asset.Derived) bool { return slices.Contains(txs, d.Transformation) }
		}
		if _, err := h.cfg.Assets.DeleteDerivedOf(ctx, a, match); err != nil {
			return "", err
		}
		return "deleted", nil
	}
	_, err := h.cfg.Assets.Delete(ctx, cloudName, rt, typ, id)
	switch {
	case errors.Is(err, asset.ErrNotFound):
		return "not_found", nil
	case err != nil:
		return "", err
	}
	return "deleted", nil
}

func (h *Handler) deleteDerived(r *http.Request, c cloud.Cloud, p params) (any, error) {
	ids := p.list("derived_resource_ids")
	switch {
	case len(ids) == 0:
		return nil, clderr.BadRequest("Missing required parameter - derived_resource_ids")
	case len(ids) > maxPublicIDs:
		return nil, clderr.BadRequest("Too many derived_resource_ids: at most %d", maxPublicIDs)
	}
	found, err := h.cfg.Assets.DeleteDerived(r.Context(), c.Name, ids...)
	if err != nil {
		return nil, err
	}
	deleted := make(map[string]string, len(ids))
	for _, id := range ids {
		deleted[id] = "not_found"
		if found[id] {
			deleted[id] = "deleted"
		}
	}
	return map[string]any{"deleted": deleted, "partial": false}, nil
}

func (h *Handler) tags(r *http.Request, c cloud.Cloud, p params) (any, error) {
	rt, err := resourceType(r)
	if err != nil {
		return nil, err
	}
	n, err := p.integer("max_results", asset.DefaultMax, 1, asset.MaxResults)
	if err != nil {
		return nil, err
	}
	tags, next, err := h.cfg.Assets.Tags(r.Context(), c.Name, rt, p.get("prefix"), p.get("next_cursor"), n)
	if err != nil {
		return nil, err
	}
	if tags == nil {
		tags = []string{}
	}
	res := map[string]any{"tags": tags}
	if next != "" {
		res["next_cursor"] = next
	}
	return res, nil
}
