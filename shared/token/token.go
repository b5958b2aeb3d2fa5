// Package token verifies and generates Cloudinary's token-based
// authentication tokens (the __cld_token__ query parameter), which are
// Akamai's Auth Token 2.0:
//
//	[ip=<addr>~][st=<unix>~]exp=<unix>[~acl=<pattern>[!<pattern>...]]~hmac=<hex>
//
// The hmac is HMAC-SHA256, keyed with the hex-decoded token key, over
// the token's parts before ~hmac=; a token without an ACL is bound to
// one URL path, and then "~url=<escaped path>" is appended to the
// signed string but not to the token. Values are escaped as the SDKs
// escape them (see escape), and the hmac covers the token exactly as
// sent, so Verify must be given the raw, not percent-decoded, query
// value: FromQuery extracts it.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Name is the query parameter that carries the token.
const Name = "__cld_token__"

// The reasons a token is refused; Cloudinary answers 401 to all of them.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrSignature   = errors.New("token: bad signature")
	ErrExpired     = errors.New("token: expired")
	ErrNotYetValid = errors.New("token: not yet valid")
	ErrIP          = errors.New("token: wrong client IP")
	ErrACL         = errors.New("token: path not allowed by its ACL")
)

// maxToken bounds the work an unauthenticated token can cause.
const maxToken = 4096

// parsed holds views into a token; nothing is copied.
type parsed struct {
	signed  string // the token before "~hmac=", as signed
	ip, acl string // acl is still escaped
	st, exp int64
	sum     [sha256.Size]byte

	hasIP, hasST, hasExpiry, hasACL bool
}

// parse splits a raw token into its fields. The SDKs write ip, st, exp,
// acl in that order; any order is accepted since the hmac covers the
// bytes, but each field at most once, nothing unknown, hmac last.
func parse(tok string, p *parsed) error {
	*p = parsed{}
	if len(tok) > maxToken {
		return ErrMalformed
	}
	// The hmac is last and of fixed length; exp is required, so it is
	// never first either.
	const tail = len("~hmac=") + 2*sha256.Size
	if len(tok) < tail || tok[len(tok)-tail:len(tok)-2*sha256.Size] != "~hmac=" {
		return ErrMalformed
	}
	p.signed = tok[:len(tok)-tail]
	if !decodeSum(tok[len(tok)-2*sha256.Size:], &p.sum) {
		return ErrMalformed
	}
	rest := p.signed
	for rest != "" {
		var field string
		if j := strings.IndexByte(rest, '~'); j >= 0 {
			field, rest = rest[:j], rest[j+1:]
			if rest == "" {
				return ErrMalformed // a trailing "~" makes an empty field
			}
		} else {
			field, rest = rest, ""
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok || value == "" {
			return ErrMalformed
		}
		var err error
		switch name {
		case "ip":
			err = once(&p.hasIP)
			p.ip = value
		case "st":
			err = once(&p.hasST)
			p.st, ok = parseUnix(value)
		case "exp":
			err = once(&p.hasExpiry)
			p.exp, ok = parseUnix(value)
		case "acl":
			err = once(&p.hasACL)
			p.acl = value
		default:
			err = ErrMalformed
		}
		if err != nil || !ok {
			return ErrMalformed
		}
	}
	if !p.hasExpiry {
		return ErrMalformed
	}
	return nil
}

func once(seen *bool) error {
	if *seen {
		return ErrMalformed
	}
	*seen = true
	return nil
}

// parseUnix parses a non-negative decimal of at most 18 digits, which
// cannot overflow and covers any real time.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func decodeSum(s string, sum *[sha256.Size]byte) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	bad := byte(0)
	for i := range sum {
		hi, lo := hexVal[s[2*i]], hexVal[s[2*i+1]]
		bad |= hi | lo
		sum[i] = hi<<4 | lo&15
	}
	return bad&0x80 == 0
}

// hexVal maps a hex digit to its value, anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < 16; i++ {
		t["0123456789abcdef"[i]] = byte(i)
		t["0123456789ABCDEF"[i]] = byte(i)
	}
	return t
}()

func unhex(c byte) (byte, bool) {
	v := hexVal[c]
	return v, v != 0xff
}

// Verifier checks tokens signed with one key. It keeps its HMAC state
// pooled, so a check allocates nothing; it is safe for concurrent use.
type Verifier struct {
	key   []byte
	pool  sync.Pool
	empty bool
}

// scratch is a pooled HMAC with the buffer that feeds it: writing a
// string to a hash.Hash otherwise costs a copy on the heap.
type scratch struct {
	h   hash.Hash
	buf [256]byte
	n   int
	sum [sha256.Size]byte
	p   parsed
}

// NewVerifier returns a Verifier for key, the hex-decoded token key.
// An empty key verifies nothing.
func NewVerifier(key []byte) *Verifier {
	v := &Verifier{key: append([]byte(nil), key...), empty: len(key) == 0}
	v.pool.New = func() any { return &scratch{h: hmac.New(sha256.New, v.key)} }
	return v
}

// Verify checks tok, the raw value of the __cld_token__ parameter,
// against key (hex-decoded), for a request for path by clientIP at now.
// See Verifier.Verify.
func Verify(tok string, key []byte, path, clientIP string, now time.Time) error {
	if len(key) == 0 {
		return ErrSignature
	}
	s := &scratch{h: hmac.New(sha256.New, key)}
	return verify(s, tok, path, clientIP, now)
}

// Verify checks tok, the raw (not percent-decoded) value of the
// __cld_token__ parameter, for a request for path by clientIP at now.
//
// path is the URL path as the signer saw it: decoded, as url.URL.Path
// gives it (the SDKs sign the escaped form of that, and so does this).
// For a URL-bound token (no ACL) the path is part of the signed string,
// so a token used for another path fails with ErrSignature; an ACL
// token used outside its ACL fails with ErrACL.
//
// The signature is checked first, so the other errors describe genuine
// tokens only. The token is valid from st (inclusive) until exp
// (exclusive), both whole Unix seconds, with no leeway for clock skew.
// ip= must name the client's address: Cloudinary binds a token to one
// address, not a range; the two are compared as addresses, so
// "::ffff:1.2.3.4" and "1.2.3.4" are the same client.
func (v *Verifier) Verify(tok, path, clientIP string, now time.Time) error {
	if v.empty {
		return ErrSignature
	}
	s := v.pool.Get().(*scratch)
	err := verify(s, tok, path, clientIP, now)
	s.p = parsed{} // holds views into the request's memory
	v.pool.Put(s)
	return err
}

func verify(s *scratch, tok, path, clientIP string, now time.Time) error {
	p := &s.p
	if err := parse(tok, p); err != nil {
		return err
	}
	s.h.Reset()
	s.write(p.signed, false)
	if !p.hasACL {
		s.write("~url=", false)
		s.write(path, true)
	}
	s.flush()
	if !hmac.Equal(s.h.Sum(s.sum[:0]), p.sum[:]) {
		return ErrSignature
	}
	t := now.Unix()
	if p.hasST && t < p.st {
		return ErrNotYetValid
	}
	if t >= p.exp {
		return ErrExpired
	}
	if p.hasIP && !sameIP(p.ip, clientIP) {
		return ErrIP
	}
	if p.hasACL && !matchACL(p.acl, path) {
		return ErrACL
	}
	return nil
}

// write feeds s to the hash, escaped as the SDKs' escapeToLower if
// asked, through the scratch buffer.
func (s *scratch) write(str string, esc bool) {
	for i := 0; i < len(str); i++ {
		if s.n+3 > len(s.buf) {
			s.flush()
		}
		c := str[i]
		if esc && unsafeChar(c) {
			s.buf[s.n] = '%'
			s.buf[s.n+1] = lowerHex[c>>4]
			s.buf[s.n+2] = lowerHex[c&15]
			s.n += 3
			continue
		}
		s.buf[s.n] = c
		s.n++
	}
}

func (s *scratch) flush() {
	s.h.Write(s.buf[:s.n])
	s.n = 0
}

func sameIP(tokenIP, clientIP string) bool {
	if tokenIP == clientIP {
		return true
	}
	a, err1 := netip.ParseAddr(tokenIP)
	b, err2 := netip.ParseAddr(clientIP)
	return err1 == nil && err2 == nil && a.Unmap() == b.Unmap()
}

// FromQuery returns the raw value of the __cld_token__ parameter in a
// raw (undecoded) query string, and whether there was one. Decoding
// would break the signature: "%2f" in an ACL is signed as such, and a
// form decoder turns "+" into a space.
func FromQuery(rawQuery string) (string, bool) {
	for rawQuery != "" {
		var kv string
		if i := strings.IndexByte(rawQuery, '&'); i >= 0 {
			kv, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			kv, rawQuery = rawQuery, ""
		}
		if v, ok := strings.CutPrefix(kv, Name+"="); ok {
			return v, true
		}
	}
	return "", false
}
