package token

import "strings"

const lowerHex = "0123456789abcdef"

// unsafeChar reports the bytes cloudinary-go's escapeToLower replaces
// with %xx in lower case: ` "#%&'/:;<=>?@[\]^` + "`" + `{|}~`. Its
// regexp works on runes, but every one of these is ASCII, so working on
// bytes gives the same result for any input. (The Node SDK leaves "\"
// alone; the Go SDK is the reference here.)
func unsafeChar(c byte) bool {
	switch c {
	case ' ', '"', '#', '%', '&', '\'', '/', ':', ';', '<', '=', '>', '?', '@',
		'[', '\\', ']', '^', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

// escape is the SDKs' escapeToLower.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unsafeChar(c) {
			b.WriteByte('%')
			b.WriteByte(lowerHex[c>>4])
			b.WriteByte(lowerHex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// matchACL reports whether path matches any of the patterns in acl,
// which the SDKs join with "!" and escape. A pattern's "*" matches any
// run of bytes, "/" included, as Akamai's ACLs do; an escaped "%2a" is
// a literal star. "?" is not a wildcard: the SDKs escape it, so a
// pattern can only hold it as a literal.
func matchACL(acl, path string) bool {
	for {
		pat, rest, more := strings.Cut(acl, "!")
		if glob(pat, path) {
			return true
		}
		if !more {
			return false
		}
		acl = rest
	}
}

// glob matches the escaped pattern p against s with the usual
// backtracking to the last star, which is linear in practice and at
// worst len(p)*len(s); the pattern comes from a token whose signature
// has already been checked.
func glob(p, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) && p[pi] == '*' {
			pi++
			starP, starS = pi, si
			continue
		}
		if pi < len(p) {
			if c, w := patByte(p, pi); c == s[si] {
				pi += w
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// patByte decodes the pattern byte at i: %xx or a literal (including a
// "%" that does not start a valid escape).
func patByte(p string, i int) (byte, int) {
	if p[i] == '%' && i+2 < len(p) {
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if ok1 && ok2 {
			return hi<<4 | lo, 3
		}
	}
	return p[i], 1
}
