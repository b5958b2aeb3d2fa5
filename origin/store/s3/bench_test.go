package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/origin/store/s3/s3test"
)

// BenchmarkS3 measures the store against a local MinIO (or versitygw)
// with 50 KB objects, the size of a typical derivative, serially (c1) and
// from 8 goroutines (c8). The server runs on the same machine and shares
// its CPUs, so the figures are for comparing changes to this package, not
// a prediction for AWS.
//
//	go test -run '^$' -bench S3 ./origin/store/s3
func BenchmarkS3(b *testing.B) {
	srv := s3test.Start(b)
	st := srv.Store(b)
	ctx := context.Background()
	body := make([]byte, 50<<10)
	rand.Read(body)
	const nGet = 64
	for i := range nGet {
		if _, err := st.Put(ctx, fmt.Sprintf("bench/get/%d", i), bytes.NewReader(body), store.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	ops := map[string]func() error{
		"Put50KB": func() error {
			_, err := st.Put(ctx, fmt.Sprintf("bench/put/%d", seq.Add(1)), bytes.NewReader(body), store.PutOptions{})
			return err
		},
		// What a derivative write does: create only.
		"PutIfNoneMatch50KB": func() error {
			_, err := st.Put(ctx, fmt.Sprintf("bench/create/%d", seq.Add(1)), bytes.NewReader(body), store.PutOptions{IfNoneMatch: true})
			return err
		},
		"Get50KB": func() error {
			rc, _, err := st.Get(ctx, fmt.Sprintf("bench/get/%d", seq.Add(1)%nGet))
			if err != nil {
				return err
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			if err == nil && n != int64(len(body)) {
				err = fmt.Errorf("read %d bytes", n)
			}
			return err
		},
		"Stat": func() error {
			_, err := st.Stat(ctx, fmt.Sprintf("bench/get/%d", seq.Add(1)%nGet))
			return err
		},
	}
	for _, name := range []string{"Put50KB", "PutIfNoneMatch50KB", "Get50KB", "Stat"} {
		op := ops[name]
		setBytes := func(b *testing.B) {
			if name != "Stat" {
				b.SetBytes(int64(len(body)))
			}
		}
		b.Run(name+"/c1", func(b *testing.B) {
			setBytes(b)
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/c8", func(b *testing.B) {
			setBytes(b)
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
