package format

import (
	"bytes"
	"testing"
)

func TestFromExt(t *testing.T) {
	for ext, want := range map[string]Format{
		"jpg": JPEG, "jpeg": JPEG, "png": PNG, "webp": WebP, "avif": AVIF,
		"gif": GIF, "auto": Auto, "heif": HEIC, "exe": Unknown, "": Unknown,
	} {
		if got := FromExt(ext); got != want {
			t.Errorf("FromExt(%q) = %v, want %v", ext, got, want)
		}
	}
	if JPEG.MIME() != "image/jpeg" || AVIF.MIME() != "image/avif" || JPEG.Alpha() || !PNG.Alpha() {
		t.Error("format table is wrong")
	}
	if !GIF.Animation() || JPEG.Writable() != true || HEIC.Writable() {
		t.Error("format capabilities are wrong")
	}
}

func TestParseAccept(t *testing.T) {
	cases := map[string]Accepts{
		"":    0,
		"*/*": 0,
		"image/avif,image/webp,image/apng,image/*,*/*;q=0.8": AcceptAVIF | AcceptWebP,
		"image/webp,*/*":                    AcceptWebP,
		"IMAGE/WEBP":                        AcceptWebP,
		"image/avif;q=0, image/webp;q=1":    AcceptWebP,
		"image/avif;q=0.0,image/webp;q=0.5": AcceptWebP,
		"image/avif; q=0.1":                 AcceptAVIF,
		"image/webpx":                       AcceptWebP, // prefix match, like every CDN
		"text/html,application/xhtml+xml":   0,
		"image/av":                          0,
		"image/avif":                        AcceptAVIF,
		"image/webp;q=0":                    0,
		"image/png,image/jpeg":              0,
	}
	for h, want := range cases {
		if got := ParseAccept([]byte(h)); got != want {
			t.Errorf("ParseAccept(%q) = %b, want %b", h, got, want)
		}
	}
}

func TestParseAcceptAllocs(t *testing.T) {
	h := []byte("image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
	if n := testing.AllocsPerRun(100, func() { ParseAccept(h) }); n != 0 {
		t.Errorf("ParseAccept allocates %v times", n)
	}
}

// parseAcceptRef is ParseAccept as first written, byte by byte: the
// reference FuzzParseAccept holds the fast one to.
func parseAcceptRef(h []byte) Accepts {
	equalFold := func(b []byte, s string) bool {
		for i := 0; i < len(s); i++ {
			c := b[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != s[i] {
				return false
			}
		}
		return true
	}
	var a Accepts
	for i := 0; ; {
		j := bytes.IndexByte(h[i:], '/')
		if j < 0 {
			return a
		}
		slash := i + j
		i = slash + 1
		if slash < 5 || len(h)-slash < 5 || !equalFold(h[slash-5:slash], "image") {
			continue
		}
		var f Accepts
		switch sub := h[slash+1 : slash+5]; {
		case equalFold(sub, "avif"):
			f = AcceptAVIF
		case equalFold(sub, "webp"):
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

func FuzzParseAccept(f *testing.F) {
	for _, s := range []string{
		"image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "IMAGE/WEBP", "image/avif;q=0, image/webp;q=1",
		"iMaGe/AvIf", "image/avi\x06", "imag\x05/webp", "\xc9mage/webp", "image/w\xc5bp", "image/web",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		if got, want := ParseAccept(h), parseAcceptRef(h); got != want {
			t.Fatalf("ParseAccept(%q) = %b, the reference says %b", h, got, want)
		}
	})
}

func BenchmarkParseAccept(b *testing.B) {
	h := []byte("image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
	for b.Loop() {
		ParseAccept(h)
	}
}
