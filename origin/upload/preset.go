package upload

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
)

// unsignedParams are what an unsigned upload may set itself; the preset
// decides everything else.
var unsignedParams = map[string]bool{
	"upload_preset": true, "unsigned": true, "public_id": true, "folder": true,
	"tags": true, "context": true, "filename_override": true, "timestamp": true,
}

// authorize authenticates an upload and applies its upload_preset. A
// signed request takes the preset's settings as defaults under its own
// parameters; an unsigned one needs a preset marked unsigned, may set
// only a few parameters, and the preset's settings win.
func (h *Handler) authorize(r *http.Request, c cloud.Cloud, p url.Values, window time.Duration) error {
	name := p.Get("upload_preset")
	_, _, basic := r.BasicAuth()
	signed := basic || p.Get("signature") != ""
	if name == "" || signed {
		if err := h.authenticate(r, c, p, window); err != nil {
			return err
		}
		if name == "" {
			return nil
		}
	}
	if h.cfg.Presets == nil {
		return clderr.BadRequest("Upload presets are not enabled")
	}
	pr, err := h.cfg.Presets.Get(r.Context(), c.Name, name)
	if errors.Is(err, preset.ErrNotFound) || errors.Is(err, preset.ErrInvalidName) {
		return clderr.BadRequest("Upload preset not found")
	}
	if err != nil {
		return storeErr(err)
	}
	if !signed {
		if !pr.Unsigned {
			return clderr.BadRequest("Upload preset must be whitelisted for unsigned uploads")
		}
		for k := range p {
			if !unsignedParams[k] {
				return clderr.BadRequest("%s parameter is not allowed when using unsigned upload", k)
			}
		}
		if p.Has("public_id") && boolParam(url.Values{"v": {pr.Settings["disallow_public_id"]}}, "v", false) {
			return clderr.BadRequest("public_id parameter is not allowed when using this upload preset")
		}
		// Unsigned uploads do not replace what exists unless the preset
		// says so.
		p.Set("overwrite", "false")
	}
	for k, v := range pr.Settings {
		if !signed || !p.Has(k) {
			p.Set(k, v)
		}
	}
	return nil
}
