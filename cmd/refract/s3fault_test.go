package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/config"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/testimg"
)

// signedForm is a signed multipart upload body, as an SDK sends it; the
// file part is written by writeFile, which may stall.
func signedForm(c cloud.Cloud, id string, writeFile func(io.Writer) error) (io.Reader, string) {
	params := map[string][]string{"public_id": {id}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
	sig := sign.Hex(sign.UploadToSign(params), c.APISecret, sign.SHA1)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range params {
			mw.WriteField(k, v[0])
		}
		mw.WriteField("signature", sig)
		mw.WriteField("api_key", c.APIKey)
		fw, _ := mw.CreateFormFile("file", "f.png")
		if err := writeFile(fw); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

// MinIO dies while an upload is on its way: the client gets a clear 503,
// and once MinIO is back nothing of the upload is visible.
func TestS3DownMidUpload(t *testing.T) {
	if !s3Available() {
		t.Skip("no S3 test server built (make minio)")
	}
	srv := s3test.Start(t)
	n := newNode(t, withS3(t, srv))
	c, _ := cloud.ParseURL(testCloud)
	src := bigPNG(t, 1200, 1000) // 3.6 MB, sent slowly
	half := make(chan struct{})
	body, ct := signedForm(c, "fault/big", func(w io.Writer) error {
		if _, err := w.Write(src[:len(src)/2]); err != nil {
			return err
		}
		close(half)
		time.Sleep(500 * time.Millisecond) // MinIO is killed meanwhile
		_, err := w.Write(src[len(src)/2:])
		return err
	})
	go func() {
		<-half
		srv.Stop()
	}()
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("X-Cld-Error") == "" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("upload with S3 down: %d %q %s", resp.StatusCode, resp.Header.Get("X-Cld-Error"), b)
	}
	if r := fetch(t, "http://"+n.opsAddr+"/readyz"); r.status != 503 {
		t.Errorf("readyz with S3 down: %d", r.status)
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/w_10/fault/other.jpg"); r.status != 503 {
		t.Errorf("a delivery miss with S3 down: %d %q", r.status, r.header.Get("X-Cld-Error"))
	}

	srv.Restart()
	if r := fetch(t, "http://"+n.opsAddr+"/readyz"); r.status != 200 {
		t.Errorf("readyz after S3 is back: %d", r.status)
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/fault/big.png"); r.status != 404 {
		t.Errorf("the failed upload is visible: %d", r.status)
	}
	for _, prefix := range []string{"assets/", "originals/", "derived/"} {
		if keys := storedKeys(t, n, prefix); len(keys) != 0 {
			t.Errorf("left in the bucket under %s: %v", prefix, keys)
		}
	}
	// The same upload now succeeds.
	body, ct = signedForm(c, "fault/big", func(w io.Writer) error { _, err := w.Write(src); return err })
	resp, err = http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the upload after recovery: %d %q", resp.StatusCode, resp.Header.Get("X-Cld-Error"))
	}
	if r := fetch(t, "http://"+n.edgeAddr+"/testcloud/image/upload/fault/big.png"); !bytes.Equal(r.body, src) {
		t.Errorf("the recovered upload delivers %d bytes, not the file", len(r.body))
	}
}

// Two origin nodes on one bucket race on one public_id: every upload
// answers, and what remains is one whole version: metadata, original
// bytes and version agree, and no other original is left behind.
func TestS3TwoOriginsRace(t *testing.T) {
	if !s3Available() {
		t.Skip("no S3 test server built (make minio)")
	}
	srv := s3test.Start(t)
	setS3Env(t, srv)
	c, _ := cloud.ParseURL(testCloud)
	clouds := cloud.NewRegistry(c)
	var origins [2]*httptest.Server
	for i := range origins {
		oc := config.DefaultOrigin()
		oc.Store, oc.Data, oc.PeerSecret, oc.NodeID = srv.URL(), t.TempDir(), "peer-secret-0123456789", fmt.Sprint("origin-", i)
		oc.Clouds = []cloud.Cloud{c}
		oc.Limits.RenderConcurrency = 2
		ctx, cancel := context.WithCancel(context.Background())
		p, err := buildOrigin(ctx, oc, originDeps{clouds: clouds, bus: bus.NewLocal(), registerer: prometheus.NewRegistry(),
			log: slog.New(slog.NewTextHandler(io.Discard, nil)), deliveryURL: "http://edge"})
		if err != nil {
			t.Fatal(err)
		}
		p.start(ctx)
		origins[i] = httptest.NewServer(p.mux)
		t.Cleanup(func() { origins[i].Close(); cancel(); p.wait() })
	}
	const uploads = 12
	files := make([][]byte, uploads)
	sums := map[string]int{}
	for i := range files {
		files[i] = testimg.JPEG(testimg.Quadrants(200+i, 100))
		s := md5.Sum(files[i])
		sums[hex.EncodeToString(s[:])] = i
	}
	var wg sync.WaitGroup
	results := make(chan string, uploads)
	start := make(chan struct{})
	for i := 0; i < uploads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body, ct := signedForm(c, "race/one", func(w io.Writer) error { _, err := w.Write(files[i]); return err })
			resp, err := http.Post(origins[i%2].URL+"/v1_1/testcloud/image/upload", ct, body)
			if err != nil {
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			results <- fmt.Sprintf("%d %v", resp.StatusCode, m["error"])
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	ok := 0
	for r := range results {
		switch r {
		case "200 <nil>":
			ok++
		case "409 map[message:Concurrent uploads to race/one; retry]":
		default:
			t.Errorf("an upload answered %s", r)
		}
	}
	if ok == 0 {
		t.Fatal("no upload won")
	}
	st := srv.Store(t)
	// Give the losers' cleanup a moment: it runs after their answers.
	var originals []string
	waitFor(t, "one original left", func() bool {
		originals = nil
		objs, err := st.List(context.Background(), "originals/", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			originals = append(originals, o.Key)
		}
		return len(originals) == 1
	})
	var meta struct {
		ETag        string `json:"etag"`
		Width       int    `json:"width"`
		Bytes       int    `json:"bytes"`
		OriginalKey string `json:"original_key"`
		Version     int64  `json:"version"`
	}
	rc, _, err := st.Get(context.Background(), "assets/testcloud/image/upload/race/one%.json")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(rc).Decode(&meta)
	rc.Close()
	i, known := sums[meta.ETag]
	if !known || meta.OriginalKey != originals[0] || meta.Width != 200+i || meta.Bytes != len(files[i]) {
		t.Fatalf("metadata %+v does not describe one uploaded file (original %v)", meta, originals)
	}
	rc, _, err = st.Get(context.Background(), meta.OriginalKey)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(stored, files[i]) {
		t.Errorf("the original under %s is not file %d's bytes", meta.OriginalKey, i)
	}
}
