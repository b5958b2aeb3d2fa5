package forward

import (
	"github.com/cespare/xxhash/v2"

	"github.com/refract-cdn/refract/shared/derivative"
)

// routeKey places a derive request on an origin, and must come out the
// same on every edge. It covers what the origin's render depends on and
// nothing else, which is narrower than the edge's cache key:
//
//   - Accepts is left out, so every f_auto variant of a derivative goes to
//     one origin. The origin coalesces renders by concrete output format,
//     so clients whose Accept headers differ but resolve to the same
//     format share one render there; spreading them over origins would
//     render that format once per origin.
//   - Signed is left out: it only decides whether strict mode lets a
//     render happen, not what it renders.
//   - The URL's version is not in a Spec: the origin renders the asset's
//     current version whatever the URL says.
func routeKey(s *derivative.Spec) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.WriteString(s.Cloud)
	d.Write([]byte{0, byte(s.ResourceType), byte(s.Type), 0})
	d.WriteString(s.PublicID)
	d.Write([]byte{0})
	d.WriteString(s.Tx)
	d.Write([]byte{0, byte(s.Format)})
	return d.Sum64()
}
