package transform

import "strings"

// Layer is an l_ overlay or u_ underlay: another asset, or text.
type Layer struct {
	Kind  LayerKind
	Under bool
	// ID is the asset's public_id as written, folders separated by ':'
	// ("docs:logo"). For text it is "<style>:<text>" as written, still
	// percent-encoded.
	ID string
}

// LayerKind says what a layer draws.
type LayerKind uint8

const (
	LayerNone LayerKind = iota
	LayerImage
	LayerText
)

// PublicID is an image layer's public_id with its folders restored.
func (l Layer) PublicID() string { return strings.ReplaceAll(l.ID, ":", "/") }

// unsupportedLayers are layer sources Refract cannot draw yet.
var unsupportedLayers = []string{"fetch:", "video:", "subtitles:", "lut:", "audio:"}

func parseLayer(v string, under bool) (Layer, bool) {
	if rest, ok := strings.CutPrefix(v, "text:"); ok {
		return Layer{Kind: LayerText, Under: under, ID: rest}, validText(rest)
	}
	for _, u := range unsupportedLayers {
		if strings.HasPrefix(v, u) {
			return Layer{}, false
		}
	}
	return Layer{Kind: LayerImage, Under: under, ID: v}, validLayerID(v)
}

// validText checks the shape "<font>_<size>[_<style>...]:<text>"; the
// renderer reads the styles and decodes the text.
func validText(v string) bool {
	style, text, ok := strings.Cut(v, ":")
	if !ok || text == "" || style == "" || len(v) > 2000 {
		return false
	}
	font, rest, ok := strings.Cut(style, "_")
	if !ok || font == "" {
		return false
	}
	size, _, _ := strings.Cut(rest, "_")
	_, ok = intIn(size, 1, 1000)
	return ok
}

// validLayerID accepts a public_id with ':' for folders: no empty
// segments, no dot segments, and only characters safe in a URL path.
func validLayerID(v string) bool {
	if v == "" || len(v) > 255 {
		return false
	}
	for rest := v; ; {
		seg, tail, more := strings.Cut(rest, ":")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '@' || c == '$') {
				return false
			}
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// validDefault checks d_<public_id>.<ext>, folders written as ':'.
func validDefault(v string) bool {
	dot := strings.LastIndexByte(v, '.')
	return dot > 0 && dot < len(v)-1 && validLayerID(v)
}

// validNamed checks t_<name>[.<name>...].
func validNamed(v string) bool {
	if v == "" || len(v) > 512 {
		return false
	}
	for rest := v; ; {
		name, tail, more := strings.Cut(rest, ".")
		if !validFileName(name) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}
