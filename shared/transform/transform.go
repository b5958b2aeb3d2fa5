// Package transform is Cloudinary's transformation model: a chain of
// components, each a set of validated parameters, with a canonical form
// that becomes part of cache and storage keys.
//
// Parsing does not allocate on success, so the edge can parse every
// request on its hit path.
package transform

import (
	"strings"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
)

// Limits that keep a request from asking for unbounded work.
const (
	MaxComponents = 20
	MaxLength     = 2048
	maxPixels     = 100000 // no single w_/h_/x_/y_ beyond this
	maxDPR        = 5
)

// Component is one slash-separated step of a chain. Set says which of the
// typed fields were given.
type Component struct {
	Set         uint64
	Angle       Angle
	AspectRatio Ratio
	Background  Color
	Crop        Crop
	DPR         DPR
	Effect      Effect
	Format      format.Format
	Flags       Flags
	Gravity     Gravity
	Height      Size
	Quality     Quality
	Width       Size
	X, Y        Size
}

// Has reports whether p was given.
func (c *Component) Has(p Param) bool { return c.Set&(1<<p) != 0 }

// Chain is a parsed transformation. The zero value is the empty chain.
type Chain struct {
	Components []Component
}

// Reset empties c, keeping its storage for reuse.
func (c *Chain) Reset() { c.Components = c.Components[:0] }

// Empty reports whether the chain has no components.
func (c *Chain) Empty() bool { return len(c.Components) == 0 }

// Parse reads the transformation segments of a URL ("w_300,c_scale/e_blur")
// into dst, replacing its contents. It does not allocate unless it fails or
// dst needs to grow.
func Parse(s string, dst *Chain) error {
	dst.Reset()
	if s == "" {
		return nil
	}
	if len(s) > MaxLength {
		return clderr.BadRequest("Transformation is too long (over %d characters)", MaxLength)
	}
	for rest := s; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if len(dst.Components) == MaxComponents {
			return clderr.BadRequest("Too many transformation components (at most %d)", MaxComponents)
		}
		dst.Components = append(dst.Components, Component{})
		if err := parseComponent(seg, &dst.Components[len(dst.Components)-1]); err != nil {
			return err
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

func parseComponent(seg string, c *Component) error {
	if seg == "" {
		return clderr.BadRequest("Invalid transformation component - empty component")
	}
	for rest := seg; ; {
		part, tail, more := strings.Cut(rest, ",")
		key, val, ok := strings.Cut(part, "_")
		if !ok || key == "" {
			return clderr.BadRequest("Invalid transformation component - %s", part)
		}
		p, known := lookup(key)
		if !known {
			if KnownKey(key) {
				return clderr.BadRequest("Transformation parameter %s_ is not supported yet", key)
			}
			return clderr.BadRequest("Invalid transformation component - %s", part)
		}
		if val == "" || !params[p].parse(c, val) {
			return clderr.BadRequest("Invalid %s - %s", params[p].what, val)
		}
		c.Set |= 1 << p
		if !more {
			break
		}
		rest = tail
	}
	return c.validate()
}

// validate checks the rules that span parameters.
func (c *Component) validate() error {
	if c.Has(ParamGravity) && c.Gravity == GravityAuto {
		switch c.Crop {
		case CropCrop, CropFill, CropLFill, CropThumb:
		default:
			return clderr.BadRequest("Use auto gravity only with crop, fill, lfill, fill_pad or thumb")
		}
	}
	return nil
}

// AppendCanonical appends the canonical form of the chain: components in
// order, each with its parameters sorted by key and its values normalised.
func (c *Chain) AppendCanonical(b []byte) []byte {
	for i := range c.Components {
		if i > 0 {
			b = append(b, '/')
		}
		b = c.Components[i].AppendCanonical(b)
	}
	return b
}

// String is the canonical form.
func (c *Chain) String() string { return string(c.AppendCanonical(nil)) }

// AppendCanonical appends the component's canonical form.
func (c *Component) AppendCanonical(b []byte) []byte {
	first := true
	for i := range params {
		if c.Set&(1<<i) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, params[i].key...)
		b = append(b, '_')
		b = params[i].write(b, c)
	}
	return b
}

// Format is the output format the chain asks for with f_ (the last one
// wins), or format.Unknown when it names none.
func (c *Chain) Format() format.Format {
	for i := len(c.Components) - 1; i >= 0; i-- {
		if c.Components[i].Has(ParamFormat) {
			return c.Components[i].Format
		}
	}
	return format.Unknown
}

// Quality is the last q_ of the chain; ok is false when there is none.
func (c *Chain) Quality() (q Quality, ok bool) {
	for i := len(c.Components) - 1; i >= 0; i-- {
		if c.Components[i].Has(ParamQuality) {
			return c.Components[i].Quality, true
		}
	}
	return Quality{}, false
}

// Flags is the union of the chain's fl_ flags.
func (c *Chain) Flags() Flags {
	var f Flags
	for i := range c.Components {
		f |= c.Components[i].Flags
	}
	return f
}

// KnownKey reports whether key is a Cloudinary transformation parameter,
// implemented here or not. The URL parser uses it to tell transformation
// segments from folders.
func KnownKey(key string) bool {
	switch key {
	case "a", "ac", "af", "ar", "b", "bo", "br", "c", "co", "cs", "d", "dl", "dn",
		"dpr", "du", "e", "eo", "f", "fl", "fn", "fps", "g", "h", "if", "ki", "l",
		"o", "p", "pg", "q", "r", "so", "sp", "t", "u", "vc", "vs", "w", "x", "y", "z":
		return true
	}
	return len(key) > 1 && key[0] == '$'
}

// LooksLikeComponent reports whether a URL segment is shaped like a
// transformation component: comma-separated key_value parts with known keys.
func LooksLikeComponent(seg string) bool {
	if seg == "" {
		return false
	}
	for rest := seg; ; {
		part, tail, more := strings.Cut(rest, ",")
		key, _, ok := strings.Cut(part, "_")
		if !ok || !KnownKey(key) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}
