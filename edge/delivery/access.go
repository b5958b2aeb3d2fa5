package delivery

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refract-cdn/refract/edge/ratelimit"
	"github.com/refract-cdn/refract/edge/referrer"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/token"
)

// Access is what the edge enforces besides URL signatures: per-cloud
// token keys and referrer allow-lists, and a per-client-IP rate limit.
// It is built once from the clouds' settings.
type Access struct {
	tokens    map[string]*token.Verifier
	referrers map[string]*referrer.List
	limit     *ratelimit.Limiter
	now       func() time.Time
}

// NewAccess builds the rules for clouds; rate 0 turns rate limiting off.
func NewAccess(clouds []cloud.Cloud, rate float64, burst, maxClients int) (*Access, error) {
	a := &Access{tokens: map[string]*token.Verifier{}, referrers: map[string]*referrer.List{}, now: time.Now}
	for _, c := range clouds {
		if c.TokenKey != "" {
			key, err := hex.DecodeString(c.TokenKey)
			if err != nil || len(key) == 0 {
				return nil, fmt.Errorf("cloud %s: token_key is not hex", c.Name)
			}
			a.tokens[c.Name] = token.NewVerifier(key)
		}
		l, err := referrer.New(c.AllowedReferrers, referrer.Options{})
		if err != nil {
			return nil, fmt.Errorf("cloud %s: allowed_referrers: %w", c.Name, err)
		}
		if l != nil {
			a.referrers[c.Name] = l
		}
	}
	if rate > 0 {
		l, err := ratelimit.New(rate, burst, ratelimit.Options{MaxClients: maxClients})
		if err != nil {
			return nil, err
		}
		a.limit = l
	}
	return a, nil
}

var (
	errReferrer = clderr.Unauthorized("Referrer not allowed")
	errToken    = clderr.Unauthorized("Invalid or expired token")
	errNoToken  = clderr.Unauthorized("Signature or token required for this resource")
)

// errRateLimited carries the wait in whole seconds for Retry-After. One
// value per wait is made up front, so refusing a flood allocates nothing.
type errRateLimited struct {
	retryAfter string
}

func (e *errRateLimited) Error() string { return errTooMany.Msg }
func (e *errRateLimited) Unwrap() error { return errTooMany }

var (
	errTooMany  = clderr.New(fasthttp.StatusTooManyRequests, "Too many requests")
	rateLimited = func() (out [61]*errRateLimited) {
		for i := range out {
			out[i] = &errRateLimited{retryAfter: strconv.Itoa(max(1, i))}
		}
		return out
	}()
)

// allowClient applies the rate limit to the connection's address. It
// runs before anything is parsed, so a flood costs one table probe per
// request.
func (a *Access) allowClient(ctx *fasthttp.RequestCtx) error {
	if a == nil || a.limit == nil {
		return nil
	}
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	ok, wait := a.limit.Allow(ip.Unmap())
	if ok {
		return nil
	}
	return rateLimited[min(len(rateLimited)-1, int((wait+time.Second-1)/time.Second))]
}

// allowReferrer applies the cloud's referrer allow-list, if any.
func (a *Access) allowReferrer(ctx *fasthttp.RequestCtx, cloudName string) error {
	if a == nil || len(a.referrers) == 0 {
		return nil
	}
	if l := a.referrers[cloudName]; l != nil && !l.Allowed(ctx.Request.Header.Referer()) {
		return errReferrer
	}
	return nil
}

// allowToken accepts an authenticated delivery without a signature when
// it carries a valid __cld_token__ for the path as sent.
func (a *Access) allowToken(ctx *fasthttp.RequestCtx, cloudName string) error {
	var v *token.Verifier
	if a != nil {
		v = a.tokens[cloudName]
	}
	if v == nil {
		return errUnsigned // the cloud takes no tokens
	}
	tok, ok := token.FromQuery(b2s(ctx.URI().QueryString()))
	if !ok {
		return errNoToken
	}
	// The SDKs sign the decoded path.
	if err := v.Verify(tok, b2s(ctx.Path()), ctx.RemoteIP().String(), a.now()); err != nil {
		return errToken
	}
	return nil
}

// retryAfter is the Retry-After value of a rate-limited answer.
func retryAfter(err error) (string, bool) {
	if rl, ok := err.(*errRateLimited); ok {
		return rl.retryAfter, true
	}
	return "", false
}
