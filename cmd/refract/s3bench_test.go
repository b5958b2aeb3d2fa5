package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/testimg"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Upload throughput to MinIO through the Upload API, against the anchor
// of putting the same bytes straight into the same bucket: the ratio is
// what the API (parse, stage, validate with libvips, metadata with a
// conditional write) costs over the storage itself.
//
//	go test -run '^$' -bench 'S3Upload|S3Lookup' -benchtime 60x ./cmd/refract
func BenchmarkS3Upload(b *testing.B) {
	if !s3Available() {
		b.Skip("no S3 test server built (make minio)")
	}
	srv := s3test.Start(b)
	setS3Env(b, srv)
	n := benchNode(b, srv)
	c, _ := cloud.ParseURL(testCloud)
	st := srv.Store(b)
	var seq atomic.Int64
	files := []struct {
		name string
		body []byte
	}{{"43KB", sampleJPEG}, {"2MB", noisyJPEG(2000, 1500)}}
	for _, f := range files {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/api/c%d", f.name, conc), func(b *testing.B) {
				b.SetBytes(int64(len(f.body)))
				parallel(b, conc, func() error {
					body, ct := signedForm(c, fmt.Sprintf("bench/%d", seq.Add(1)), func(w io.Writer) error { _, err := w.Write(f.body); return err })
					resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", ct, body)
					if err != nil {
						return err
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						return fmt.Errorf("upload: %d %s", resp.StatusCode, resp.Header.Get("X-Cld-Error"))
					}
					return nil
				})
			})
			b.Run(fmt.Sprintf("%s/rawput/c%d", f.name, conc), func(b *testing.B) {
				b.SetBytes(int64(len(f.body)))
				parallel(b, conc, func() error {
					_, err := st.Put(context.Background(), fmt.Sprintf("raw/%d", seq.Add(1)), bytes.NewReader(f.body), store.PutOptions{IfNoneMatch: true})
					return err
				})
			})
		}
	}
}

// noisyJPEG is a photo-sized JPEG that compresses like a photo does not:
// about 2 MB at 2000x1500.
func noisyJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	return testimg.JPEG(img)
}

// The cost of finding a stored derivative in S3 (metadata, then the
// derivative's bytes), against the anchor of one GET of those bytes.
func BenchmarkS3Lookup(b *testing.B) {
	if !s3Available() {
		b.Skip("no S3 test server built (make minio)")
	}
	srv := s3test.Start(b)
	setS3Env(b, srv)
	n := benchNode(b, srv)
	ctx := context.Background()
	c, _ := cloud.ParseURL(testCloud)
	body, ct := signedForm(c, "lookup", func(w io.Writer) error {
		_, err := w.Write(testimg.JPEG(testimg.Quadrants(1600, 1200)))
		return err
	})
	resp, err := http.Post("http://"+n.apiAddr+"/v1_1/testcloud/image/upload", ct, body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("upload: %v", err)
	}
	resp.Body.Close()
	spec := derivative.Spec{Cloud: "testcloud", ResourceType: urlapi.Image, Type: urlapi.Upload, PublicID: "lookup", Tx: "c_scale,w_300", Format: format.JPEG}
	if _, err := n.origin.derive.Derive(ctx, spec); err != nil { // renders and stores it
		b.Fatal(err)
	}
	a, _, _ := n.origin.assets.Get(ctx, "testcloud", "image", "upload", "lookup")
	keys, err := n.origin.store.List(ctx, asset.DerivedPrefix("testcloud", a.VersionID), "", 10)
	if err != nil || len(keys) != 1 {
		b.Fatalf("derived keys %v %v", keys, err)
	}
	b.Run("derive-hit", func(b *testing.B) {
		parallel(b, 1, func() error {
			_, err := n.origin.derive.Derive(ctx, spec)
			return err
		})
	})
	b.Run("rawget", func(b *testing.B) {
		parallel(b, 1, func() error {
			_, _, err := store.ReadAll(ctx, n.origin.store, keys[0].Key, 1<<20)
			return err
		})
	})
}

// parallel runs fn b.N times on conc goroutines.
func parallel(b *testing.B, conc int, fn func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

func benchNode(b *testing.B, srv *s3test.Server) *devNode {
	cfg := defaultDevConfig()
	cfg.Data = b.TempDir()
	cfg.EdgeAddr, cfg.APIAddr, cfg.OpsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.CloudinaryURL, cfg.Store = testCloud, srv.URL()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := startDev(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.shutdown() })
	return n
}
