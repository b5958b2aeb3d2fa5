// Package peerauth authenticates requests between Refract's own nodes
// (edge to origin) with a shared secret: an HMAC over the method, path
// and query, with a timestamp so a captured request cannot be replayed
// for long.
package peerauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Header carries "<unix time>:<hex hmac>".
const Header = "X-Refract-Auth"

// MaxSkew is how far a request's time may be from the receiver's clock.
const MaxSkew = 5 * time.Minute

// Sign returns the Header value for a request.
func Sign(secret []byte, method, pathAndQuery string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + ":" + mac(secret, ts, method, pathAndQuery)
}

// Verify checks a Header value.
func Verify(secret []byte, value, method, pathAndQuery string, now time.Time) bool {
	ts, sum, ok := strings.Cut(value, ":")
	if !ok || len(secret) == 0 {
		return false
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(t, 0)); d > MaxSkew || d < -MaxSkew {
		return false
	}
	return hmac.Equal([]byte(mac(secret, ts, method, pathAndQuery)), []byte(sum))
}

func mac(secret []byte, ts, method, pathAndQuery string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write([]byte(method))
	m.Write([]byte{'\n'})
	m.Write([]byte(pathAndQuery))
	return hex.EncodeToString(m.Sum(nil))
}
