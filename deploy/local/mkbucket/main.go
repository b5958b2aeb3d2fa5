// Command mkbucket creates an S3 bucket unless it exists, for
// deploy/local/up: MinIO has no way to create one from its command line,
// and production buckets are provisioned outside Refract. It reads the
// standard AWS variables (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION), as refract origin does.
//
//	mkbucket s3://bucket[/prefix]
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	s3store "github.com/refract-cdn/refract/origin/store/s3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkbucket s3://bucket[/prefix]")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mkbucket:", err)
		os.Exit(1)
	}
}

func run(spec string) error {
	bucket, prefix, err := s3store.ParseURL(spec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3store.New(ctx, s3store.Config{Bucket: bucket, Prefix: prefix, OpTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if st.Ping(ctx) == nil {
		fmt.Printf("bucket %s exists\n", bucket)
		return nil
	}
	if err := st.EnsureBucket(ctx); err != nil {
		return err
	}
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("bucket %s created but not reachable: %w", bucket, err)
	}
	fmt.Printf("bucket %s created\n", bucket)
	return nil
}
