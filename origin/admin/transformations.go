package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/refract-cdn/refract/origin/named"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
)

// Named transformations, as the SDKs address them: cloudinary-go names
// the transformation in the "transformation" parameter of
// GET/PUT/DELETE transformations, other clients put it in the path.
// Listings show a named transformation as "t_<name>", and lookups accept
// both spellings.

// transformationName is the name a request addresses.
func transformationName(r *http.Request, p params) string {
	if n := r.PathValue("name"); n != "" {
		return n
	}
	return strings.TrimSpace(p.get("transformation"))
}

// findNamed loads the definition a name or "t_<name>" refers to.
func (h *Handler) findNamed(r *http.Request, cloudName, name string) (named.Def, error) {
	cands := []string{name}
	if rest, ok := strings.CutPrefix(name, "t_"); ok {
		cands = []string{rest, name}
	}
	for _, n := range cands {
		d, err := h.cfg.Named.Get(r.Context(), cloudName, n)
		if err == nil || !errors.Is(err, named.ErrNotFound) {
			return d, err
		}
	}
	return named.Def{}, clderr.NotFound("Transformation %s not found", name)
}

func (h *Handler) getTransformations(r *http.Request, c cloud.Cloud, p params) (any, error) {
	if name := transformationName(r, p); name != "" {
		d, err := h.findNamed(r, c.Name, name)
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"name": "t_" + d.Name, "allowed_for_strict": d.AllowedForStrict, "used": false, "named": true,
			"info": info(d.Transformation), "derived": []any{},
		}, nil
	}
	n, err := p.integer("max_results", 10, 1, 500)
	if err != nil {
		return nil, err
	}
	onlyNamed, err := p.boolean("named", true)
	if err != nil {
		return nil, err
	}
	list := []map[string]any{}
	next := ""
	// Only named transformations are recorded; named=false lists none.
	if onlyNamed {
		defs, nc, err := h.cfg.Named.List(r.Context(), c.Name, p.get("next_cursor"), n)
		if err != nil {
			return nil, err
		}
		for _, d := range defs {
			list = append(list, map[string]any{"name": "t_" + d.Name, "allowed_for_strict": d.AllowedForStrict, "used": false, "named": true})
		}
		next = nc
	}
	res := map[string]any{"transformations": list}
	if next != "" {
		res["next_cursor"] = next
	}
	return res, nil
}

func (h *Handler) createTransformation(r *http.Request, c cloud.Cloud, p params) (any, error) {
	name, tx := strings.TrimSpace(p.get("name")), p.get("transformation")
	switch {
	case name == "":
		return nil, clderr.BadRequest("Missing required parameter - name")
	case strings.TrimSpace(tx) == "":
		return nil, clderr.BadRequest("Missing required parameter - transformation")
	}
	strict, err := p.boolean("allowed_for_strict", false)
	if err != nil {
		return nil, err
	}
	_, err = h.cfg.Named.Create(r.Context(), c.Name, named.Def{Name: name, Transformation: tx, AllowedForStrict: strict})
	if err != nil {
		return nil, namedError(name, err)
	}
	return map[string]string{"message": "created"}, nil
}

// updateTransformation changes allowed_for_strict and, with
// unsafe_update, the definition. Derivatives already stored keep their
// old bytes under the old definition's identity.
func (h *Handler) updateTransformation(r *http.Request, c cloud.Cloud, p params) (any, error) {
	name := transformationName(r, p)
	if name == "" {
		return nil, clderr.BadRequest("Missing required parameter - transformation")
	}
	d, err := h.findNamed(r, c.Name, name)
	if err != nil {
		return nil, err
	}
	if d.Static {
		return nil, namedError(name, named.ErrStatic)
	}
	strict, err := p.boolean("allowed_for_strict", d.AllowedForStrict)
	if err != nil {
		return nil, err
	}
	def := p.get("unsafe_update")
	_, err = h.cfg.Named.Update(r.Context(), c.Name, d.Name, func(d *named.Def) error {
		d.AllowedForStrict = strict
		if strings.TrimSpace(def) != "" {
			d.Transformation = def
		}
		return nil
	})
	if err != nil {
		return nil, namedError(name, err)
	}
	return map[string]string{"message": "updated"}, nil
}

func (h *Handler) deleteTransformation(r *http.Request, c cloud.Cloud, p params) (any, error) {
	name := transformationName(r, p)
	if name == "" {
		return nil, clderr.BadRequest("Missing required parameter - transformation")
	}
	d, err := h.findNamed(r, c.Name, name)
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Named.Delete(r.Context(), c.Name, d.Name); err != nil {
		return nil, namedError(name, err)
	}
	return map[string]string{"message": "deleted"}, nil
}

func namedError(name string, err error) error {
	switch {
	case errors.Is(err, named.ErrNotFound):
		return clderr.NotFound("Transformation %s not found", name)
	case errors.Is(err, named.ErrExists):
		return clderr.New(http.StatusConflict, "Transformation %s already exists", name)
	case errors.Is(err, named.ErrStatic):
		return clderr.New(http.StatusConflict, "Transformation %s is defined in the server's configuration and cannot be changed here", name)
	case errors.Is(err, named.ErrInvalidName):
		return clderr.BadRequest("Invalid transformation name %s: use letters, digits, _ and -", name)
	case errors.Is(err, named.ErrSelfReference):
		return clderr.BadRequest("Transformation %s refers to itself", name)
	}
	return err
}

// longNames are Cloudinary's names for the parameters, as info lists them.
var longNames = map[string]string{
	"w": "width", "h": "height", "c": "crop", "g": "gravity", "q": "quality", "f": "fetch_format",
	"e": "effect", "a": "angle", "r": "radius", "b": "background", "bo": "border", "o": "opacity",
	"co": "color", "fl": "flags", "d": "default_image", "t": "transformation", "l": "overlay",
	"u": "underlay", "x": "x", "y": "y", "z": "zoom", "ar": "aspect_ratio", "dpr": "dpr", "pg": "page",
}

// info describes a transformation's components as Cloudinary's
// transformation details do: one object per component, long parameter
// names, numbers as numbers.
func info(tx string) []map[string]any {
	out := []map[string]any{}
	for _, comp := range strings.Split(tx, "/") {
		m := map[string]any{}
		for _, part := range strings.Split(comp, ",") {
			k, v, _ := strings.Cut(part, "_")
			if long, ok := longNames[k]; ok {
				k = long
			}
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				m[k] = n
			} else {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	return out
}
