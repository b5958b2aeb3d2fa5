package transform

import (
	"strconv"
	"strings"
)

// Effect is an e_ value: a kind, its level, and the extra arguments a few
// effects take (e_outline:outer:5:200, e_improve:indoor:50, e_trim:10:white).
type Effect struct {
	Kind     EffectKind
	Level    int
	Arg      int   // a second number: outline's blur, improve's blend
	Mode     uint8 // index into the kind's modes
	Color    Color // trim's colour override
	HasColor bool
}

// EffectKind names an e_ effect.
type EffectKind uint8

const (
	EffectNone EffectKind = iota
	EffectAutoBrightness
	EffectAutoColor
	EffectAutoContrast
	EffectBlur
	EffectBlurFaces
	EffectBrightness
	EffectColorize
	EffectContrast
	EffectGamma
	EffectGrayscale
	EffectImprove
	EffectNegate
	EffectOutline
	EffectPixelate
	EffectPixelateFaces
	EffectSaturation
	EffectSepia
	EffectShadow
	EffectSharpen
	EffectTrim
	EffectUnsharpMask
	EffectVignette
)

// effectSpec describes an effect's arguments. A kind with max == min == 0
// takes no level. Levels are written out in the canonical form, so e_blur
// and e_blur:100 share a cache key.
type effectSpec struct {
	name          string
	min, max, def int
	modes         []string // a leading named mode, modes[0] the default
	arg           *argSpec // a number after the level
	color         bool     // a colour after the level
	optional      bool     // def is "automatic": written only when given
}

type argSpec struct{ min, max, def int }

// OutlineModes and ImproveModes are the named modes, in Mode order.
var (
	OutlineModes = []string{"outer", "inner", "inner_fill", "outer_fill", "fill"}
	ImproveModes = []string{"outdoor", "indoor"}
)

var effects = []effectSpec{
	EffectAutoBrightness: {name: "auto_brightness", max: 100, def: 100},
	EffectAutoColor:      {name: "auto_color", max: 100, def: 100},
	EffectAutoContrast:   {name: "auto_contrast", max: 100, def: 100},
	EffectBlur:           {name: "blur", min: 1, max: 2000, def: 100},
	EffectBlurFaces:      {name: "blur_faces", min: 1, max: 2000, def: 500},
	EffectBrightness:     {name: "brightness", min: -99, max: 100, def: 80},
	EffectColorize:       {name: "colorize", max: 100, def: 100},
	EffectContrast:       {name: "contrast", min: -100, max: 100, def: 0},
	EffectGamma:          {name: "gamma", min: -50, max: 150, def: 0},
	EffectGrayscale:      {name: "grayscale"},
	EffectImprove:        {name: "improve", max: 100, def: 100, modes: ImproveModes},
	EffectNegate:         {name: "negate"},
	EffectOutline:        {name: "outline", min: 1, max: 100, def: 5, modes: OutlineModes, arg: &argSpec{0, 2000, 0}},
	EffectPixelate:       {name: "pixelate", min: 1, max: 200, optional: true},
	EffectPixelateFaces:  {name: "pixelate_faces", min: 1, max: 200, optional: true},
	EffectSaturation:     {name: "saturation", min: -100, max: 100, def: 80},
	EffectSepia:          {name: "sepia", min: 1, max: 100, def: 80},
	EffectShadow:         {name: "shadow", max: 100, def: 40},
	EffectSharpen:        {name: "sharpen", min: 1, max: 2000, def: 100},
	EffectTrim:           {name: "trim", max: 100, def: 10, color: true},
	EffectUnsharpMask:    {name: "unsharp_mask", min: 1, max: 2000, def: 100},
	EffectVignette:       {name: "vignette", max: 100, def: 20},
}

// Name is the effect's e_ name.
func (k EffectKind) Name() string { return effects[k].name }

// ModeName is the effect's named mode, or "".
func (e Effect) ModeName() string {
	if m := effects[e.Kind].modes; m != nil {
		return m[e.Mode]
	}
	return ""
}

func parseEffect(c *Component, v string) bool {
	name, args, hasArgs := strings.Cut(v, ":")
	for i := range effects {
		spec := &effects[i]
		if spec.name == "" || spec.name != name {
			continue
		}
		e := Effect{Kind: EffectKind(i), Level: spec.def}
		if spec.arg != nil {
			e.Arg = spec.arg.def
		}
		if hasArgs && !spec.parseArgs(args, &e) {
			return false
		}
		c.Effect = e
		return true
	}
	return false
}

func (spec *effectSpec) parseArgs(args string, e *Effect) bool {
	if args == "" {
		return false
	}
	pos := 0 // 0: the level, 1: the number or colour after it
	for first, rest := true, args; ; first = false {
		part, tail, more := strings.Cut(rest, ":")
		switch {
		case first && spec.modes != nil && !isInt(part):
			m := indexOf(spec.modes, part)
			if m < 0 {
				return false
			}
			e.Mode = uint8(m)
		case pos == 0:
			n, ok := intIn(part, spec.min, spec.max)
			if !ok || spec.max == 0 && spec.min == 0 {
				return false
			}
			e.Level, pos = n, 1
		case pos == 1 && spec.arg != nil:
			n, ok := intIn(part, spec.arg.min, spec.arg.max)
			if !ok {
				return false
			}
			e.Arg, pos = n, 2
		case pos == 1 && spec.color:
			if part == "rgb" && more {
				part, more = tail, false // "rgb:ffffff" holds a colon itself
			}
			col, ok := parseColor(part)
			if !ok {
				if col, ok = parseHex(part); !ok {
					return false
				}
			}
			e.Color, e.HasColor, pos = col, true, 2
		default:
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

func writeEffect(b []byte, c *Component) []byte {
	e := c.Effect
	spec := &effects[e.Kind]
	b = append(b, spec.name...)
	if spec.modes != nil {
		b = append(b, ':')
		b = append(b, spec.modes[e.Mode]...)
	}
	if spec.max == 0 && spec.min == 0 || spec.optional && e.Level == 0 {
		return b
	}
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(e.Level), 10)
	if spec.arg != nil {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.Arg), 10)
	}
	if e.HasColor {
		b = append(b, ':')
		b = appendColor(b, e.Color)
	}
	return b
}

// isInt reports whether s is a signed decimal integer, without
// strconv's allocated error for words.
func isInt(s string) bool {
	if len(s) > 1 && s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// intIn parses a decimal integer within [lo, hi]; "+5" is refused so each
// value has one spelling.
func intIn(s string, lo, hi int) (int, bool) {
	if len(s) > 6 || !isInt(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= lo && n <= hi
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// unsupportedEffects are Cloudinary effects Refract does not implement yet.
var unsupportedEffects = []string{
	"art", "background_removal", "cartoonify", "displace", "distort", "fill_light",
	"gen_background_replace", "gen_fill", "gen_recolor", "gen_remove", "gen_replace",
	"gradient_fade", "hue", "make_transparent", "oil_paint", "redeye", "replace_color",
	"shear", "simulate_colorblind", "style_transfer", "tint", "upscale", "viesus_correct",
}
