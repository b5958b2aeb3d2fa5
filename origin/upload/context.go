package upload

import (
	"strings"

	"github.com/refract-cdn/refract/shared/clderr"
)

// Limits on contextual metadata, as Cloudinary's.
const (
	maxContextKeys  = 100
	maxContextBytes = 1024
)

// parseContext reads "key=value|key2=value2", where "\|" and "\=" stand
// for literal bars and equal signs, as the SDKs escape them.
func parseContext(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range splitEscaped(s, '|') {
		if pair == "" {
			continue
		}
		// The first unescaped "=" ends the key: some SDKs do not escape
		// the ones in values.
		kv := splitEscaped(pair, '=')
		if kv[0] == "" {
			return nil, clderr.BadRequest("Invalid context - %s", pair)
		}
		k, v := unescape(kv[0]), ""
		if len(kv) > 1 {
			v = unescape(pair[len(kv[0])+1:])
		}
		if len(k)+len(v) > maxContextBytes {
			return nil, clderr.BadRequest("Context value of %s is too long", k)
		}
		out[k] = v
		if len(out) > maxContextKeys {
			return nil, clderr.BadRequest("Too many context keys")
		}
	}
	return out, nil
}

// splitEscaped splits s at sep, except where sep follows a backslash.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitList reads a comma-separated list, trimmed, without empties.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
