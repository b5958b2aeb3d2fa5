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
	MaxLayers     = 5
	MaxLength     = 2048
	maxPixels     = 100000 // no single w_/h_/x_/y_ beyond this
	maxDPR        = 5
	maxZoom       = 100
	maxPage       = 10000
	maxDensity    = 600
	maxVars       = 4 // assignments in one component
	maxExprs      = 4 // expression-valued parameters in one component
)

// Component is one slash-separated step of a chain. Set says which of the
// typed fields were given. Strings point into the parsed transformation.
type Component struct {
	Set         uint64
	Angle       Angle
	AspectRatio Ratio
	Background  Background
	Border      Border
	Color       Color
	Crop        Crop
	Default     string // d_: public_id.ext, folders as ':'
	Density     int
	DPR         DPR
	Effect      Effect
	Format      format.Format
	Flags       Flags
	Attachment  string // fl_attachment:<name>
	Gravity     Gravity
	Height      Size
	Layer       Layer
	Named       string // t_: names joined by '.'
	Opacity     uint8
	Page        int
	Quality     Quality
	Radius      Radius
	Width       Size
	X, Y        Size
	Zoom        float64

	If    Cond
	Vars  [maxVars]Var
	NVars uint8
	// Exprs are parameters whose values are expressions, kept as written
	// and evaluated by the renderer; their typed fields stay zero.
	Exprs  [maxExprs]Expr
	NExprs uint8
}

// Expr is a parameter given as an expression.
type Expr struct {
	P Param
	V string
}

// Has reports whether p was given.
func (c *Component) Has(p Param) bool { return c.Set&(1<<p) != 0 }

// Expr returns p's expression, if it was given as one.
func (c *Component) Expr(p Param) (string, bool) {
	for i := 0; i < int(c.NExprs); i++ {
		if c.Exprs[i].P == p {
			return c.Exprs[i].V, true
		}
	}
	return "", false
}

// HasLayer reports whether the component starts an overlay or underlay.
func (c *Component) HasLayer() bool {
	return c.Set&(1<<ParamOverlay|1<<ParamUnderlay) != 0
}

// Resolve evaluates the component's expressions against env and stores
// the results in the typed fields, as if they had been written as
// numbers. It reports a value out of range as that parameter's error.
func (c *Component) Resolve(env *Env) error {
	for i := 0; i < int(c.NExprs); i++ {
		e := c.Exprs[i]
		f, err := Eval(e.V, env)
		if err != nil {
			return err
		}
		v := FormatNumber(f)
		if !params[e.P].parse(c, v) {
			return clderr.BadRequest("Invalid %s - %s (from %s)", params[e.P].what, v, e.V)
		}
		// A computed length is pixels, even when it comes out at 1 or less.
		switch e.P {
		case ParamWidth:
			c.Width.Rel = false
		case ParamHeight:
			c.Height.Rel = false
		case ParamX:
			c.X.Rel = false
		case ParamY:
			c.Y.Rel = false
		}
	}
	c.NExprs = 0
	return nil
}

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
	layers := 0
	for rest := s; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if len(dst.Components) == MaxComponents {
			return clderr.BadRequest("Too many transformation components (at most %d)", MaxComponents)
		}
		dst.Components = append(dst.Components, Component{})
		c := &dst.Components[len(dst.Components)-1]
		if err := parseComponent(seg, c); err != nil {
			return err
		}
		if c.HasLayer() {
			if layers++; layers > MaxLayers {
				return clderr.BadRequest("Too many layers (at most %d)", MaxLayers)
			}
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
		if err := parseParam(c, key, val, part); err != nil {
			return err
		}
		if !more {
			break
		}
		rest = tail
	}
	return c.validate()
}

func parseParam(c *Component, key, val, part string) error {
	switch {
	case key == "if":
		cond, ok := parseCond(val)
		if !ok {
			return clderr.BadRequest("Invalid condition - %s", val)
		}
		c.If = cond
		return nil
	case key[0] == '$':
		if !validVarName(key[1:]) || !validVarValue(val) {
			return clderr.BadRequest("Invalid assignment to %s: %s", key, val)
		}
		if c.NVars == maxVars {
			return clderr.BadRequest("Too many variables in one component (at most %d)", maxVars)
		}
		c.Vars[c.NVars] = Var{Name: key[1:], Value: val}
		c.NVars++
		return nil
	}
	p, known := lookup(key)
	if !known {
		if KnownKey(key) {
			return clderr.BadRequest("Transformation parameter %s_ is not supported yet", key)
		}
		return clderr.BadRequest("Invalid transformation parameter - %s", key)
	}
	c.dropExpr(p)
	if val == "" || !params[p].parse(c, val) {
		if params[p].expr && isExpr(val) {
			if c.NExprs == maxExprs {
				return clderr.BadRequest("Too many expressions in one component (at most %d)", maxExprs)
			}
			c.Exprs[c.NExprs] = Expr{P: p, V: val}
			c.NExprs++
			c.Set |= 1 << p
			return nil
		}
		if msg := unsupported(p, val); msg != "" {
			return clderr.BadRequest("%s", msg)
		}
		return clderr.BadRequest("Invalid %s - %s", params[p].what, val)
	}
	c.Set |= 1 << p
	return nil
}

// dropExpr forgets an earlier expression for p: the last value wins.
func (c *Component) dropExpr(p Param) {
	for i := 0; i < int(c.NExprs); i++ {
		if c.Exprs[i].P == p {
			copy(c.Exprs[i:], c.Exprs[i+1:c.NExprs])
			c.NExprs--
			return
		}
	}
}

// unsupported names Cloudinary values Refract knowingly lacks, so they
// are refused as such rather than as typos.
func unsupported(p Param, v string) string {
	var list []string
	switch p {
	case ParamCrop:
		list = unsupportedCrops
	case ParamFlags:
		for rest := v; ; {
			part, tail, more := strings.Cut(rest, ".")
			if indexOf(unsupportedFlags, part) >= 0 {
				return "Flag " + part + " is not supported yet"
			}
			if !more {
				return ""
			}
			rest = tail
		}
	case ParamEffect:
		name, _, _ := strings.Cut(v, ":")
		if indexOf(unsupportedEffects, name) >= 0 {
			return "Effect " + name + " is not supported yet"
		}
		return ""
	case ParamOverlay, ParamUnderlay:
		for _, u := range unsupportedLayers {
			if strings.HasPrefix(v, u) {
				return "Layers of type " + u[:len(u)-1] + " are not supported yet"
			}
		}
		return ""
	}
	if indexOf(list, v) >= 0 {
		return params[p].what + " " + v + " is not supported yet"
	}
	return ""
}

// validate checks the rules that span parameters.
func (c *Component) validate() error {
	if c.If.Kind == CondElse || c.If.Kind == CondEnd {
		if c.Set != 0 || c.NVars != 0 {
			return clderr.BadRequest("if_else and if_end must stand alone in their component")
		}
	}
	if c.Has(ParamGravity) && c.Gravity == GravityAuto {
		switch c.Crop {
		case CropCrop, CropFill, CropLFill, CropFillPad, CropThumb, CropAuto:
		default:
			return clderr.BadRequest("Use auto gravity only with crop, fill, lfill, fill_pad or thumb")
		}
	}
	if c.Has(ParamOverlay) && c.Has(ParamUnderlay) {
		return clderr.BadRequest("Invalid transformation component - an overlay and an underlay in one component")
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

// AppendCanonical appends the component's canonical form: the condition
// first, then assignments in their order, then parameters by key, as the
// SDKs write them.
func (c *Component) AppendCanonical(b []byte) []byte {
	n := len(b)
	switch c.If.Kind {
	case CondIf:
		b = append(b, "if_"...)
		b = append(b, c.If.Expr...)
	case CondElse:
		b = append(b, "if_else"...)
	case CondEnd:
		b = append(b, "if_end"...)
	}
	for i := 0; i < int(c.NVars); i++ {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, '$')
		b = append(b, c.Vars[i].Name...)
		b = append(b, '_')
		b = append(b, c.Vars[i].Value...)
	}
	for i := range params {
		if c.Set&(1<<i) == 0 {
			continue
		}
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, params[i].key...)
		b = append(b, '_')
		if v, ok := c.Expr(Param(i)); ok {
			b = append(b, v...)
		} else {
			b = params[i].write(b, c)
		}
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
	// One pass over the bytes, as the URL parser calls this on every
	// segment of an unversioned URL: each part's key runs to its first
	// '_', and the part to the next ','.
	for start := 0; ; {
		i := start
		for i < len(seg) && seg[i] != '_' && seg[i] != ',' {
			i++
		}
		if i == len(seg) || seg[i] == ',' || !KnownKey(seg[start:i]) {
			return false
		}
		for i < len(seg) && seg[i] != ',' {
			i++
		}
		if i == len(seg) {
			return true
		}
		start = i + 1
	}
}
