package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/refract-cdn/refract/origin/store"
)

// classify wraps an SDK error for the caller: the caller's own
// cancellation stays a context error, and anything that says "the server
// is not there or not well" becomes store.ErrUnavailable.
func classify(op, key string, parent, opCtx context.Context, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("s3 %s %q: %w (%w)", op, key, context.Cause(parent), err)
	}
	if errors.Is(context.Cause(opCtx), errTimeout) {
		return fmt.Errorf("s3 %s %q: %w: timed out: %w", op, key, store.ErrUnavailable, err)
	}
	if transient(err) {
		return fmt.Errorf("s3 %s %q: %w: %w", op, key, store.ErrUnavailable, err)
	}
	return fmt.Errorf("s3 %s %q: %w", op, key, err)
}

// transient reports a failure that is the server's or the network's:
// no usable response, a 5xx or throttling.
func transient(err error) bool {
	if _, status := apiCode(err); status != 0 {
		return status >= 500 || status == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF)
}

// apiCode returns the S3 error code and HTTP status of err; status is 0
// when no response arrived.
func apiCode(err error) (code string, status int) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		status = re.Response.StatusCode
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return code, status
}

// isNotFound reports a missing key. A HEAD carries no error body, so a
// missing bucket looks the same there; Ping tells them apart.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	code, status := apiCode(err)
	return status == http.StatusNotFound && code != "NoSuchBucket"
}

// condRetryer retries a conditional Put only when the failed attempt
// cannot have been applied: the connection was never made, or the server
// answered. A lost response to a write that did land would otherwise be
// replayed, fail its precondition against itself, and be reported as a
// lost race.
type condRetryer struct{ aws.Retryer }

func (r condRetryer) IsErrorRetryable(err error) bool {
	if !r.Retryer.IsErrorRetryable(err) {
		return false
	}
	_, status := apiCode(err)
	return status != 0 || isDial(err)
}

// isDial reports a failure to connect: the request never left.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (r condRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.GetInitialToken(), nil
}
