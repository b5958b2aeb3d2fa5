package main

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudinary/cloudinary-go/v2/api"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/testimg"
)

// What other SDKs and SDK features put on the wire.
func TestUploadCompatibility(t *testing.T) {
	n := newNode(t, nil)
	img := testimg.JPEG(testimg.Quadrants(600, 400))

	// cloudinary-go sends arrays as face_coordinates[0], [1], ... but signs them merged.
	cld := sdk(t, n)
	res, err := cld.Upload.Upload(context.Background(), bytes.NewReader(img), uploader.UploadParams{
		PublicID: "faces", FaceCoordinates: api.Coordinates{{10, 20, 30, 40}, {50, 60, 70, 80}},
	})
	if err != nil || res.Error.Message != "" {
		t.Fatalf("an SDK upload with indexed array fields: %v %s", err, res.Error.Message)
	}

	// A data: URI as a plain multipart field (pycloudinary, PHP), larger than any form field.
	if len(img) < 100<<10 {
		img = testimg.JPEG(testimg.Quadrants(1600, 1200))
	}
	p := url.Values{"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "public_id": {"datauri-field"}}
	p.Set("signature", sign.Hex(sign.UploadToSign(p), secret, sign.SHA1))
	p.Set("api_key", "123456789012345")
	p.Set("file", "data:image/jpeg;base64,"+base64(img))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k := range p {
		mw.WriteField(k, p.Get(k))
	}
	mw.Close()
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", mw.FormDataContentType(), &body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a %d KB data URI in a multipart field: %v %v", len(p.Get("file"))>>10, resp.StatusCode, err)
	}
	resp.Body.Close()
	expectImage(t, fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_0.1/datauri-field.jpg"), format.JPEG, 160, 120)

	// Names Cloudinary refuses, refused before anything is stored.
	for _, c := range []struct{ id, msg string }{
		{"a+b", "Invalid public_id - a+b"},
		{"albums/v2/cat", "a folder cannot be named v followed by digits"},
		{strings.Repeat("x", 241), "public_id is too long"},
	} {
		r := rawUpload(t, n, "image", img, "x.jpg", secret, time.Now(), url.Values{"public_id": {c.id}})
		if r.status != 400 || !strings.Contains(r.Error.Message, c.msg) {
			t.Errorf("public_id %q: %d %q", c.id, r.status, r.Error.Message)
		}
	}
	// Missing parameters are a 400; a timestamp from the future is refused too.
	if r := rawUpload(t, n, "image", img, "x.jpg", secret, time.Now().Add(2*time.Hour), nil); r.status != 401 || !strings.Contains(r.Error.Message, "in the future") {
		t.Errorf("a future timestamp: %d %q", r.status, r.Error.Message)
	}
	resp, _ = http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", "application/x-www-form-urlencoded", strings.NewReader("file=data:image/png;base64,AAAA"))
	if resp.StatusCode != 400 {
		t.Errorf("an unsigned request without api_key: %d", resp.StatusCode)
	}
}
