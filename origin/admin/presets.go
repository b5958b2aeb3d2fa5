package admin

import (
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/refract-cdn/refract/origin/preset"
	"github.com/refract-cdn/refract/origin/upload"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// notSettings are parameters of the preset calls themselves, or of the
// request's signing, not upload settings to store.
var notSettings = []string{"name", "unsigned", "api_key", "timestamp", "signature", "cloud_name", "resource_type", "file", "upload_preset"}

// boolSettings are upload parameters that are booleans: validated on the
// way in and shown as JSON booleans, as Cloudinary does.
var boolSettings = []string{
	"use_filename", "unique_filename", "overwrite", "invalidate", "eager_async", "async", "backup",
	"discard_original_filename", "return_delete_token", "faces", "colors", "image_metadata", "exif",
	"phash", "use_filename_as_display_name", "unique_display_name", "use_asset_folder_as_public_id_prefix",
	"live", "disallow_public_id", "quality_analysis", "accessibility_analysis", "cinemagraph_analysis",
	"media_metadata", "visual_search",
}

// settingsFrom reads the upload settings of a create or update request.
// An empty value removes a setting on update.
func settingsFrom(p params) (map[string]string, error) {
	out := map[string]string{}
	for k := range p.v {
		if slices.Contains(notSettings, k) {
			continue
		}
		if k == "" || len(k) > 64 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return nil, clderr.BadRequest("Invalid upload preset setting %s", k)
		}
		v := p.joined(k)
		if err := checkSetting(k, v); err != nil {
			return nil, err
		}
		if slices.Contains(boolSettings, k) && v != "" {
			b, _ := p.boolean(k, false)
			v = "false"
			if b {
				v = "true"
			}
		}
		out[k] = v
	}
	return out, nil
}

func checkSetting(k, v string) error {
	if v == "" {
		return nil
	}
	switch {
	case slices.Contains(boolSettings, k):
		switch strings.ToLower(v) {
		case "true", "false", "1", "0":
			return nil
		}
		return clderr.BadRequest("Invalid value for %s: %s (use true or false)", k, v)
	case k == "transformation":
		var ch transform.Chain
		return transform.Parse(v, &ch)
	case k == "eager":
		// The Upload API's own syntax, "<tx>/<ext>" included.
		_, err := upload.ParseEager(v)
		return err
	case k == "type":
		if _, ok := urlapi.ParseType(v); !ok {
			return clderr.BadRequest("Invalid type %s", v)
		}
	}
	return nil
}

// presetJSON is a preset as the Admin API shows it.
func presetJSON(p *preset.Preset) map[string]any {
	settings := make(map[string]any, len(p.Settings))
	for k, v := range p.Settings {
		if slices.Contains(boolSettings, k) {
			settings[k] = v == "true"
		} else {
			settings[k] = v
		}
	}
	return map[string]any{"name": p.Name, "unsigned": p.Unsigned, "settings": settings}
}

func presetError(name string, err error) error {
	switch {
	case errors.Is(err, preset.ErrNotFound):
		return clderr.NotFound("Upload preset %s not found", name)
	case errors.Is(err, preset.ErrExists):
		return clderr.New(http.StatusConflict, "Upload preset %s already exists", name)
	case errors.Is(err, preset.ErrInvalidName):
		return clderr.BadRequest("Invalid upload preset name %s: use letters, digits, _, - and .", name)
	}
	return err
}

func (h *Handler) listPresets(r *http.Request, c cloud.Cloud, p params) (any, error) {
	n, err := p.integer("max_results", 10, 1, 500)
	if err != nil {
		return nil, err
	}
	ps, next, err := h.cfg.Presets.List(r.Context(), c.Name, p.get("next_cursor"), n)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ps))
	for i, pr := range ps {
		out[i] = presetJSON(pr)
	}
	res := map[string]any{"presets": out}
	if next != "" {
		res["next_cursor"] = next
	}
	return res, nil
}

func (h *Handler) getPreset(r *http.Request, c cloud.Cloud, _ params) (any, error) {
	name := r.PathValue("name")
	pr, err := h.cfg.Presets.Get(r.Context(), c.Name, name)
	if err != nil {
		return nil, presetError(name, err)
	}
	return presetJSON(pr), nil
}

func (h *Handler) createPreset(r *http.Request, c cloud.Cloud, p params) (any, error) {
	name := strings.TrimSpace(p.get("name"))
	if name == "" {
		name = randomName() // Cloudinary names an unnamed preset
	}
	unsigned, err := p.boolean("unsigned", false)
	if err != nil {
		return nil, err
	}
	settings, err := settingsFrom(p)
	if err != nil {
		return nil, err
	}
	for k, v := range settings {
		if v == "" {
			delete(settings, k)
		}
	}
	if err := h.cfg.Presets.Create(r.Context(), c.Name, &preset.Preset{Name: name, Unsigned: unsigned, Settings: settings}); err != nil {
		return nil, presetError(name, err)
	}
	return map[string]string{"message": "created", "name": name}, nil
}

// updatePreset merges the given settings into the stored ones.
func (h *Handler) updatePreset(r *http.Request, c cloud.Cloud, p params) (any, error) {
	name := r.PathValue("name")
	settings, err := settingsFrom(p)
	if err != nil {
		return nil, err
	}
	var unsigned *bool
	if p.has("unsigned") {
		u, err := p.boolean("unsigned", false)
		if err != nil {
			return nil, err
		}
		unsigned = &u
	}
	_, err = h.cfg.Presets.Update(r.Context(), c.Name, name, func(pr *preset.Preset) error {
		if unsigned != nil {
			pr.Unsigned = *unsigned
		}
		for k, v := range settings {
			if v == "" {
				delete(pr.Settings, k)
			} else {
				pr.Settings[k] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, presetError(name, err)
	}
	return map[string]string{"message": "updated"}, nil
}

func (h *Handler) deletePreset(r *http.Request, c cloud.Cloud, _ params) (any, error) {
	name := r.PathValue("name")
	if err := h.cfg.Presets.Delete(r.Context(), c.Name, name); err != nil {
		return nil, presetError(name, err)
	}
	return map[string]string{"message": "deleted"}, nil
}

// randomName is 8 characters of [a-z0-9], Cloudinary's shape for a
// generated preset name.
func randomName() string {
	const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}
