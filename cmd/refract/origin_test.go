package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudinary/cloudinary-go/v2"
	cldadmin "github.com/cloudinary/cloudinary-go/v2/api/admin"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/testimg"
)

// refract origin from a YAML file with two clouds on S3: each SDK
// uploads to its own cloud and sees only its own assets.
func TestOriginFromConfig(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	if s3Available() {
		srv := s3test.Start(t)
		withS3(t, srv)
		store = srv.URL()
	}
	t.Setenv("TEST_PEER_SECRET", "0123456789abcdef-peer")
	t.Setenv("TEST_SECRET_B", "secret-b")
	yaml := `
listen: 127.0.0.1:0
ops_listen: 127.0.0.1:0
store: ` + store + `
data: ` + t.TempDir() + `
public_url: https://img.example.com
peer_secret: "${TEST_PEER_SECRET}"
node_id: origin-test
clouds:
  - {name: alpha, api_key: "111", api_secret: secret-a}
  - {name: beta, api_key: "222", api_secret: "${TEST_SECRET_B}", strict_transformations: true}
`
	path := filepath.Join(t.TempDir(), "origin.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	oc := config.DefaultOrigin()
	if err := config.Load(path, &oc); err != nil {
		t.Fatal(err)
	}
	n, err := startOrigin(context.Background(), oc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if r := fetch(t, "http://"+n.opsAddr+"/readyz"); r.status != 200 {
		t.Fatalf("readyz: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	sdkFor := func(url string) *cloudinary.Cloudinary {
		c, err := cloudinary.NewFromURL(url + "?upload_prefix=http://" + n.apiAddr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alpha, beta := sdkFor("cloudinary://111:secret-a@alpha"), sdkFor("cloudinary://222:secret-b@beta")
	res, err := alpha.Upload.Upload(ctx, bytes.NewReader(testimg.JPEG(testimg.Quadrants(64, 48))), uploader.UploadParams{PublicID: "a/pic"})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("alpha upload: %v %+v", err, res)
	}
	if !strings.HasPrefix(res.SecureURL, "https://img.example.com/alpha/image/upload/v") {
		t.Errorf("secure_url %s does not use public_url", res.SecureURL)
	}
	if res, err := beta.Upload.Upload(ctx, bytes.NewReader(testimg.JPEG(testimg.Quadrants(64, 48))), uploader.UploadParams{PublicID: "b/pic"}); err != nil || res.Error.Message != "" {
		t.Fatalf("beta upload: %v %+v", err, res)
	}
	for name, c := range map[string]*cloudinary.Cloudinary{"alpha": alpha, "beta": beta} {
		list, err := c.Admin.Assets(ctx, cldadmin.AssetsParams{})
		if err != nil || len(list.Assets) != 1 || !strings.HasPrefix(list.Assets[0].PublicID, name[:1]+"/") {
			t.Errorf("%s lists %+v %v", name, list, err)
		}
	}
	// alpha's key on beta's path is refused.
	forged := sdkFor("cloudinary://111:secret-a@beta")
	if p, err := forged.Admin.Ping(ctx); err == nil && p.Error.Message == "" {
		t.Errorf("alpha's key opened beta's Admin API: %+v", p)
	}
}
