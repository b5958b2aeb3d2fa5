package transform

import (
	"strconv"
	"strings"
)

// param is one transformation parameter: its URL key, how to read its
// value into a Component, and how to write the value back canonically.
// Adding a parameter is a field on Component plus one entry here.
type param struct {
	key   string
	what  string // the noun of its error: "Invalid <what> - <value>"
	parse func(c *Component, v string) bool
	write func(b []byte, c *Component) []byte
}

// params is sorted by key: the canonical form writes them in this order.
var params = []param{
	{"a", "angle", parseAngle, writeAngle},
	{"ar", "aspect ratio", func(c *Component, v string) bool {
		r, ok := parseRatio(v)
		if !ok {
			return false
		}
		c.AspectRatio = r
		return true
	}, func(b []byte, c *Component) []byte { return appendRatio(b, c.AspectRatio) }},
	{"b", "color", func(c *Component, v string) bool {
		col, ok := parseColor(v)
		if !ok {
			return false
		}
		c.Background = col
		return true
	}, func(b []byte, c *Component) []byte { return appendColor(b, c.Background) }},
	{"c", "crop mode", func(c *Component, v string) bool {
		for i, n := range cropNames {
			if n != "" && n == v {
				c.Crop = Crop(i)
				return true
			}
		}
		return false
	}, func(b []byte, c *Component) []byte { return append(b, c.Crop.String()...) }},
	{"dpr", "dpr", func(c *Component, v string) bool {
		f, ok := number(v)
		if !ok || f <= 0 || f > maxDPR {
			return false
		}
		c.DPR = DPR{V: f}
		return true
	}, func(b []byte, c *Component) []byte { return appendFloat(b, c.DPR.V) }},
	{"e", "effect", parseEffect, writeEffect},
	{"f", "format", func(c *Component, v string) bool {
		f, ok := outputFormat(v)
		if !ok {
			return false
		}
		c.Format = f
		return true
	}, func(b []byte, c *Component) []byte { return append(b, c.Format.Ext()...) }},
	{"fl", "flag", parseFlags, writeFlags},
	{"g", "gravity", func(c *Component, v string) bool {
		for i, n := range gravityNames {
			if n != "" && n == v {
				c.Gravity = Gravity(i)
				return true
			}
		}
		return false
	}, func(b []byte, c *Component) []byte { return append(b, c.Gravity.String()...) }},
	{"h", "height", func(c *Component, v string) bool {
		s, ok := parseSize(v)
		if !ok {
			return false
		}
		c.Height = s
		return true
	}, func(b []byte, c *Component) []byte { return appendSize(b, c.Height) }},
	{"q", "quality", parseQuality, writeQuality},
	{"w", "width", func(c *Component, v string) bool {
		s, ok := parseSize(v)
		if !ok {
			return false
		}
		c.Width = s
		return true
	}, func(b []byte, c *Component) []byte { return appendSize(b, c.Width) }},
	{"x", "x", func(c *Component, v string) bool {
		s, ok := parseOffset(v)
		if !ok {
			return false
		}
		c.X = s
		return true
	}, func(b []byte, c *Component) []byte { return appendSize(b, c.X) }},
	{"y", "y", func(c *Component, v string) bool {
		s, ok := parseOffset(v)
		if !ok {
			return false
		}
		c.Y = s
		return true
	}, func(b []byte, c *Component) []byte { return appendSize(b, c.Y) }},
}

// Param indexes params; its bit in a Component's Set says it is present.
type Param uint8

// The indexes of params, in the same order.
const (
	ParamAngle Param = iota
	ParamAspectRatio
	ParamBackground
	ParamCrop
	ParamDPR
	ParamEffect
	ParamFormat
	ParamFlags
	ParamGravity
	ParamHeight
	ParamQuality
	ParamWidth
	ParamX
	ParamY
)

// lookup finds a parameter by key without allocating.
func lookup(key string) (Param, bool) {
	lo, hi := 0, len(params)
	for lo < hi {
		m := (lo + hi) / 2
		switch k := params[m].key; {
		case k == key:
			return Param(m), true
		case k < key:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

func parseAngle(c *Component, v string) bool {
	var a Angle
	if f, ok := signed(v); ok {
		a.Deg = f
	} else {
		for rest := v; rest != ""; {
			part := rest
			if i := strings.IndexByte(rest, '.'); i >= 0 {
				part, rest = rest[:i], rest[i+1:]
				if rest == "" {
					return false
				}
			} else {
				rest = ""
			}
			found := false
			for _, m := range angleModeNames {
				if m.name == part {
					a.Modes |= m.m
					found = true
				}
			}
			if !found {
				f, ok := signed(part)
				if !ok {
					return false
				}
				a.Deg += f
			}
		}
	}
	if a.Deg > 360 || a.Deg < -360 {
		return false
	}
	c.Angle = a
	return true
}

func writeAngle(b []byte, c *Component) []byte {
	n := len(b)
	for _, m := range angleModeNames {
		if c.Angle.Modes&m.m != 0 {
			if len(b) > n {
				b = append(b, '.')
			}
			b = append(b, m.name...)
		}
	}
	if c.Angle.Deg != 0 || len(b) == n {
		if len(b) > n {
			b = append(b, '.')
		}
		b = appendFloat(b, c.Angle.Deg)
	}
	return b
}

func parseEffect(c *Component, v string) bool {
	name, arg, hasArg := strings.Cut(v, ":")
	for i, e := range effects {
		if e.name == "" || e.name != name {
			continue
		}
		eff := Effect{Kind: EffectKind(i), Level: e.def}
		if hasArg {
			n, err := strconv.Atoi(arg)
			if e.max == 0 || err != nil || n < e.min || n > e.max {
				return false
			}
			eff.Level = n
		}
		c.Effect = eff
		return true
	}
	return false
}

func writeEffect(b []byte, c *Component) []byte {
	e := effects[c.Effect.Kind]
	b = append(b, e.name...)
	if e.max > 0 {
		// The default level is written out, so e_blur and e_blur:100 share a key.
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(c.Effect.Level), 10)
	}
	return b
}

func parseQuality(c *Component, v string) bool {
	for i, n := range autoQualityNames {
		if n != "" && n == v {
			c.Quality = Quality{Auto: AutoQuality(i)}
			if c.Quality.Auto == QualityAuto {
				c.Quality.Auto = QualityGood
			}
			return true
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 || v[0] == '+' {
		return false
	}
	c.Quality = Quality{Q: uint8(n)}
	return true
}

func writeQuality(b []byte, c *Component) []byte {
	if c.Quality.Auto != QualityFixed {
		return append(b, autoQualityNames[c.Quality.Auto]...)
	}
	return strconv.AppendInt(b, int64(c.Quality.Q), 10)
}

func parseFlags(c *Component, v string) bool {
	var f Flags
	for rest := v; ; {
		part, tail, more := strings.Cut(rest, ".")
		found := false
		for _, n := range flagNames {
			if n.name == part {
				f |= n.f
				found = true
			}
		}
		if !found {
			return false
		}
		if !more {
			break
		}
		rest = tail
	}
	c.Flags = f
	return true
}

func writeFlags(b []byte, c *Component) []byte {
	n := len(b)
	for _, f := range flagNames {
		if c.Flags&f.f != 0 {
			if len(b) > n {
				b = append(b, '.')
			}
			b = append(b, f.name...)
		}
	}
	return b
}
