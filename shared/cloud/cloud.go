// Package cloud holds the tenants Refract serves: each cloud has a name
// and an API key and secret, as in CLOUDINARY_URL.
package cloud

import (
	"crypto/subtle"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// Cloud is one tenant's credentials and settings.
type Cloud struct {
	Name      string `json:"cloud_name" yaml:"name"`
	APIKey    string `json:"api_key" yaml:"api_key"`
	APISecret string `json:"api_secret" yaml:"api_secret"`
	// StrictTransformations lets deliveries render only what was asked
	// for in advance: derivatives that exist (eager or explicit), named
	// transformations allowed for strict mode, and signed URLs.
	StrictTransformations bool `json:"strict_transformations,omitempty" yaml:"strict_transformations"`

	// Delivery settings, read by edges.

	// Hosts are private-CDN and CNAME host names that serve this cloud
	// without <cloud> in the path.
	Hosts []string `json:"hosts,omitempty" yaml:"hosts"`
	// TokenKey is the hex key of __cld_token__ tokens.
	TokenKey string `json:"token_key,omitempty" yaml:"token_key"`
	// AllowedReferrers, when set, are the only Referer hosts served
	// (*.example.com allowed).
	AllowedReferrers []string `json:"allowed_referrers,omitempty" yaml:"allowed_referrers"`
	// FetchDomains are the hosts fetch delivery may take images from.
	FetchDomains []string `json:"fetch_domains,omitempty" yaml:"fetch_domains"`
}

// URL is the CLOUDINARY_URL for c.
func (c Cloud) URL() string {
	return "cloudinary://" + c.APIKey + ":" + c.APISecret + "@" + c.Name
}

// CheckKey reports whether key and secret are c's, in constant time.
func (c Cloud) CheckKey(key, secret string) bool {
	k := subtle.ConstantTimeCompare([]byte(key), []byte(c.APIKey))
	s := subtle.ConstantTimeCompare([]byte(secret), []byte(c.APISecret))
	return k&s == 1
}

// ParseURL reads cloudinary://<api_key>:<api_secret>@<cloud>.
func ParseURL(s string) (Cloud, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "cloudinary" || u.User == nil {
		return Cloud{}, fmt.Errorf("cloud: %q is not cloudinary://<api_key>:<api_secret>@<cloud>", redact(s))
	}
	secret, _ := u.User.Password()
	c := Cloud{Name: u.Host, APIKey: u.User.Username(), APISecret: secret}
	if c.Name == "" || c.APIKey == "" || c.APISecret == "" {
		return Cloud{}, fmt.Errorf("cloud: %q lacks a cloud name, key or secret", redact(s))
	}
	return c, nil
}

// redact hides a secret in an error message.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return "(unparseable)"
}

// Registry maps cloud names, and private-CDN hosts, to clouds. It is
// safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	clouds map[string]Cloud
	hosts  map[string]string // lower-case host → cloud name
}

// NewRegistry returns a registry holding cs.
func NewRegistry(cs ...Cloud) *Registry {
	r := &Registry{clouds: map[string]Cloud{}, hosts: map[string]string{}}
	for _, c := range cs {
		r.clouds[c.Name] = c
		for _, h := range c.Hosts {
			r.hosts[strings.ToLower(h)] = c.Name
		}
	}
	return r
}

// LookupHost finds the cloud a private-CDN or CNAME host serves; host is
// the Host header without a port, compared case-insensitively.
func (r *Registry) LookupHost(host string) (Cloud, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.hosts[host]
	if !ok {
		name, ok = r.hosts[strings.ToLower(host)]
	}
	if !ok {
		return Cloud{}, false
	}
	c, ok := r.clouds[name]
	return c, ok
}

// Lookup finds a cloud by name.
func (r *Registry) Lookup(name string) (Cloud, bool) {
	r.mu.RLock()
	c, ok := r.clouds[name]
	r.mu.RUnlock()
	return c, ok
}

// FetchAllowed reports whether fetch delivery may take an image from
// rawURL: an http(s) URL whose host is listed in FetchDomains, or is a
// subdomain of a "*.example.com" entry. It returns the host it judged,
// for the error message.
func (c Cloud) FetchAllowed(rawURL string) (host string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	host = strings.ToLower(u.Hostname())
	for _, d := range c.FetchDomains {
		d = strings.ToLower(d)
		if host == d || (strings.HasPrefix(d, "*.") && strings.HasSuffix(host, d[1:])) {
			return host, true
		}
	}
	return host, false
}
