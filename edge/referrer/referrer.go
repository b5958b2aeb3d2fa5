// Package referrer checks a request's Referer against a cloud's list of
// allowed domains (hotlink protection). Only the host counts: scheme,
// port, path and query do not.
//
// Patterns are host names, "example.com" for that host alone and
// "*.example.com" for any host below it (but not example.com itself:
// list both for both), or IP literals ("192.0.2.1", "[2001:db8::1]").
// Internationalized names are written in their ASCII (xn--) form, the
// form browsers send.
package referrer

import (
	"errors"
	"net/netip"
	"strings"
)

// maxHost is the longest DNS name; longer hosts cannot be listed.
const maxHost = 253

// Options tune a List.
type Options struct {
	// RejectEmpty refuses requests with no Referer. By default they are
	// allowed: browsers omit it under common Referrer-Policy settings
	// (no-referrer, or https to http), and so do direct visits and many
	// apps, so refusing them breaks real users while anyone scripting
	// requests can send any Referer anyway. Where the list grants
	// something instead of guarding it (as Cloudinary's referral domains
	// that may bypass strict transformations do), set it: a missing
	// Referer must not grant anything.
	RejectEmpty bool
}

// List is a set of allowed referrer hosts; it is safe for concurrent
// use. A nil List allows everything.
type List struct {
	exact       map[string]struct{} // lower-case hosts
	below       map[string]struct{} // from "*.example.com": "example.com"
	rejectEmpty bool
}

// New returns a List of patterns. With no patterns there is nothing to
// restrict (as in Cloudinary, where an empty list allows all): New
// returns nil.
func New(patterns []string, opts Options) (*List, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	l := &List{exact: map[string]struct{}{}, below: map[string]struct{}{}, rejectEmpty: opts.RejectEmpty}
	for _, p := range patterns {
		host, wild, err := pattern(p)
		if err != nil {
			return nil, err
		}
		if wild {
			l.below[host] = struct{}{}
		} else {
			l.exact[host] = struct{}{}
		}
	}
	return l, nil
}

func pattern(p string) (host string, wild bool, err error) {
	bad := func(why string) (string, bool, error) {
		return "", false, errors.New("referrer: pattern " + p + ": " + why)
	}
	h := strings.ToLower(strings.TrimSpace(p))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("not an IPv6 address")
		}
		return "[" + a.String() + "]", false, nil // as browsers write it
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		h, wild = rest, true
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return bad("write internationalized names in their xn-- form")
		}
	}
	if !validHost(h) {
		return bad("not a host name (no scheme, port, path or wildcard but a leading *.)")
	}
	if _, err := netip.ParseAddr(h); err == nil && wild {
		return bad("a wildcard over an IP address")
	}
	return h, wild, nil
}

// validHost reports whether h (lower case) is a dot-separated list of
// non-empty labels of letters, digits, "-" and "_", at most maxHost long.
func validHost[S ~string | ~[]byte](h S) bool {
	if len(h) == 0 || len(h) > maxHost {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			label++
		default:
			return false
		}
	}
	return label > 0
}

// Allowed reports whether a request with this Referer header may be
// served. Only http and https referrers can match (browsers send no
// other for web pages), and never one with credentials in it, which
// browsers strip. It does not allocate.
func (l *List) Allowed(referer []byte) bool {
	if l == nil {
		return true
	}
	r := trimSpace(referer)
	if len(r) == 0 {
		return !l.rejectEmpty
	}
	var buf [maxHost + 2]byte
	n, ok := host(r, &buf)
	if !ok {
		return false
	}
	h := buf[:n]
	if _, ok := l.exact[string(h)]; ok {
		return true
	}
	for i := 0; i < len(h); i++ {
		if h[i] == '.' {
			if _, ok := l.below[string(h[i+1:])]; ok {
				return true
			}
		}
	}
	return false
}

// host copies the lower-cased host of an http(s) URL into buf, without
// a trailing dot, and reports whether it found a well-formed one.
func host(r []byte, buf *[maxHost + 2]byte) (int, bool) {
	switch {
	case hasPrefixFold(r, "https://"):
		r = r[len("https://"):]
	case hasPrefixFold(r, "http://"):
		r = r[len("http://"):]
	default:
		return 0, false
	}
	// The authority ends where WHATWG's URL parser ends it for http(s),
	// "\" included, so this and a browser agree on the host.
	end := len(r)
	for i, c := range r {
		if c == '/' || c == '?' || c == '#' || c == '\\' {
			end = i
			break
		}
	}
	auth := r[:end]
	var h, port []byte
	if len(auth) > 0 && auth[0] == '[' {
		i := indexByte(auth, ']')
		if i < 0 {
			return 0, false
		}
		h, port = auth[:i+1], auth[i+1:]
	} else {
		h, port = auth, nil
		if i := indexByte(auth, ':'); i >= 0 {
			h, port = auth[:i], auth[i:]
		}
		if len(h) > 0 && h[len(h)-1] == '.' {
			h = h[:len(h)-1]
		}
	}
	if len(port) > 0 {
		if port[0] != ':' {
			return 0, false
		}
		for _, c := range port[1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
	}
	if len(h) == 0 || len(h) > len(buf) {
		return 0, false
	}
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	// Anything but a host name or an IPv6 literal (userinfo's "@", "%",
	// spaces, raw UTF-8, empty labels) is not a host a browser sends.
	h = buf[:len(h)]
	if h[0] == '[' {
		return len(h), ipv6Literal(h)
	}
	return len(h), validHost(h)
}

// ipv6Literal: "[" hex digits, ":" and "." "]"; the pattern side holds
// canonical forms, so only a browser's canonical spelling will match.
func ipv6Literal(h []byte) bool {
	if len(h) < 3 || h[len(h)-1] != ']' {
		return false
	}
	for _, c := range h[1 : len(h)-1] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
