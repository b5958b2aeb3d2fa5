package render

import (
	"bytes"
	"encoding/binary"
	"errors"

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

// encodeOptions says how encodeWith writes an image.
type encodeOptions struct {
	// Quality is 1–100; 0 is the format's default from Quality's rule.
	Quality int
	// Progressive writes a progressive (interlaced) JPEG.
	Progressive bool
	// PNG8 writes a PNG as an 8-bit palette, quantised by libimagequant
	// at full quantisation quality.
	PNG8 bool
	// Lossy makes a PNG a palette quantised at Quality, and lets a GIF's
	// frames keep pixels of the previous frame within an error that grows
	// as Quality falls. JPEG, WebP and AVIF are lossy anyway.
	Lossy bool
	// StripProfile drops the ICC profile that KeepIPTC would keep.
	StripProfile bool
	// KeepIPTC keeps the copyright metadata: XMP (JPEG, PNG, WebP) and
	// IPTC (JPEG, the one format libvips writes it in), with the ICC
	// profile unless StripProfile. EXIF, GPS included, is dropped, and
	// so are PNG text chunks other than XMP. GIF and AVIF keep nothing.
	// Without KeepIPTC all metadata is stripped, the profile too: the
	// pixels are sRGB, which a profile-less image means.
	KeepIPTC bool
	// Animated writes a WebP of several pages as an animation. A GIF of
	// several pages is always animated; any other output, or a WebP
	// without Animated, gets the first page only.
	Animated bool
	// Background is what formats without alpha are flattened onto.
	Background transform.Color
}

// encodeWith writes img as f. img itself is not changed: encodeWith works
// on a copy.
func encodeWith(img *vips.Image, f format.Format, o encodeOptions) ([]byte, error) {
	if !f.Writable() {
		return nil, vipsErr("encode", errUnwritable(f))
	}
	im, err := img.Copy(nil)
	if err != nil {
		return nil, vipsErr("encode", err)
	}
	defer im.Close()
	ph, n := pages(im)
	animated := n > 1 && (f == format.GIF || f == format.WebP && o.Animated)
	if n > 1 && !animated {
		if err := im.ExtractArea(0, 0, im.Width(), ph); err != nil {
			return nil, vipsErr("first frame", err)
		}
		if err := im.SetPages(1); err != nil {
			return nil, vipsErr("first frame", err)
		}
	}
	if animated {
		if err := checkAnimation(n, im.Width(), ph); err != nil {
			return nil, err
		}
	} else {
		ph = 0 // no page height for the savers
	}
	if !f.Alpha() && im.HasAlpha() {
		if err := im.Flatten(&vips.FlattenOptions{Background: rgb(o.Background)}); err != nil {
			return nil, vipsErr("flatten", err)
		}
	}
	// Metadata is kept only by filtering what libvips writes unstripped
	// (see keepCopyright); the profile goes first when it is not wanted.
	keep := o.KeepIPTC && (f == format.JPEG || f == format.PNG || f == format.WebP)
	if keep && o.StripProfile && im.HasICCProfile() {
		if err := im.RemoveICCProfile(); err != nil {
			return nil, vipsErr("strip profile", err)
		}
	}
	q := o.Quality
	if q <= 0 {
		q = Quality(&transform.Chain{}, f)
	}
	q = min(q, 100)
	var out []byte
	switch f {
	case format.JPEG:
		out, err = im.JpegsaveBuffer(&vips.JpegsaveBufferOptions{
			Q: q, Strip: !keep, OptimizeCoding: true, Interlace: o.Progressive,
		})
	case format.PNG:
		po := vips.DefaultPngsaveBufferOptions()
		po.Strip = !keep
		if o.PNG8 || o.Lossy {
			po.Palette, po.Bitdepth = true, 8
			if o.Lossy {
				po.Q = q
			}
		}
		out, err = im.PngsaveBuffer(po)
	case format.WebP:
		wo := vips.DefaultWebpsaveBufferOptions()
		wo.Q, wo.Strip, wo.PageHeight = q, !keep, ph
		out, err = im.WebpsaveBuffer(wo)
	case format.AVIF:
		ao := vips.DefaultHeifsaveBufferOptions()
		ao.Q, ao.Strip = q, true
		ao.Compression = vips.HeifCompressionAv1
		ao.Bitdepth = 8
		ao.Effort = avifEffort(im.Width() * im.Height())
		out, err = im.HeifsaveBuffer(ao)
	case format.GIF:
		gos := vips.DefaultGifsaveBufferOptions()
		gos.Strip, gos.PageHeight = true, ph
		if o.Lossy {
			gifLossy(gos, q)
		}
		out, err = im.GifsaveBuffer(gos)
	default:
		return nil, vipsErr("encode", errUnwritable(f))
	}
	if err != nil {
		return nil, vipsErr("encode "+f.String(), err)
	}
	switch {
	case keep:
		out, err = keepCopyright(out, f)
	case f == format.WebP:
		// libvips 8.14's webpsave ignores strip: it writes the image's
		// EXIF (or a fresh block), XMP and profile whatever it is told.
		out, err = webpFilter(out, false)
	}
	if err != nil {
		return nil, vipsErr("encode "+f.String(), err)
	}
	return out, nil
}

// gifLossy trades exactness for size as q falls from 100: a pixel within
// the inter-frame error of the previous frame's stays transparent (so
// LZW sees runs), and a frame reuses the previous palette within the
// inter-palette error. At q 80 the errors are 6 and 13 (of 32 and 256),
// at q 50 16 and 28.
func gifLossy(o *vips.GifsaveBufferOptions, q int) {
	loss := float64(100 - max(q, 1))
	o.InterframeMaxerror = loss * 32 / 100
	o.InterpaletteMaxerror = 3 + loss/2
}

type errUnwritable format.Format

func (e errUnwritable) Error() string { return "cannot write " + format.Format(e).String() }

// libvips 8.14 saves with strip on or off, nothing between: unstripped,
// it writes EXIF (from the image, or a fresh block), XMP, IPTC (JPEG
// only), the ICC profile and PNG text. The bindings cannot remove a
// chosen field from an image, so keepCopyright filters the saved file
// instead: it drops EXIF, and comments and text other than XMP, and
// keeps everything else as libvips wrote it.
func keepCopyright(b []byte, f format.Format) ([]byte, error) {
	switch f {
	case format.JPEG:
		return jpegDropExif(b)
	case format.PNG:
		return pngDropExif(b)
	case format.WebP:
		return webpFilter(b, true)
	}
	return b, nil
}

var errCorrupt = errors.New("cannot parse the encoder's output")

// jpegDropExif drops APP1 Exif segments and comments from the header of
// a JPEG; from the first scan on, the file is copied as is.
func jpegDropExif(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, errCorrupt
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:2]...)
	for i := 2; ; {
		if i+4 > len(b) || b[i] != 0xFF {
			return nil, errCorrupt
		}
		marker := b[i+1]
		if marker == 0xDA { // start of scan: the rest is image data
			return append(out, b[i:]...), nil
		}
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if end > len(b) {
			return nil, errCorrupt
		}
		seg := b[i:end]
		drop := marker == 0xFE || // COM
			marker == 0xE1 && bytes.HasPrefix(seg[4:], []byte("Exif\x00"))
		if !drop {
			out = append(out, seg...)
		}
		i = end
	}
}

// pngDropExif drops the eXIf chunk and every text chunk but XMP's.
func pngDropExif(b []byte) ([]byte, error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(b, []byte(sig)) {
		return nil, errCorrupt
	}
	out := make([]byte, 0, len(b))
	out = append(out, sig...)
	for i := len(sig); i < len(b); {
		if i+12 > len(b) {
			return nil, errCorrupt
		}
		n := int64(binary.BigEndian.Uint32(b[i:]))
		if int64(i)+12+n > int64(len(b)) {
			return nil, errCorrupt
		}
		end := i + 12 + int(n)
		typ, data := string(b[i+4:i+8]), b[i+8:end-4]
		drop := typ == "eXIf" ||
			(typ == "tEXt" || typ == "zTXt" || typ == "iTXt") && !bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00"))
		if !drop {
			out = append(out, b[i:end]...)
		}
		i = end
	}
	return out, nil
}

// webpFilter drops the EXIF chunk of an extended WebP and, unless
// copyright is kept, its XMP and ICC profile too, clearing their flags. A
// simple WebP (VP8 or VP8L alone) has no metadata.
func webpFilter(b []byte, copyright bool) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errCorrupt
	}
	if len(b) < 30 || string(b[12:16]) != "VP8X" {
		return b, nil
	}
	// VP8X flags: ICC 0x20, EXIF 0x08, XMP 0x04.
	drop := map[string]byte{"EXIF": 0x08}
	if !copyright {
		drop["XMP "], drop["ICCP"] = 0x04, 0x20
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:12]...)
	var cleared byte
	for i := 12; i < len(b); {
		if i+8 > len(b) {
			return nil, errCorrupt
		}
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		end := int64(i) + 8 + n + n&1 // chunks are padded to even sizes
		if end > int64(len(b)) {
			return nil, errCorrupt
		}
		if flag, ok := drop[string(b[i:i+4])]; ok {
			cleared |= flag
		} else {
			out = append(out, b[i:end]...)
		}
		i = int(end)
	}
	out[20] &^= cleared
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}
