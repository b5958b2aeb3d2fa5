package sign

import (
	"reflect"
	"testing"
)

// Vectors from ../shared/reference/cloudinary-api.md.
func TestDeliveryVectors(t *testing.T) {
	cases := []struct {
		tx, id string
		long   bool
		want   string
	}{
		{"", "sample.jpg", false, "v2fTPYTu"},
		{"", "sample.jpg", true, "2hbrSMPOjj5BJ4xV7SgFbRDevFaQNUFf"},
		{"w_300,c_scale", "sample.jpg", false, "QGYkTi9b"},
	}
	for _, c := range cases {
		got := Delivery(DeliveryToSign(c.tx, c.id), "b", c.long)
		if got != c.want {
			t.Errorf("Delivery(%q,%q,long=%v) = %q, want %q", c.tx, c.id, c.long, got, c.want)
		}
		if !VerifyDelivery([]byte(DeliveryToSign(c.tx, c.id)), c.want, "b") {
			t.Errorf("VerifyDelivery rejected the vector %q", c.want)
		}
		bad := []byte(c.want)
		bad[0] ^= 1
		if VerifyDelivery([]byte(DeliveryToSign(c.tx, c.id)), string(bad), "b") {
			t.Errorf("VerifyDelivery accepted a tampered signature %q", bad)
		}
	}
	if VerifyDelivery([]byte("sample.jpg"), "v2fTPYT", "b") {
		t.Error("a 7-character signature was accepted")
	}
}

func TestDeliveryToSignDecodes(t *testing.T) {
	if got := DeliveryToSign("", "a%2520b.jpg"); got != "a b.jpg" {
		t.Errorf("DeliveryToSign decoded to %q, want %q", got, "a b.jpg")
	}
	if got := DeliveryToSign("", "100%.jpg"); got != "100%.jpg" {
		t.Errorf("an invalid escape must be left as is, got %q", got)
	}
}

func TestUploadVector(t *testing.T) {
	params := map[string][]string{
		"eager":     {"w_400,h_300,c_pad|w_260,h_200,c_crop"},
		"public_id": {"sample_image"},
		"timestamp": {"1315060510"},
		// Never signed, or empty: must not change the result.
		"file": {"data:..."}, "api_key": {"123"}, "cloud_name": {"demo"},
		"resource_type": {"image"}, "tags": {""},
	}
	toSign := UploadToSign(params)
	if want := "eager=w_400,h_300,c_pad|w_260,h_200,c_crop&public_id=sample_image&timestamp=1315060510"; toSign != want {
		t.Fatalf("UploadToSign = %q, want %q", toSign, want)
	}
	if got := Hex(toSign, "abcd", SHA1); got != "bfd09f95f331f558cbd1320e67aa8d488770583e" {
		t.Errorf("SHA-1 = %s", got)
	}
	if got := Hex(toSign, "abcd", SHA256); got != "cc927e1290f9e3ae4c1a741eda21a4630b4ce80f9ce0bc0296337d25cf40f91e" {
		t.Errorf("SHA-256 = %s", got)
	}
	for _, sig := range []string{"bfd09f95f331f558cbd1320e67aa8d488770583e", "cc927e1290f9e3ae4c1a741eda21a4630b4ce80f9ce0bc0296337d25cf40f91e"} {
		if !VerifyUpload(params, sig, "abcd") {
			t.Errorf("VerifyUpload rejected %s", sig)
		}
	}
	if VerifyUpload(params, "bfd09f95f331f558cbd1320e67aa8d488770583f", "abcd") {
		t.Error("VerifyUpload accepted a wrong signature")
	}
	if VerifyUpload(params, "bfd09f95f331f558cbd1320e67aa8d488770583e", "abce") {
		t.Error("VerifyUpload accepted the wrong secret")
	}
}

func TestArraysJoinWithComma(t *testing.T) {
	got := UploadToSign(map[string][]string{"tags": {"a", "b"}, "timestamp": {"1"}})
	if got != "tags=a,b&timestamp=1" {
		t.Errorf("got %q", got)
	}
}

func TestResponseVector(t *testing.T) {
	if got := Response("sample_image", "1315060510", "abcd"); got != "da0b06b01c07c62db129b77abe532ca8b7ffb118" {
		t.Errorf("Response = %s", got)
	}
}

func TestNotification(t *testing.T) {
	// sha1("{}" + "1700000000" + "s"), computed independently.
	a := Notification([]byte("{}"), "1700000000", "s")
	b := Hex("{}1700000000", "s", SHA1)
	if a != b || len(a) != 40 {
		t.Errorf("Notification = %q, want %q", a, b)
	}
}

// The SDK's own request for a value with "&" (signature version 2) and an
// array sent as indexed fields, as cloudinary-go v2.14.0 put it on the
// wire, with the signatures it computed.
func TestUploadSignatureVersion2(t *testing.T) {
	params := map[string][]string{
		"context": {"k=v"}, "eager": {"w_100,c_scale|w_200"},
		"face_coordinates[0]": {"[1,2,3,4]"}, "face_coordinates[1]": {"[5,6,7,8]"}, "folder": {"f&g"},
		"overwrite": {"true"}, "public_id": {"folder/x"}, "tags": {"a,b"},
		"timestamp": {"1700000000"}, "transformation": {"w_300,c_scale"},
		"resource_type": {"image"},
	}
	if !VerifyUpload(params, "ac316c479149450ca4626ec675c5701e68518bd0", "secret456") {
		t.Error("SHA-1 v2 signature rejected")
	}
	if !VerifyUpload(params, "57151a2fdbf7d0e810c25f48d155989222f0d16286dfe44f8b8d7485f95f8510", "secret456") {
		t.Error("SHA-256 v2 signature rejected")
	}
}

func TestVerifyDeliveryDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 128)
	n := testing.AllocsPerRun(100, func() {
		b := append(buf[:0], "w_300,c_scale/sample.jpg"...)
		if !VerifyDelivery(b, "QGYkTi9b", "b") {
			t.Fatal("rejected")
		}
	})
	if n != 0 {
		t.Errorf("VerifyDelivery allocates %v times", n)
	}
}

func TestIndexedKeys(t *testing.T) {
	got := UploadToSign(map[string][]string{"a[10]": {"z"}, "a[2]": {"y"}, "a[0]": {"x"}, "b[x]": {"1"}, "c[]": {"2"}})
	// key[] is an array too: SDKs that send public_ids[] sign public_ids.
	if want := "a=x,z,y&b[x]=1&c=2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFlatten(t *testing.T) {
	got, ok := Flatten(map[string][]string{"a[1]": {"y"}, "a[0]": {"x"}, "b[]": {"p", "q"}, "c": {"1", "2"}, "d": {"v"}})
	want := map[string][]string{"a": {"x,y"}, "b": {"p,q"}, "c": {"1,2"}, "d": {"v"}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Flatten = %v %v, want %v", got, ok, want)
	}
	// What is read after Flatten is what was signed.
	if UploadToSign(got) != "a=x,y&b=p,q&c=1,2&d=v" {
		t.Errorf("signed %q", UploadToSign(got))
	}
	for _, amb := range []map[string][]string{{"a": {"x"}, "a[0]": {"y"}}, {"a": {"x"}, "a[]": {"y"}}} {
		if _, ok := Flatten(amb); ok {
			t.Errorf("Flatten(%v) accepted a key sent both plain and as an array", amb)
		}
	}
}
