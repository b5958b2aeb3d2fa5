package upload

import (
	"context"
	"strings"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

// maxEager bounds the eager transformations of one request: each is a
// render the request waits for (or queues).
const maxEager = 20

// Eager is one eager transformation: a canonical chain and an optional
// output format, written by the SDKs as "<tx>/<ext>".
type Eager struct {
	Tx     string `json:"tx"`
	Format string `json:"format,omitempty"`
}

// String is the transformation as the response reports it.
func (e Eager) String() string {
	switch {
	case e.Format == "":
		return e.Tx
	case e.Tx == "":
		return e.Format
	}
	return e.Tx + "/" + e.Format
}

// ParseEager reads the eager parameter: transformations separated by "|",
// each optionally ending in "/<ext>". Every one is validated before
// anything is stored.
func ParseEager(s string) ([]Eager, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, "|")
	if len(parts) > maxEager {
		return nil, clderr.BadRequest("Too many eager transformations: %d, at most %d", len(parts), maxEager)
	}
	out := make([]Eager, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var e Eager
		if i := strings.LastIndexByte(p, '/'); i >= 0 && !strings.ContainsAny(p[i+1:], "_,") {
			if format.FromExt(p[i+1:]) == format.Unknown {
				return nil, clderr.BadRequest("Invalid eager format - %s", p[i+1:])
			}
			e.Format, p = strings.ToLower(p[i+1:]), p[:i]
		} else if !strings.ContainsAny(p, "_,") {
			// A bare extension: the original converted.
			if format.FromExt(p) == format.Unknown {
				return nil, clderr.BadRequest("Invalid eager transformation - %s", p)
			}
			e.Format, p = strings.ToLower(p), ""
		}
		var ch transform.Chain
		if err := transform.Parse(p, &ch); err != nil {
			return nil, err
		}
		e.Tx = ch.String()
		out = append(out, e)
	}
	return out, nil
}

// runEager renders each eager transformation of a and describes the
// results as the Upload API does.
func (h *Handler) runEager(ctx context.Context, c cloud.Cloud, a *asset.Asset, eager []Eager) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(eager))
	for _, e := range eager {
		res, err := h.cfg.Deriver.Eager(ctx, a, e.Tx, format.FromExt(e.Format))
		if err != nil {
			return out, err
		}
		entry := map[string]any{
			"transformation": e.String(),
			"format":         res.Format.Ext(),
			"bytes":          len(res.Body),
		}
		if info, err := render.Probe(res.Body, h.cfg.MaxPixels); err == nil {
			entry["width"], entry["height"] = info.Width, info.Height
		}
		u, su := h.deliveryURLs(c, a, e.Tx, res.Format.Ext())
		entry["url"], entry["secure_url"] = u, su
		out = append(out, entry)
	}
	return out, nil
}
