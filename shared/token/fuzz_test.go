package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzParse: no input panics, parse keeps its views consistent, and a
// token re-signed with the right key passes the signature check
// whatever else it says.
func FuzzParse(f *testing.F) {
	f.Add("exp=11111411~hmac=470d32e3ee9b872d64bd00d974c559d96892398c8542ff33ce2f2647ee1bf7a4", "sample.jpg")
	f.Add("st=1111111111~exp=1111111411~acl=%2fimage%2f*~hmac=1751370bcc6cfe9e03f30dd1a9722ba0f2cdca283fa3e6df3342a00a7528cc51", "/image/a.jpg")
	f.Add("ip=::1~exp=9~acl=*%2a!%2fa%2~hmac="+hex.EncodeToString(make([]byte, 32)), "/a*")
	f.Fuzz(func(t *testing.T, tok, path string) {
		var p parsed
		err := parse(tok, &p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse(%q) = %v", tok, err)
			}
			if err := Verify(tok, key, path, "::1", unix(5)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse refused %q but Verify says %v", tok, err)
			}
			return
		}
		if len(tok) != len(p.signed)+70 || tok[:len(p.signed)] != p.signed || !p.hasExpiry {
			t.Fatalf("parse(%q) = %+v", tok, p)
		}
		toSign := p.signed
		if !p.hasACL {
			toSign += "~url=" + escape(path)
		}
		h := hmac.New(sha256.New, key)
		h.Write([]byte(toSign))
		resigned := p.signed + "~hmac=" + hex.EncodeToString(h.Sum(nil))
		switch err := NewVerifier(key).Verify(resigned, path, "::1", unix(5)); {
		case err == nil, errors.Is(err, ErrExpired), errors.Is(err, ErrNotYetValid),
			errors.Is(err, ErrIP), errors.Is(err, ErrACL):
		default:
			t.Fatalf("Verify(%q, %q) = %v after re-signing", resigned, path, err)
		}
	})
}
