package render

import (
	"bytes"

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
	return bytes.HasPrefix(b, []byte("<svg")) ||
		((bytes.HasPrefix(b, []byte("<?xml")) || bytes.HasPrefix(b, []byte("<!DOCTYPE svg"))) && bytes.Contains(b, []byte("<svg")))
}
