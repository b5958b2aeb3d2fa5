// Package webhook delivers Cloudinary-style notifications (the Upload
// API's notification_url and eager_notification_url) as jobs, signed the
// way Cloudinary signs them so existing receivers verify them unchanged.
package webhook

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refract-cdn/refract/origin/jobs"
	"github.com/refract-cdn/refract/shared/sign"
)

// KindNotify is the job kind of a notification.
const KindNotify = "webhook"

// Headers of a notification request.
const (
	HeaderTimestamp = "X-Cld-Timestamp"
	HeaderSignature = "X-Cld-Signature"
)

const (
	defaultTimeout = 10 * time.Second
	// maxDrain is how much of a response is read: the status is all that
	// counts, and reading a little lets the connection be reused.
	maxDrain = 4 << 10
)

// Sign returns the X-Cld-Signature of body sent at timestamp (unix
// seconds): hex SHA-1 of body + timestamp + secret.
func Sign(body []byte, timestamp int64, secret string) string {
	return sign.Notification(body, strconv.FormatInt(timestamp, 10), secret)
}

// Verify reports whether signature is body's at timestamp, in constant
// time. It does not judge the timestamp's age; a receiver should also
// refuse old ones, as Cloudinary's SDKs do, against replays.
func Verify(body []byte, timestamp int64, signature, secret string) bool {
	want := Sign(body, timestamp, secret)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(signature))) == 1
}

// StatusError is a response outside 2xx. It is worth retrying: receivers
// come back from 5xx and from deploys that answer 404 for a while.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("webhook: receiver answered %d", e.Code) }

// Sender posts signed notifications.
type Sender struct {
	// Client makes the requests. It is required, so that the caller's
	// guard against internal addresses (SSRF) cannot be left out by
	// accident.
	Client  *http.Client
	Now     func() time.Time // default time.Now
	Timeout time.Duration    // per attempt; default 10s
}

// Send POSTs body to rawURL, signed with secret. A 2xx answer is success;
// any other answer or a network error is an error to retry. An unusable
// URL or a Sender without a Client fails permanently (jobs.ErrPermanent).
func (s *Sender) Send(ctx context.Context, rawURL string, body []byte, secret string) error {
	if s == nil || s.Client == nil {
		return jobs.Permanent(errors.New("webhook: sender has no http client"))
	}
	if err := CheckURL(rawURL); err != nil {
		return jobs.Permanent(err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return jobs.Permanent(fmt.Errorf("webhook: %w", err))
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Refract-Webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(body, ts, secret))
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode}
	}
	return nil
}

// CheckURL accepts an absolute http or https URL with a host. Whether the
// host may be reached is the Client's business.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("webhook: invalid notification url %q", rawURL)
	}
	return nil
}

// Notification is the payload of a KindNotify job. Body is sent as it
// comes back out of the job: the same JSON, but compacted and with <, >
// and & escaped, since encoding/json rewrites it on the way in. The
// signature covers the bytes actually sent.
type Notification struct {
	URL   string          `json:"url"`
	Cloud string          `json:"cloud"` // whose api_secret signs it
	Body  json.RawMessage `json:"body"`
}

// Notify checks n and enqueues it, so a bad URL or body is refused while
// the caller can still tell the client.
func Notify(ctx context.Context, q *jobs.Queue, n Notification) error {
	if err := CheckURL(n.URL); err != nil {
		return err
	}
	if !json.Valid(n.Body) {
		return errors.New("webhook: body is not JSON")
	}
	return q.Enqueue(ctx, KindNotify, n)
}

// Register makes q deliver notifications with s. secret gives a cloud's
// api_secret, looked up at each attempt since clouds can be reconfigured
// meanwhile; a cloud it does not know fails the job permanently.
func Register(q *jobs.Queue, s *Sender, secret func(cloud string) (string, bool)) {
	if secret == nil {
		secret = func(string) (string, bool) { return "", false }
	}
	q.Handle(KindNotify, func(ctx context.Context, j jobs.Job) error {
		var n Notification
		if err := json.Unmarshal(j.Payload, &n); err != nil {
			return jobs.Permanent(fmt.Errorf("webhook: payload: %w", err))
		}
		key, ok := secret(n.Cloud)
		if !ok {
			return jobs.Permanent(fmt.Errorf("webhook: unknown cloud %q", n.Cloud))
		}
		return s.Send(ctx, n.URL, n.Body, key)
	})
}
