package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Params mirror the SDKs' auth_token options.
type Params struct {
	Key []byte // the hex-decoded token key
	// IP binds the token to one client address.
	IP string
	// StartTime, when set, is written as st=: the token is not valid
	// before it.
	StartTime time.Time
	// Expiration is when the token stops being valid. When zero, it is
	// StartTime (or now) plus Duration, as in the SDKs.
	Expiration time.Time
	Duration   time.Duration
	// ACL patterns ("*" matches anything), joined with "!". With none,
	// the token is bound to URL, the URL path to sign.
	ACL []string
	URL string
}

// Generate returns a token value for p (without the "__cld_token__="
// the SDKs put before it), computed as cloudinary-go's
// AuthToken.Generate does. now stands in for the current time when
// Duration is counted without a StartTime. Times are whole seconds.
func Generate(p Params, now time.Time) (string, error) {
	if len(p.Key) == 0 {
		return "", errors.New("token: no key")
	}
	exp := p.Expiration
	if exp.IsZero() {
		if p.Duration <= 0 {
			return "", errors.New("token: need an expiration or a duration")
		}
		start := p.StartTime
		if start.IsZero() {
			start = now
		}
		exp = time.Unix(start.Unix()+int64(p.Duration/time.Second), 0)
	}
	if len(p.ACL) == 0 && p.URL == "" {
		return "", errors.New("token: need an ACL or a URL")
	}
	if exp.Unix() < 0 || (!p.StartTime.IsZero() && p.StartTime.Unix() < 0) {
		return "", errors.New("token: times before 1970")
	}
	var parts []string
	if p.IP != "" {
		if _, err := netip.ParseAddr(p.IP); err != nil {
			return "", errors.New("token: IP is not an address: " + p.IP)
		}
		parts = append(parts, "ip="+p.IP)
	}
	if !p.StartTime.IsZero() {
		parts = append(parts, "st="+strconv.FormatInt(p.StartTime.Unix(), 10))
	}
	parts = append(parts, "exp="+strconv.FormatInt(exp.Unix(), 10))
	if len(p.ACL) > 0 {
		for _, a := range p.ACL {
			if a == "" || strings.Contains(a, "!") {
				return "", errors.New("token: an ACL pattern is empty or holds the separator !")
			}
		}
		parts = append(parts, "acl="+escape(strings.Join(p.ACL, "!")))
	}
	toSign := strings.Join(parts, "~")
	if len(p.ACL) == 0 {
		toSign += "~url=" + escape(p.URL)
	}
	h := hmac.New(sha256.New, p.Key)
	h.Write([]byte(toSign))
	parts = append(parts, "hmac="+hex.EncodeToString(h.Sum(nil)))
	return strings.Join(parts, "~"), nil
}
