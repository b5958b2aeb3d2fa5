// Package format names the image and file formats Refract reads and
// writes, and maps them to extensions and MIME types.
package format

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Format is an image format. Auto is only ever a requested output
// format: the edge and origin resolve it per client and source.
type Format uint8

const (
	Unknown Format = iota
	JPEG
	PNG
	GIF
	WebP
	AVIF
	HEIC
	TIFF
	SVG
	PDF
	BMP
	ICO
	JSON // fl_getinfo's answer: not an image, but a derivative all the same
	Auto
	count
)

var info = [count]struct {
	ext, mime string
	alpha     bool // the encoding can carry transparency
	animation bool // the encoding can carry several frames
	writable  bool // Refract can encode it
}{
	Unknown: {"", "application/octet-stream", false, false, false},
	JPEG:    {"jpg", "image/jpeg", false, false, true},
	PNG:     {"png", "image/png", true, false, true},
	GIF:     {"gif", "image/gif", true, true, true},
	WebP:    {"webp", "image/webp", true, true, true},
	AVIF:    {"avif", "image/avif", true, false, true},
	HEIC:    {"heic", "image/heic", true, false, false},
	TIFF:    {"tiff", "image/tiff", true, false, false},
	SVG:     {"svg", "image/svg+xml", true, false, false},
	PDF:     {"pdf", "application/pdf", true, false, false},
	BMP:     {"bmp", "image/bmp", false, false, false},
	ICO:     {"ico", "image/x-icon", true, false, false},
	JSON:    {"json", "application/json", false, false, false},
	Auto:    {"auto", "", false, false, false},
}

// FromExt maps a file extension or f_ value (lower case, no dot) to a format.
func FromExt(ext string) Format {
	switch ext {
	case "jpg", "jpeg", "jpe":
		return JPEG
	case "png":
		return PNG
	case "gif":
		return GIF
	case "webp":
		return WebP
	case "avif":
		return AVIF
	case "heic", "heif":
		return HEIC
	case "tif", "tiff":
		return TIFF
	case "svg":
		return SVG
	case "pdf":
		return PDF
	case "bmp":
		return BMP
	case "ico":
		return ICO
	case "json":
		return JSON
	case "auto":
		return Auto
	}
	return Unknown
}

// FromMIME maps a Content-Type (parameters ignored) to a format.
func FromMIME(ct string) Format {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	for f := JPEG; f < Auto; f++ {
		if info[f].mime == ct {
			return f
		}
	}
	return Unknown
}

// Ext is the canonical extension, such as "jpg".
func (f Format) Ext() string { return info[f%count].ext }

// MIME is the Content-Type of the format.
func (f Format) MIME() string { return info[f%count].mime }

// String is the canonical extension, or "unknown".
func (f Format) String() string {
	if f == Unknown {
		return "unknown"
	}
	return f.Ext()
}

// Alpha reports whether the encoding can carry transparency.
func (f Format) Alpha() bool { return info[f%count].alpha }

// Animation reports whether the encoding can carry several frames.
func (f Format) Animation() bool { return info[f%count].animation }

// Writable reports whether Refract can encode the format.
func (f Format) Writable() bool { return info[f%count].writable }

// Accepts is what a client's Accept header allows beyond the formats every
// browser takes (JPEG, PNG, GIF). It is part of a cache key for f_auto.
type Accepts uint8

const (
	AcceptAVIF Accepts = 1 << iota
	AcceptWebP
)

// ParseAccept reads an Accept header in one pass without allocating: it
// visits each "/" (found with the vectorised IndexByte) and looks for
// image/avif and image/webp around it, case-insensitively. A q=0 on a
// type is honoured.
func ParseAccept(h []byte) Accepts {
	var a Accepts
	for i := 0; ; {
		j := bytes.IndexByte(h[i:], '/')
		if j < 0 {
			return a
		}
		slash := i + j
		i = slash + 1
		if slash < 5 || len(h)-slash < 5 || fold4(h[slash-5:]) != imag || h[slash-1]|0x20 != 'e' {
			continue
		}
		var f Accepts
		switch fold4(h[slash+1:]) {
		case avif:
			f = AcceptAVIF
		case webp:
			f = AcceptWebP
		default:
			continue
		}
		end := slash + 5
		for end < len(h) && h[end] != ',' {
			end++
		}
		if !qZero(h[slash+5 : end]) {
			a |= f
		}
	}
}

// fold4 is b's first four bytes as one number, each with bit 0x20 set:
// that lower-cases ASCII letters and turns no other byte into a letter,
// so comparing with a lower-case word is a case-insensitive compare in
// one step.
func fold4(b []byte) uint32 { return binary.LittleEndian.Uint32(b) | 0x20202020 }

var (
	imag = binary.LittleEndian.Uint32([]byte("imag"))
	avif = binary.LittleEndian.Uint32([]byte("avif"))
	webp = binary.LittleEndian.Uint32([]byte("webp"))
)

// qZero reports whether params (";q=0" and the like) set q to zero.
func qZero(p []byte) bool {
	for i := 0; i+1 < len(p); i++ {
		if (p[i] == 'q' || p[i] == 'Q') && p[i+1] == '=' {
			v := p[i+2:]
			for len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if len(v) == 0 || v[0] != '0' {
				return false
			}
			for _, c := range v[1:] {
				if c >= '1' && c <= '9' {
					return false
				}
				if c != '0' && c != '.' {
					break
				}
			}
			return true
		}
	}
	return false
}
