// Package config reads Refract's YAML configuration files. Values may
// name environment variables as ${NAME}, so secrets stay out of the file;
// plain $ is left alone, since transformations use $variables.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/refract-cdn/refract/shared/cloud"
)

// Origin is the configuration of `refract origin`.
type Origin struct {
	// Listen serves the Upload and Admin APIs and the derive endpoint.
	Listen string `yaml:"listen"`
	// OpsListen serves /metrics, /healthz and /readyz.
	OpsListen string `yaml:"ops_listen"`
	// Store is a local directory or s3://bucket[/prefix].
	Store string `yaml:"store"`
	// Data holds staged uploads; it must not be shared between nodes.
	Data string `yaml:"data"`
	// PublicURL is the base of delivery URLs in API responses.
	PublicURL       string `yaml:"public_url"`
	SecurePublicURL string `yaml:"secure_public_url"`
	// PeerSecret authenticates edges to origins; all nodes share it.
	PeerSecret string `yaml:"peer_secret"`
	// NodeID names this node in shared state (usage counters); default
	// the host name.
	NodeID          string        `yaml:"node_id"`
	Clouds          []cloud.Cloud `yaml:"clouds"`
	Transformations string        `yaml:"transformations"` // JSON file of named transformations
	Limits          Limits        `yaml:"limits"`
	Remote          Remote        `yaml:"remote"`
	Jobs            Jobs          `yaml:"jobs"`
	Admin           Admin         `yaml:"admin"`
	Bus             Bus           `yaml:"bus"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Bus carries purges from origins to edges. Without NATS URLs it is the
// in-process bus, which reaches only edges in the same process: a
// single node.
type Bus struct {
	NATS NATS `yaml:"nats"`
}

// NATS is the JetStream stream purges travel on. Every origin and edge
// of a fleet names the same stream.
type NATS struct {
	URLs    []string `yaml:"urls"`
	Stream  string   `yaml:"stream"`  // default REFRACT_PURGES
	Subject string   `yaml:"subject"` // default refract.purge
	// MaxAge is how long the stream keeps purges, which must outlive the
	// edges' longest cache lifetime: an edge away for longer drops its
	// unversioned entries when it comes back. Default 7 days.
	MaxAge    time.Duration `yaml:"max_age"`
	Replicas  int           `yaml:"replicas"`
	CredsFile string        `yaml:"creds_file"`
	Token     string        `yaml:"token"`
	User      string        `yaml:"user"`
	Password  string        `yaml:"password"`
}

// Enabled says whether NATS carries the purges.
func (n NATS) Enabled() bool { return len(n.URLs) > 0 }

// Limits bound what one origin accepts and does at once.
type Limits struct {
	MaxUploadBytes    int64 `yaml:"max_upload_bytes"`
	MaxUploadPixels   int   `yaml:"max_upload_pixels"`
	MaxOutputPixels   int   `yaml:"max_output_pixels"`
	RenderConcurrency int   `yaml:"render_concurrency"`
	RenderQueue       int   `yaml:"render_queue"`
	MaxUploads        int   `yaml:"max_uploads"`
}

// Remote governs fetching remote URLs (uploads of http(s) files,
// webhooks): private and loopback addresses are refused unless allowed.
type Remote struct {
	Allow        []string      `yaml:"allow"` // CIDR prefixes allowed despite being private
	MaxBytes     int64         `yaml:"max_bytes"`
	Timeout      time.Duration `yaml:"timeout"`
	MaxRedirects int           `yaml:"max_redirects"`
}

// Jobs governs eager_async renders and webhooks.
type Jobs struct {
	Workers     int `yaml:"workers"`
	MaxAttempts int `yaml:"max_attempts"`
}

// Admin governs the Admin API.
type Admin struct {
	RateLimitPerHour int `yaml:"rate_limit_per_hour"`
}

// DefaultOrigin is an origin on one machine's loopback with local storage.
func DefaultOrigin() Origin {
	return Origin{
		Listen:    "127.0.0.1:8081",
		OpsListen: "127.0.0.1:9091",
		Store:     "./var/store",
		Data:      "./var",
		Limits: Limits{
			MaxUploadBytes: 100 << 20, MaxUploadPixels: 100_000_000, MaxOutputPixels: 25_000_000,
			RenderQueue: 64, MaxUploads: 16,
		},
		Remote:          Remote{MaxBytes: 100 << 20, Timeout: 30 * time.Second, MaxRedirects: 5},
		Jobs:            Jobs{Workers: 4, MaxAttempts: 10},
		Admin:           Admin{RateLimitPerHour: 5000},
		ShutdownTimeout: 10 * time.Second,
	}
}

// Load reads a YAML file over defaults. Unknown keys are errors: a typo
// must not silently leave a default in place.
func Load(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b, err = expandEnv(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) { // an empty file keeps the defaults
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the variable's value; an unset one is
// an error, so a missing secret is never an empty string. Comment lines
// are left alone, so they can show the syntax.
func expandEnv(b []byte) ([]byte, error) {
	var missing []string
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, line := range lines {
		if bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("#")) {
			continue
		}
		lines[i] = envRef.ReplaceAllFunc(line, func(m []byte) []byte {
			name := string(envRef.FindSubmatch(m)[1])
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return []byte(v)
		})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variables not set: %v", missing)
	}
	return bytes.Join(lines, nil), nil
}

// validateClouds checks the tenants: named, with credentials, and one
// key per cloud so that a key never opens another tenant.
func validateClouds(clouds []cloud.Cloud) error {
	if len(clouds) == 0 {
		return fmt.Errorf("config: no clouds")
	}
	seen := map[string]bool{}
	keys := map[string]bool{}
	for _, c := range clouds {
		if c.Name == "" || c.APIKey == "" || c.APISecret == "" {
			return fmt.Errorf("config: cloud %q needs a name, api_key and api_secret", c.Name)
		}
		if strings.ContainsAny(c.Name, "/%") {
			return fmt.Errorf("config: cloud name %q may not contain / or %%", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("config: cloud %q is listed twice", c.Name)
		}
		if keys[c.APIKey] {
			return fmt.Errorf("config: cloud %q reuses another cloud's api_key", c.Name)
		}
		seen[c.Name], keys[c.APIKey] = true, true
	}
	return nil
}

// Validate checks an origin configuration.
func (o *Origin) Validate() error {
	if err := validateClouds(o.Clouds); err != nil {
		return err
	}
	if len(o.PeerSecret) < 16 {
		return fmt.Errorf("config: peer_secret must be at least 16 characters")
	}
	if o.Listen == "" || o.Store == "" || o.Data == "" {
		return fmt.Errorf("config: listen, store and data are required")
	}
	return nil
}
