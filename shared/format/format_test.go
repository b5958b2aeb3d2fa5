package format

import "testing"

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
