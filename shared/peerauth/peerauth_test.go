package peerauth

import (
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1700000000, 0)
	v := Sign(secret, "GET", "/_refract/derive?id=a", now)
	if !Verify(secret, v, "GET", "/_refract/derive?id=a", now.Add(time.Minute)) {
		t.Fatal("a fresh signature was rejected")
	}
	for name, ok := range map[string]bool{
		"other path":   Verify(secret, v, "GET", "/_refract/derive?id=b", now),
		"other method": Verify(secret, v, "POST", "/_refract/derive?id=a", now),
		"other secret": Verify([]byte("x"), v, "GET", "/_refract/derive?id=a", now),
		"no secret":    Verify(nil, v, "GET", "/_refract/derive?id=a", now),
		"too old":      Verify(secret, v, "GET", "/_refract/derive?id=a", now.Add(MaxSkew+time.Second)),
		"garbage":      Verify(secret, "zzz", "GET", "/_refract/derive?id=a", now),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
