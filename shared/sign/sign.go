// Package sign implements Cloudinary's signatures: the delivery URL
// signature (s--SIG--), the Upload API request signature, the upload
// response signature and the webhook notification signature.
package sign

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// Algorithm selects the digest of a signature.
type Algorithm int

const (
	SHA1 Algorithm = iota
	SHA256
)

// Delivery signature lengths, in url-safe base64 characters.
const (
	ShortLen = 8
	LongLen  = 32
)

// DeliveryToSign is the string a delivery signature covers: the raw
// transformation components, then the public_id with its extension,
// percent-decoded until stable. The version and SEO suffix are not part of it.
func DeliveryToSign(tx, publicIDWithExt string) string {
	s := publicIDWithExt
	if tx != "" {
		s = tx + "/" + publicIDWithExt
	}
	return DecodeFully(s)
}

// DecodeFully percent-decodes s until it stops changing, as Cloudinary does
// before signing. An invalid escape stops the decoding.
func DecodeFully(s string) string {
	for i := 0; i < 8 && strings.IndexByte(s, '%') >= 0; i++ {
		d, err := url.PathUnescape(s)
		if err != nil || d == s {
			break
		}
		s = d
	}
	return s
}

// Delivery returns the signature (without the s-- -- wrapper) for toSign.
// The short form is SHA-1 cut to 8 characters, the long one SHA-256 cut to 32.
func Delivery(toSign, secret string, long bool) string {
	var enc [44]byte
	return string(deliveryDigest(&enc, []byte(toSign+secret), long))
}

// deliveryDigest encodes the digest of msg (string to sign + secret) into
// enc and returns the signature's prefix of it.
func deliveryDigest(enc *[44]byte, msg []byte, long bool) []byte {
	if long {
		sum := sha256.Sum256(msg)
		base64.URLEncoding.Encode(enc[:], sum[:])
		return enc[:LongLen]
	}
	sum := sha1.Sum(msg)
	base64.URLEncoding.Encode(enc[:28], sum[:])
	return enc[:ShortLen]
}

// VerifyDelivery checks sig (8 or 32 characters) in constant time. buf
// holds the string to sign (see DeliveryToSign) and is used as scratch
// space: with room for the secret, nothing is allocated.
func VerifyDelivery(buf []byte, sig, secret string) bool {
	if len(sig) != ShortLen && len(sig) != LongLen {
		return false
	}
	var enc [44]byte
	want := deliveryDigest(&enc, append(buf, secret...), len(sig) == LongLen)
	return subtle.ConstantTimeCompare(want, []byte(sig)) == 1
}

// Excluded lists the Upload API parameters that are never signed.
var excluded = map[string]bool{
	"file": true, "cloud_name": true, "resource_type": true,
	"api_key": true, "signature": true, "signature_algorithm": true,
}

// UploadToSign builds the Upload API string to sign: every non-excluded,
// non-empty parameter sorted by key, arrays joined with ",", as k=v&k=v.
// This is signature version 1; see uploadToSignV2.
func UploadToSign(params map[string][]string) string {
	return uploadToSign(params, false)
}

// uploadToSignV2 is the SDKs' default (signature_version 2): a "&" inside
// a value is written "%26" so it cannot forge a parameter boundary.
func uploadToSignV2(params map[string][]string) string {
	return uploadToSign(params, true)
}

func uploadToSign(params map[string][]string, escapeAmp bool) string {
	params = mergeIndexed(params)
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if excluded[k] || strings.Join(v, ",") == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		v := strings.Join(params[k], ",")
		if escapeAmp {
			v = strings.ReplaceAll(v, "&", "%26")
		}
		b.WriteString(v)
	}
	return b.String()
}

// mergeIndexed folds array parameters sent as key[0], key[1], … into one
// key, values joined in the sorted order of the indexed keys, as the SDKs
// do before signing (so key[10] sorts before key[2], as theirs does).
func mergeIndexed(params map[string][]string) map[string][]string {
	var indexed []string
	for k := range params {
		if baseKey(k) != k {
			indexed = append(indexed, k)
		}
	}
	if len(indexed) == 0 {
		return params
	}
	sort.Strings(indexed)
	out := make(map[string][]string, len(params))
	for k, v := range params {
		if baseKey(k) == k {
			out[k] = v
		}
	}
	for _, k := range indexed {
		b := baseKey(k)
		out[b] = append(out[b], params[k]...)
	}
	return out
}

// Flatten folds array parameters (key[0], key[1], …, or key[]) into
// their key and joins every key's values with ",", exactly as the string
// to sign does, so that what a server verifies is what it then reads. A
// key sent both plain and as an array is ambiguous: ok is false.
func Flatten(params map[string][]string) (out map[string][]string, ok bool) {
	out = make(map[string][]string, len(params))
	for k, v := range mergeIndexed(params) {
		out[k] = []string{strings.Join(v, ",")}
	}
	for k := range params {
		if b := baseKey(k); b != k {
			if _, plain := params[b]; plain {
				return nil, false
			}
		}
	}
	return out, true
}

// baseKey is "name" for "name[12]" and "name[]", and k itself otherwise.
func baseKey(k string) string {
	if !strings.HasSuffix(k, "]") {
		return k
	}
	i := strings.LastIndexByte(k, '[')
	if i <= 0 {
		return k
	}
	for _, c := range k[i+1 : len(k)-1] {
		if c < '0' || c > '9' {
			return k
		}
	}
	return k[:i]
}

// Hex returns the hex digest of toSign+secret.
func Hex(toSign, secret string, alg Algorithm) string {
	if alg == SHA256 {
		s := sha256.Sum256([]byte(toSign + secret))
		return hex.EncodeToString(s[:])
	}
	s := sha1.Sum([]byte(toSign + secret))
	return hex.EncodeToString(s[:])
}

// VerifyUpload checks an Upload API signature. The algorithm follows from
// the signature's length (40 hex characters for SHA-1, 64 for SHA-256),
// since the SDKs do not send it. Both signature versions are accepted: they
// differ only when a value contains "&".
func VerifyUpload(params map[string][]string, sig, secret string) bool {
	var alg Algorithm
	switch len(sig) {
	case 40:
		alg = SHA1
	case 64:
		alg = SHA256
	default:
		return false
	}
	sig = strings.ToLower(sig)
	v1 := UploadToSign(params)
	if subtle.ConstantTimeCompare([]byte(Hex(v1, secret, alg)), []byte(sig)) == 1 {
		return true
	}
	v2 := uploadToSignV2(params)
	return v2 != v1 && subtle.ConstantTimeCompare([]byte(Hex(v2, secret, alg)), []byte(sig)) == 1
}

// Response is the signature an upload response carries.
func Response(publicID, version, secret string) string {
	return Hex("public_id="+publicID+"&version="+version, secret, SHA1)
}

// Notification is the X-Cld-Signature of a webhook: hex SHA-1 of
// body + timestamp + secret.
func Notification(body []byte, timestamp, secret string) string {
	h := sha1.New()
	h.Write(body)
	h.Write([]byte(timestamp))
	h.Write([]byte(secret))
	return hex.EncodeToString(h.Sum(nil))
}
