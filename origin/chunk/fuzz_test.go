package chunk

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/refract-cdn/refract/shared/clderr"
)

// FuzzParseContentRange checks that any header is refused with a 400 or
// parses to a consistent range that formats back to the same values.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"bytes 0-19999999/25000000", "bytes 20000000-24999999/25000000", "bytes 0-5/-1", "bytes 0-5/*",
		"bytes 5-0/10", "bytes 0-10/10", "bytes -1-5/10", "bytes 0-1/+2", "bytes 0-99999999999999999999/-1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, end, total, err := ParseContentRange(h)
		if err != nil {
			if clderr.Status(err) != http.StatusBadRequest {
				t.Fatalf("%q: %v is not a 400", h, err)
			}
			return
		}
		if start < 0 || end < start || total < -1 || total >= 0 && end >= total {
			t.Fatalf("%q parsed to %d-%d/%d", h, start, end, total)
		}
		s2, e2, t2, err := ParseContentRange(fmt.Sprintf("bytes %d-%d/%d", start, end, total))
		if err != nil || s2 != start || e2 != end || t2 != total {
			t.Fatalf("%q: formatted back, %d-%d/%d %v", h, s2, e2, t2, err)
		}
	})
}
