// Package derivative is the identity of a derived asset: the edge's cache
// key, the request the edge sends the origin on a miss, and the origin's
// storage name for the rendered bytes all come from it.
package derivative

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/transform"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// The origin's derive endpoint, which edges call on a miss, and the
// headers of its answers beyond the standard ones.
const (
	Endpoint      = "/_refract/derive"
	HeaderVersion = "X-Refract-Asset-Version" // the asset version the bytes belong to
	HeaderSource  = "X-Refract-Source"        // "hit" (stored), "render" or "original"
)

// Spec describes one derivative request in canonical form.
type Spec struct {
	Cloud        string
	ResourceType urlapi.ResourceType
	Type         urlapi.Type
	PublicID     string
	Tx           string // the canonical transformation
	// Format is the requested output format: from f_ or the extension.
	// Unknown means the original's, Auto means negotiate with Accepts.
	Format  format.Format
	Accepts format.Accepts
	// Signed says the edge verified the URL's s--SIG--: strict
	// transformations let a signed URL render anything.
	Signed bool
}

// OutputFormat is the format a request asks for: the chain's last f_,
// else the URL's extension, else format.Unknown (the original's).
func OutputFormat(r *urlapi.Request, ch *transform.Chain) format.Format {
	if f := ch.Format(); f != format.Unknown {
		return f
	}
	return r.Format()
}

// AppendKey appends the identity of a delivery to b. Fields are separated
// by a zero byte, which no field can contain. Accepts only counts when
// the format is negotiated, so other URLs share one entry across clients.
func AppendKey(b []byte, r *urlapi.Request, canonTx []byte, f format.Format, acc format.Accepts) []byte {
	b = append(b, r.Cloud...)
	b = append(b, 0, byte(r.ResourceType), byte(r.Type), 0)
	b = append(b, r.PublicID...)
	b = append(b, 0)
	b = append(b, r.Version...)
	b = append(b, 0)
	b = append(b, canonTx...)
	b = append(b, 0, byte(f))
	if f == format.Auto {
		b = append(b, byte(acc))
	}
	return b
}

// Hash is the 64-bit hash of a key built by AppendKey.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// KeyHashes reads a key built by AppendKey back into the hashes purges
// name: its cloud (CloudHash) and its variant, the key without the
// negotiated Accept set, which every format f_auto may pick shares. It
// also says whether the URL named a version. No field but rt, type,
// format and Accepts is a byte that can be zero, so the key reads
// forward unambiguously. A malformed key gives zeros.
func KeyHashes(key []byte) (cloud, variant uint64, versioned bool) {
	i := bytes.IndexByte(key, 0)
	if i < 0 || len(key) < i+4 {
		return 0, 0, false
	}
	cloud = xxhash.Sum64(key[:i])
	j := i + 4               // cloud, 0, rt, type, 0
	for n := 0; n < 3; n++ { // public_id, version, transformation
		k := bytes.IndexByte(key[j:], 0)
		if k < 0 {
			return cloud, 0, false
		}
		if n == 1 {
			versioned = k > 0
		}
		j += k + 1
	}
	if j >= len(key) {
		return cloud, 0, false
	}
	return cloud, xxhash.Sum64(key[:j+1]), versioned // through the format byte
}

// CloudHash is the hash KeyHashes gives for the cloud's keys.
func CloudHash(cloud string) uint64 { return xxhash.Sum64String(cloud) }

// Query encodes s for the origin's derive endpoint. Keys are written in a
// fixed order so that the encoding is deterministic and can be signed.
func (s *Spec) Query() string {
	v := url.Values{}
	v.Set("cloud", s.Cloud)
	v.Set("rt", s.ResourceType.String())
	v.Set("type", s.Type.String())
	v.Set("id", s.PublicID)
	if s.Tx != "" {
		v.Set("tx", s.Tx)
	}
	if s.Format != format.Unknown {
		v.Set("f", s.Format.Ext())
	}
	if s.Format == format.Auto {
		v.Set("accept", strconv.Itoa(int(s.Accepts)))
	}
	if s.Signed {
		v.Set("signed", "1")
	}
	return v.Encode()
}

// ParseQuery decodes a Spec written by Query and checks every field: the
// origin trusts nothing the edge sends beyond its authenticity.
func ParseQuery(q url.Values) (Spec, error) {
	var s Spec
	var ok bool
	s.Cloud = q.Get("cloud")
	if s.ResourceType, ok = urlapi.ParseResourceType(q.Get("rt")); !ok || s.Cloud == "" {
		return s, clderr.BadRequest("Invalid derive request")
	}
	if s.Type, ok = urlapi.ParseDeliveryType(q.Get("type")); !ok {
		return s, clderr.BadRequest("Invalid derive request")
	}
	s.PublicID = q.Get("id")
	validate := urlapi.ValidatePublicID
	if s.Type == urlapi.Fetch {
		// A fetch delivery's id is the remote image's URL.
		validate = urlapi.ValidateFetchURL
		if s.ResourceType != urlapi.Image {
			return s, clderr.BadRequest("Invalid derive request")
		}
	}
	if err := validate(s.PublicID); err != nil {
		return s, err
	}
	s.Tx = q.Get("tx")
	if f := q.Get("f"); f != "" {
		if s.Format = format.FromExt(f); s.Format == format.Unknown {
			return s, clderr.BadRequest("Invalid extension - %s", f)
		}
	}
	if a := q.Get("accept"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 || n > 255 {
			return s, clderr.BadRequest("Invalid derive request")
		}
		s.Accepts = format.Accepts(n)
	}
	switch q.Get("signed") {
	case "", "0":
	case "1":
		s.Signed = true
	default:
		return s, clderr.BadRequest("Invalid derive request")
	}
	return s, nil
}

// StorageName names a rendered derivative within one version of its
// asset: a 128-bit hash of the canonical transformation and the concrete
// output format, so the name is short and safe as a storage key.
func StorageName(canonTx string, out format.Format) string {
	h := sha256.New()
	h.Write([]byte(canonTx))
	h.Write([]byte{0})
	h.Write([]byte(out.Ext()))
	return hex.EncodeToString(h.Sum(nil)[:16]) + "." + out.Ext()
}
