package s3store

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/refract-cdn/refract/origin/store"
)

// ParseURL splits "s3://bucket" or "s3://bucket/prefix" into the bucket
// and the key prefix. One trailing slash is tolerated ("s3://b/p/" is
// prefix "p"). Empty, "." or ".." segments, a query or fragment, and
// percent-escapes (which would make the key ambiguous) are refused.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3: %q is not an s3:// URL", u)
	}
	if strings.ContainsAny(rest, "?#%\\") {
		return "", "", fmt.Errorf("s3: URL %q: only s3://bucket[/prefix] is accepted", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := validBucket(bucket); err != nil {
		return "", "", err
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" && !store.ValidKey(prefix) {
		return "", "", fmt.Errorf("s3: URL %q: invalid prefix %q (empty, \".\" or \"..\" segments, or control characters)", u, prefix)
	}
	return bucket, prefix, nil
}

// validBucket applies S3's general-purpose bucket naming rules.
func validBucket(b string) error {
	bad := func(why string) error { return fmt.Errorf("s3: invalid bucket name %q: %s", b, why) }
	if len(b) < 3 || len(b) > 63 {
		return bad("must be 3 to 63 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("only lowercase letters, digits, '.' and '-' are allowed")
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return bad("'.' must not be next to '.' or '-'")
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return bad("must not look like an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return bad("the prefix " + p + " is reserved")
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"} {
		if strings.HasSuffix(b, s) {
			return bad("the suffix " + s + " is reserved")
		}
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
