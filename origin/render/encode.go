package render

import (
	"github.com/refract-cdn/refract/origin/vips"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
)

// ResolveFormat chooses the concrete output format.
//
// For f_auto: AVIF when the client takes it and the source is still, else
// WebP when the client takes it (it carries alpha and animation), else
// the source's own family. With no format asked for, the source's format
// when Refract can write it, else its family. Its family is GIF for
// animation, PNG for transparency, JPEG otherwise, so neither animation
// nor alpha is ever flattened into a still JPEG.
func ResolveFormat(want format.Format, acc format.Accepts, src format.Format, alpha, animated bool) format.Format {
	switch want {
	case format.Auto:
		if acc&format.AcceptAVIF != 0 && !animated {
			return format.AVIF
		}
		if acc&format.AcceptWebP != 0 {
			return format.WebP
		}
		if src == format.JPEG || src == format.PNG || src == format.GIF {
			return src
		}
	case format.Unknown:
		if src.Writable() {
			return src
		}
	default:
		return want
	}
	switch {
	case animated:
		return format.GIF
	case alpha:
		return format.PNG
	}
	return format.JPEG
}

// Quality is the encoder quality for a format, from q_ or its default.
//
// The rule: a fixed q_ is used as is. q_auto levels and the default map
// per format, lower for AVIF whose scale is stricter at equal visual
// quality:
//
//	            best  good(=auto, default)  eco  low
//	JPEG, WebP   90           80             70   60
//	AVIF         70           60             50   40
//
// PNG and GIF are lossless here and ignore quality.
func Quality(chain *transform.Chain, f format.Format) int {
	q, ok := chain.Quality()
	if ok && q.Auto == transform.QualityFixed {
		return int(q.Q)
	}
	level := transform.QualityGood
	if ok {
		level = q.Auto
	}
	base := autoQuality[level]
	if f == format.AVIF {
		base -= 20
	}
	return base
}

var autoQuality = [...]int{
	transform.QualityBest: 90, transform.QualityGood: 80,
	transform.QualityEco: 70, transform.QualityLow: 60,
}

// avifEffort keeps AVIF encodes in tens of milliseconds: AV1 at the
// default effort 4 takes ~200 ms for 300×225 on one core, effort 2 ~33 ms
// and effort 0 ~10 ms. Bigger images get less effort.
func avifEffort(pixels int) int {
	switch {
	case pixels <= 400_000:
		return 2
	case pixels <= 2_000_000:
		return 1
	}
	return 0
}

// encode writes img as f. Formats without alpha are flattened onto bg.
// Metadata is stripped: the pixels are already sRGB.
func encode(img *vips.Image, f format.Format, chain *transform.Chain, bg transform.Color) ([]byte, error) {
	if !f.Alpha() && img.HasAlpha() {
		if err := img.Flatten(&vips.FlattenOptions{Background: rgb(bg)}); err != nil {
			return nil, vipsErr("flatten", err)
		}
	}
	q := Quality(chain, f)
	var out []byte
	var err error
	switch f {
	case format.JPEG:
		out, err = img.JpegsaveBuffer(&vips.JpegsaveBufferOptions{
			Q: q, Strip: true, OptimizeCoding: true,
			Interlace: chain.Flags()&transform.FlagProgressive != 0,
		})
	case format.PNG:
		o := vips.DefaultPngsaveBufferOptions()
		o.Strip = true
		out, err = img.PngsaveBuffer(o)
	case format.WebP:
		o := vips.DefaultWebpsaveBufferOptions()
		o.Q, o.Strip = q, true
		out, err = img.WebpsaveBuffer(o)
	case format.AVIF:
		o := vips.DefaultHeifsaveBufferOptions()
		o.Q, o.Strip = q, true
		o.Compression = vips.HeifCompressionAv1
		o.Bitdepth = 8
		o.Effort = avifEffort(img.Width() * img.Height())
		out, err = img.HeifsaveBuffer(o)
	case format.GIF:
		o := vips.DefaultGifsaveBufferOptions()
		o.Strip = true
		out, err = img.GifsaveBuffer(o)
	default:
		return nil, vipsErr("encode", errUnwritable(f))
	}
	if err != nil {
		return nil, vipsErr("encode "+f.String(), err)
	}
	return out, nil
}

type errUnwritable format.Format

func (e errUnwritable) Error() string { return "cannot write " + format.Format(e).String() }
