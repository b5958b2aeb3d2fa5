package render

import (
	"bytes"
	"encoding/binary"

	"github.com/refract-cdn/refract/shared/format"
)

// Sniff names the format of an encoded image from its first bytes, or
// returns format.Unknown. The origin trusts content, never a file name.
func Sniff(b []byte) format.Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return format.JPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return format.PNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return format.GIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return format.WebP
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return sniffFtyp(b)
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return format.TIFF
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return format.PDF
	case bytes.HasPrefix(b, []byte("BM")) && len(b) > 14:
		return format.BMP
	case bytes.HasPrefix(b, []byte{0, 0, 1, 0}) && len(b) > 6:
		return format.ICO
	}
	if isSVG(b) {
		return format.SVG
	}
	return format.Unknown
}

// sniffFtyp reads an ISO-BMFF file type box: AVIF by its major or any
// compatible brand, HEIC by the HEVC brands.
func sniffFtyp(b []byte) format.Format {
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size < 16 || size > len(b) {
		size = min(len(b), 64)
	}
	heic := false
	for i := 8; i+4 <= size; i += 4 {
		if i == 12 {
			continue // minor version
		}
		switch string(b[i : i+4]) {
		case "avif", "avis":
			return format.AVIF
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			heic = true
		}
	}
	if heic {
		return format.HEIC
	}
	return format.Unknown
}

func isSVG(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) > 1024 {
		b = b[:1024]
	}
	if bytes.HasPrefix(b, []byte("<svg")) {
		return true
	}
	// An XML declaration, doctype or comment may come first.
	for _, p := range []string{"<?xml", "<!DOCTYPE svg", "<!--"} {
		if bytes.HasPrefix(b, []byte(p)) {
			return bytes.Contains(b, []byte("<svg")) && !bytes.Contains(b, []byte("<html"))
		}
	}
	return false
}

// truncated reports whether src, sniffed as f, visibly ends early, for the
// formats whose decoders forgive a missing end: libnsgif shows the frames
// it got, poppler rebuilds a lost cross-reference table and libwebp's
// demuxer takes a partial animation.
func truncated(src []byte, f format.Format) bool {
	switch f {
	case format.GIF:
		return gifTruncated(src)
	case format.WebP:
		// The RIFF header gives the file's length.
		return len(src) < 12 || 8+int64(binary.LittleEndian.Uint32(src[4:8])) > int64(len(src))
	case format.PDF:
		// A PDF ends with %%EOF, which the spec requires within the last
		// 1024 bytes.
		return !bytes.Contains(src[max(0, len(src)-1024):], []byte("%%EOF"))
	}
	return false
}

// gifTruncated walks a GIF's blocks. It is truncated when the data ends
// inside a block, or before any image. A file that ends between blocks
// without the trailer byte is accepted, as browsers do, and so is junk
// after a complete image.
func gifTruncated(b []byte) bool {
	if len(b) < 13 {
		return true
	}
	i, images := 13, 0
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1) // global colour table
	}
	for i < len(b) {
		switch b[i] {
		case 0x3B: // trailer
			return images == 0
		case 0x21: // extension: a label, then data sub-blocks
			i += 2
		case 0x2C: // image descriptor, local colour table, LZW code size
			if i+10 > len(b) {
				return true
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i++
			images++
		default:
			return images == 0
		}
		var ok bool
		if i, ok = skipSubBlocks(b, i); !ok {
			return true
		}
	}
	return images == 0
}

// skipSubBlocks skips a chain of GIF data sub-blocks from i, through its
// zero-length terminator; ok is false when the data ends first.
func skipSubBlocks(b []byte, i int) (int, bool) {
	for i < len(b) {
		n := int(b[i])
		i += 1 + n
		if n == 0 {
			return i, true
		}
	}
	return i, false
}
