package admin

import (
	"net/http"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
)

// usage answers in Cloudinary's shape. Figures Refract does not measure
// (bandwidth, delivery requests, credits) are 0, and there are no plan
// limits. Refract keeps no history: a date other than today is refused.
func (h *Handler) usage(r *http.Request, c cloud.Cloud, _ params) (any, error) {
	now := h.cfg.Now().UTC()
	if d := r.PathValue("date"); d != "" && d != now.Format("02-01-2006") {
		return nil, clderr.BadRequest("Usage history is not kept: ask for today's usage (omit the date)")
	}
	rep, err := h.cfg.Usage.Report(r.Context(), c.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"plan":              "Refract",
		"last_updated":      rep.CountedAt.UTC().Format("2006-01-02"),
		"transformations":   map[string]any{"usage": rep.Renders, "credits_usage": 0},
		"objects":           map[string]any{"usage": rep.Assets + rep.Derived},
		"bandwidth":         map[string]any{"usage": 0, "credits_usage": 0},
		"storage":           map[string]any{"usage": rep.StorageBytes(), "credits_usage": 0},
		"credits":           map[string]any{"usage": 0},
		"requests":          0,
		"resources":         rep.Assets,
		"derived_resources": rep.Derived,
	}, nil
}
