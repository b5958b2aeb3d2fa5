// Package s3store is a Store on an S3 bucket: AWS, or any server that
// speaks the S3 API (MinIO, versitygw, Ceph RGW, R2 ...).
//
// Writes are single PUTs, so S3 gives the atomicity the Store promises:
// an object appears whole or not at all. Conditional writes use S3's
// If-None-Match / If-Match on PutObject.
//
// Time limits. Every call runs under a deadline so that a hung server
// surfaces as store.ErrUnavailable instead of a hung request:
//   - metadata calls (Stat, Delete, each List page, Ping) and the wait for
//     Get's response headers get Config.OpTimeout, retries included;
//   - a Put gets OpTimeout plus its size at Config.MinRate, so a big body
//     on a slow link is not cut off but a stalled one is;
//   - a Get body has no total deadline, because the caller may stream it
//     slowly to its own client; instead any single Read that waits longer
//     than Config.ReadIdleTimeout for the server aborts the transfer.
//
// Retries are the SDK's standard retryer (Config.MaxAttempts attempts,
// jittered exponential backoff capped at 2 s, and its retry quota, which
// stops retrying when a large share of calls is failing). A conditional
// Put is retried only when the request cannot have reached the server
// (the connection was refused) or the server answered with an error:
// replaying one whose response was lost would report the writer's own
// success as a lost race. When a conditional Put gets no answer at all,
// the object the key then holds settles it (see settle): servers refuse
// a losing body early and reset the connection under the unread rest,
// which the client cannot tell from a lost response.
package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/refract-cdn/refract/origin/store"
)

// Defaults for the zero Config fields.
const (
	DefaultOpTimeout   = 30 * time.Second
	DefaultMinRate     = 1 << 20 // bytes/s: a Put may take OpTimeout + size/MinRate
	DefaultDialTimeout = 5 * time.Second
	DefaultMaxAttempts = 3
	DefaultRegion      = "us-east-1"
)

// memSpool is the largest non-seekable Put body kept in memory; bigger
// ones are spooled to a temporary file.
const memSpool = 512 << 10

// maxKeyLen is S3's limit on a whole key, prefix included.
const maxKeyLen = 1024

// HTTPClient is what the SDK sends requests through; *http.Client is one.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Config selects the bucket and overrides the standard AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
// AWS_ENDPOINT_URL_S3, shared config files), which is used for anything
// left empty.
type Config struct {
	Bucket string
	// Prefix puts every key under Prefix + "/" in the bucket; empty uses
	// the bucket's root. No leading or trailing slash.
	Prefix string

	// Endpoint is an S3-compatible server's base URL, such as
	// http://127.0.0.1:9000. With a custom endpoint (here or from the
	// environment) requests use path-style addressing.
	Endpoint  string
	Region    string // default from the environment, else us-east-1
	AccessKey string // with SecretKey, replaces the credential chain
	SecretKey string

	// HTTPClient replaces the default client (pooled keep-alive
	// connections, DialTimeout). The SDK cannot add AWS_CA_BUNDLE to it,
	// so New fails when that is set.
	HTTPClient      HTTPClient
	OpTimeout       time.Duration // see the package comment; default 30 s
	MinRate         int64         // bytes/s; default 1 MiB/s
	ReadIdleTimeout time.Duration // default OpTimeout
	DialTimeout     time.Duration // default 5 s, at most OpTimeout
	MaxAttempts     int           // default 3; 1 disables retries
	// TempDir holds spooled Put bodies; default os.TempDir().
	TempDir string
}

// Store is a store.Store on one bucket and prefix. It is safe for
// concurrent use.
type Store struct {
	client  *s3.Client
	bucket  string
	prefix  string // "" or ending in "/"
	region  string
	opTO    time.Duration
	idleTO  time.Duration
	minRate int64
	tempDir string
}

var _ store.Store = (*Store)(nil)

// New configures a Store. It does not contact the server; call Ping for a
// readiness check.
func New(ctx context.Context, c Config) (*Store, error) {
	if err := validBucket(c.Bucket); err != nil {
		return nil, err
	}
	if c.Prefix != "" && !store.ValidKey(c.Prefix) {
		return nil, fmt.Errorf("s3: invalid prefix %q: want segments separated by single slashes, no leading or trailing slash", c.Prefix)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: invalid endpoint %q: want http(s)://host[:port]", c.Endpoint)
		}
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.MinRate <= 0 {
		c.MinRate = DefaultMinRate
	}
	if c.ReadIdleTimeout <= 0 {
		c.ReadIdleTimeout = c.OpTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	c.DialTimeout = min(c.DialTimeout, c.OpTimeout)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}

	hc := c.HTTPClient
	if hc == nil {
		hc = awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.DialTimeout }).
			WithTransportOptions(func(t *http.Transport) {
				// The SDK's default of 10 idle connections per host
				// would make a busy node reconnect constantly.
				t.MaxIdleConnsPerHost = 64
			})
	}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxAttempts
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.AccessKey != "" || c.SecretKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		// BaseEndpoint now also reflects AWS_ENDPOINT_URL(_S3). Servers
		// other than AWS rarely have wildcard DNS for virtual hosts.
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		// Objects written without a checksum (by other tools, or
		// multipart) would log a warning on every Get.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := &Store{
		client:  client,
		bucket:  c.Bucket,
		region:  cfg.Region,
		opTO:    c.OpTimeout,
		idleTO:  c.ReadIdleTimeout,
		minRate: c.MinRate,
		tempDir: c.TempDir,
	}
	if c.Prefix != "" {
		s.prefix = c.Prefix + "/"
	}
	return s, nil
}

// Bucket is the bucket the store writes to.
func (s *Store) Bucket() string { return s.bucket }

// objKey maps a store key to the bucket's key.
func (s *Store) objKey(key string) (string, error) {
	if !store.ValidKey(key) || !utf8.ValidString(key) || len(s.prefix)+len(key) > maxKeyLen {
		return "", store.ErrInvalidKey
	}
	return s.prefix + key, nil
}

// errTimeout is the cancellation cause of the Store's own deadlines, told
// apart from the caller's.
var errTimeout = errors.New("s3: operation timed out")

func (s *Store) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errTimeout)
}

// Get opens key for reading. Close the body.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, store.Object, error) {
	k, err := s.objKey(key)
	if err != nil {
		return nil, store.Object{}, err
	}
	// One timer bounds first the wait for headers, then each body Read.
	opCtx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(s.opTO, func() { cancel(errTimeout) })
	out, err := s.client.GetObject(opCtx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if !timer.Stop() && err == nil {
		err = errTimeout
		out.Body.Close()
	}
	if err != nil {
		cancel(nil)
		if isNotFound(err) {
			return nil, store.Object{}, store.ErrNotFound
		}
		return nil, store.Object{}, classify("get", key, ctx, opCtx, err)
	}
	obj := store.Object{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(aws.ToString(out.ETag)),
		Modified: aws.ToTime(out.LastModified),
	}
	return &body{rc: out.Body, key: key, parent: ctx, ctx: opCtx, cancel: cancel, timer: timer, idle: s.idleTO}, obj, nil
}

// body enforces the read-idle limit on a Get body and releases the
// request's context on Close.
type body struct {
	rc     io.ReadCloser
	key    string
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
}

func (b *body) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF {
		err = classify("get", b.key, b.parent, b.ctx, err)
	}
	return n, err
}

func (b *body) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	k, err := s.objKey(key)
	if err != nil {
		return store.Object{}, err
	}
	opCtx, cancel := s.withTimeout(ctx, s.opTO)
	defer cancel()
	out, err := s.client.HeadObject(opCtx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		if isNotFound(err) {
			return store.Object{}, store.ErrNotFound
		}
		return store.Object{}, classify("stat", key, ctx, opCtx, err)
	}
	return store.Object{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(aws.ToString(out.ETag)),
		Modified: aws.ToTime(out.LastModified),
	}, nil
}

// Put writes key in one PUT. A seekable r (*os.File, *bytes.Reader) is
// sent as is from its current offset, so a retry can rewind it; any
// other reader is first read to the end, into memory if small, else into
// an unlinked temporary file, so that a failing reader never leaves a
// partial object and memory stays bounded.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts store.PutOptions) (store.Object, error) {
	k, err := s.objKey(key)
	if err != nil {
		return store.Object{}, err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &k}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	conditional := opts.IfNoneMatch || opts.IfMatch != ""
	if opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.IfMatch != "" {
		opts.IfMatch = unquote(opts.IfMatch)
		// No stored object has such an ETag, and it must not reach a
		// header.
		if !validETag(opts.IfMatch) {
			return store.Object{}, store.ErrPrecondition
		}
		in.IfMatch = aws.String(`"` + opts.IfMatch + `"`)
	}
	body, err := s.payload(ctx, r)
	if err != nil {
		return store.Object{}, err
	}
	defer body.done()
	in.Body, in.ContentLength = body.rs, aws.Int64(body.size)

	opCtx, cancel := s.withTimeout(ctx, s.opTO+time.Duration(float64(body.size)/float64(s.minRate)*float64(time.Second)))
	defer cancel()
	var optFns []func(*s3.Options)
	if conditional {
		optFns = append(optFns, func(o *s3.Options) { o.Retryer = condRetryer{o.Retryer} })
	}
	out, err := s.client.PutObject(opCtx, in, optFns...)
	if err != nil {
		if !conditional {
			return store.Object{}, classify("put", key, ctx, opCtx, err)
		}
		switch code, status := apiCode(err); {
		case status == http.StatusPreconditionFailed,
			code == "ConditionalRequestConflict", status == http.StatusConflict,
			// AWS answers If-Match on a missing key with 404.
			opts.IfMatch != "" && status == http.StatusNotFound && code != "NoSuchBucket":
			return store.Object{}, store.ErrPrecondition
		case status == 0 && ctx.Err() == nil && !isDial(err):
			// The request went out and no answer came back: a
			// server that refuses a body early (412 before reading
			// it) and resets the connection looks just like a lost
			// response. What the key holds now decides.
			if obj, decided, err := s.settle(ctx, key, body, opts); decided {
				return obj, err
			}
		}
		return store.Object{}, classify("put", key, ctx, opCtx, err)
	}
	// PutObject does not return Last-Modified; the response's Date is the
	// same clock, to the second.
	mod := time.Now()
	if raw, ok := awsmw.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			mod = t
		}
	}
	return store.Object{Key: key, Size: body.size, ETag: unquote(aws.ToString(out.ETag)), Modified: mod}, nil
}

// settle decides a conditional Put whose outcome is unknown from the
// object the key holds now: ours (by content; an identical body from
// another writer is as good) means it landed; for
// IfNoneMatch, any other object means the create lost; for IfMatch, the
// expected version still there means ours did not land (unknown, so the
// caller retries), and anything else means it lost. decided is false
// when it stays unknown.
func (s *Store) settle(ctx context.Context, key string, body payload, opts store.PutOptions) (obj store.Object, decided bool, err error) {
	k, _ := s.objKey(key)
	opCtx, cancel := s.withTimeout(ctx, s.opTO)
	defer cancel()
	head, err := s.client.HeadObject(opCtx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		if isNotFound(err) && opts.IfMatch != "" {
			return store.Object{}, true, store.ErrPrecondition
		}
		return store.Object{}, false, nil // missing (a create that did not land) or unreadable
	}
	cur := store.Object{
		Key: key, Size: aws.ToInt64(head.ContentLength),
		ETag: unquote(aws.ToString(head.ETag)), Modified: aws.ToTime(head.LastModified),
	}
	if opts.IfMatch != "" && cur.ETag == opts.IfMatch {
		return store.Object{}, false, nil
	}
	if cur.Size == body.size {
		md5hex, crc, err := body.sums()
		if err != nil {
			return store.Object{}, false, nil
		}
		// A single-part ETag is the MD5 except under SSE-KMS; the
		// CRC32 the SDK sent is kept by servers that support checksums.
		if cur.ETag == md5hex || aws.ToString(head.ChecksumCRC32) == crc {
			return cur, true, nil
		}
	}
	return store.Object{}, true, store.ErrPrecondition
}

// payload is a Put body that can be sent again.
type payload struct {
	rs    io.ReadSeeker
	start int64 // offset of the first byte to send
	size  int64
	done  func() // releases a spool
}

// sums returns the MD5 (hex) and CRC32 (base64, as S3 reports it) of the
// body. It is only called once the SDK has let go of the body.
func (p payload) sums() (md5hex, crc string, err error) {
	if _, err := p.rs.Seek(p.start, io.SeekStart); err != nil {
		return "", "", err
	}
	m, c := md5.New(), crc32.NewIEEE()
	if _, err := io.CopyN(io.MultiWriter(m, c), p.rs, p.size); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(m.Sum(nil)), base64.StdEncoding.EncodeToString(c.Sum(nil)), nil
}

// payload makes r sendable (and resendable), spooling it if it cannot
// seek.
func (s *Store) payload(ctx context.Context, r io.Reader) (payload, error) {
	noop := func() {}
	if rs, ok := r.(io.ReadSeeker); ok {
		if start, n, ok := remaining(rs); ok {
			return payload{rs, start, n, noop}, nil
		}
	}
	r = store.ContextReader(ctx, r)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, memSpool+1)); err != nil {
		return payload{}, err
	}
	if buf.Len() <= memSpool {
		return payload{bytes.NewReader(buf.Bytes()), 0, int64(buf.Len()), noop}, nil
	}
	f, err := os.CreateTemp(s.tempDir, "refract-s3-put-*")
	if err != nil {
		return payload{}, fmt.Errorf("s3: spooling a put: %w", err)
	}
	// Unlinked at once, so a crash leaves nothing behind.
	os.Remove(f.Name())
	n, err := io.Copy(f, io.MultiReader(&buf, r))
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return payload{}, err
	}
	return payload{f, 0, n, func() { f.Close() }}, nil
}

// remaining is rs's offset and length from there, or false if it cannot
// seek (a pipe is an *os.File too).
func remaining(rs io.ReadSeeker) (start, n int64, ok bool) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, 0, false
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, 0, false
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, 0, false
	}
	return cur, max(end-cur, 0), true
}

// Delete removes key; S3 answers a missing key with success.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.objKey(key)
	if err != nil {
		return err
	}
	opCtx, cancel := s.withTimeout(ctx, s.opTO)
	defer cancel()
	_, err = s.client.DeleteObject(opCtx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil && !isNotFound(err) {
		return classify("delete", key, ctx, opCtx, err)
	}
	return nil
}

// List returns up to limit objects (all if limit <= 0) under prefix whose
// keys sort after after, in byte order, as S3 lists them. Keys in the
// bucket that are not valid store keys (written by other tools) are
// skipped.
func (s *Store) List(ctx context.Context, prefix, after string, limit int) ([]store.Object, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if after != "" {
		in.StartAfter = aws.String(s.prefix + after)
	}
	var out []store.Object
	for {
		if limit > 0 {
			in.MaxKeys = aws.Int32(int32(min(limit-len(out), 1000)))
		}
		opCtx, cancel := s.withTimeout(ctx, s.opTO)
		page, err := s.client.ListObjectsV2(opCtx, in)
		if err != nil {
			err = classify("list", prefix, ctx, opCtx, err)
			cancel()
			return nil, err
		}
		cancel()
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || !store.ValidKey(key) {
				continue
			}
			out = append(out, store.Object{
				Key:      key,
				Size:     aws.ToInt64(o.Size),
				ETag:     unquote(aws.ToString(o.ETag)),
				Modified: aws.ToTime(o.LastModified),
			})
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return out, nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}

// Ping checks that the bucket is reachable with the configured
// credentials, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	opCtx, cancel := s.withTimeout(ctx, s.opTO)
	defer cancel()
	if _, err := s.client.HeadBucket(opCtx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		if _, status := apiCode(err); status == http.StatusNotFound {
			return fmt.Errorf("s3: bucket %q does not exist", s.bucket)
		}
		return classify("ping", s.bucket, ctx, opCtx, err)
	}
	return nil
}

// EnsureBucket creates the bucket if it does not exist, for development
// setups and tests; production buckets are provisioned outside Refract.
func (s *Store) EnsureBucket(ctx context.Context) error {
	opCtx, cancel := s.withTimeout(ctx, s.opTO)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	// us-east-1 is the one region that refuses a location constraint.
	if s.region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	_, err := s.client.CreateBucket(opCtx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	return classify("create bucket", s.bucket, ctx, opCtx, err)
}

// unquote strips the quotes S3 puts around ETags, so that ETags look the
// same from every call and compare equal to what localfs returns.
func unquote(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

// validETag accepts the characters RFC 9110 allows inside an entity tag.
func validETag(tag string) bool {
	if tag == "" {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= 0x20 || c == '"' || c == 0x7f {
			return false
		}
	}
	return true
}
