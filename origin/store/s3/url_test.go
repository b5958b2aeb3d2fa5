package s3store

import (
	"context"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix string }{
		{"s3://media", "media", ""},
		{"s3://media/", "media", ""},
		{"s3://my.bucket-1/refract", "my.bucket-1", "refract"},
		{"s3://abc/a/b/c/", "abc", "a/b/c"},
		{"s3://abc/x:y", "abc", "x:y"},
	} {
		b, p, err := ParseURL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.in, b, p, err)
		}
	}
	for _, in := range []string{
		"", "s3:/media", "http://media", "S3://media", "s3://", "s3:///p",
		"s3://ab", "s3://" + strings.Repeat("a", 64), "s3://Media", "s3://me_dia",
		"s3://-media", "s3://media-", "s3://me..dia", "s3://me.-dia", "s3://192.168.1.1",
		"s3://xn--media", "s3://media-s3alias", "s3://media--ol-s3",
		"s3://media//p", "s3://media/p//q", "s3://media/p//", "s3://media/./p", "s3://media/p/..",
		"s3://media/p?x=1", "s3://media/p#f", "s3://media/a%2Fb", "s3://user@media",
		"s3://media:9000/p", "s3://media/p\x00", "s3://media/a\\b",
	} {
		if b, p, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) = %q, %q, want an error", in, b, p)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, c := range []Config{
		{},
		{Bucket: "Bad_Bucket"},
		{Bucket: "media", Prefix: "/lead"},
		{Bucket: "media", Prefix: "trail/"},
		{Bucket: "media", Prefix: "a//b"},
		{Bucket: "media", Endpoint: "127.0.0.1:9000"},
		{Bucket: "media", Endpoint: "ftp://host"},
	} {
		if _, err := New(ctx, c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestObjKey(t *testing.T) {
	s, err := New(context.Background(), Config{Bucket: "media", Prefix: "p", Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := s.objKey("a/b"); err != nil || k != "p/a/b" {
		t.Errorf("objKey = %q %v", k, err)
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "a/../b", "\xff\xfe", strings.Repeat("k", 1023)} {
		if _, err := s.objKey(k); err == nil {
			t.Errorf("objKey(%q) accepted", k)
		}
	}
}
