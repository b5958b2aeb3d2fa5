package config

import (
	"fmt"
	"net"
	"time"

	"github.com/refract-cdn/refract/shared/cloud"
)

// Edge is the configuration of `refract edge`: one PoP in front of the
// origins.
type Edge struct {
	// Listen serves deliveries; OpsListen /metrics, /healthz, /readyz.
	Listen    string `yaml:"listen"`
	OpsListen string `yaml:"ops_listen"`
	// Origins are the origins' API listeners (host:port); each
	// derivative goes to one of them by rendezvous hashing.
	Origins    []string      `yaml:"origins"`
	PeerSecret string        `yaml:"peer_secret"`
	Clouds     []cloud.Cloud `yaml:"clouds"`
	Cache      EdgeCache     `yaml:"cache"`
	Origin     EdgeOrigin    `yaml:"origin"`
	RateLimit  RateLimit     `yaml:"rate_limit"`
	HTTP       EdgeHTTP      `yaml:"http"`
	Log        AccessLog     `yaml:"access_log"`
	Bus        Bus           `yaml:"bus"`
	// StateDir keeps what must survive a restart beyond the disk tier:
	// the last purge applied. "" keeps it in memory, so a restarted edge
	// replays the whole stream (or drops its unversioned entries).
	StateDir        string        `yaml:"state_dir"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// EdgeCache sizes the tiers and says how long answers live.
type EdgeCache struct {
	RAMBytes  int64  `yaml:"ram_bytes"`
	DiskDir   string `yaml:"disk_dir"` // "" turns the disk tier off
	DiskBytes int64  `yaml:"disk_bytes"`
	// MaxAge is the lifetime of URLs without the asset's version.
	MaxAge time.Duration `yaml:"max_age"`
	// ImmutableTTL is how long a versioned URL stays in RAM and on disk.
	ImmutableTTL time.Duration `yaml:"immutable_ttl"`
	// NegativeTTL is how long a 404 is remembered.
	NegativeTTL          time.Duration `yaml:"negative_ttl"`
	StaleWhileRevalidate time.Duration `yaml:"stale_while_revalidate"`
	StaleIfError         time.Duration `yaml:"stale_if_error"`
}

// EdgeOrigin governs requests to the origins.
type EdgeOrigin struct {
	Timeout        time.Duration `yaml:"timeout"`
	HealthInterval time.Duration `yaml:"health_interval"`
	EjectAfter     int           `yaml:"eject_after"` // consecutive failures
	EjectFor       time.Duration `yaml:"eject_for"`
	MaxConns       int           `yaml:"max_conns"` // per origin
}

// RateLimit is a token bucket per client IP; Rate 0 turns it off.
type RateLimit struct {
	Rate       float64 `yaml:"rate"` // requests per second
	Burst      int     `yaml:"burst"`
	MaxClients int     `yaml:"max_clients"`
}

// EdgeHTTP hardens the listener against slow and oversized requests.
type EdgeHTTP struct {
	MaxHeaderBytes int           `yaml:"max_header_bytes"`
	MaxURLBytes    int           `yaml:"max_url_bytes"`
	ReadTimeout    time.Duration `yaml:"read_timeout"`
	WriteTimeout   time.Duration `yaml:"write_timeout"`
	IdleTimeout    time.Duration `yaml:"idle_timeout"`
	MaxConns       int           `yaml:"max_conns"`
}

// AccessLog samples structured access logs; Sample 0 logs none, 1 all.
type AccessLog struct {
	Sample float64 `yaml:"sample"`
	// Errors logs every 4xx and 5xx whatever the sample.
	Errors bool `yaml:"errors"`
}

// DefaultEdge is an edge on loopback in front of one local origin.
func DefaultEdge() Edge {
	return Edge{
		Listen:    "127.0.0.1:8080",
		OpsListen: "127.0.0.1:9090",
		Origins:   []string{"127.0.0.1:8081"},
		Cache: EdgeCache{
			RAMBytes: 256 << 20, DiskBytes: 10 << 30,
			MaxAge: time.Hour, ImmutableTTL: 24 * time.Hour, NegativeTTL: 10 * time.Second,
			StaleWhileRevalidate: time.Minute, StaleIfError: 24 * time.Hour,
		},
		Origin: EdgeOrigin{
			Timeout: 60 * time.Second, HealthInterval: 2 * time.Second,
			EjectAfter: 3, EjectFor: 10 * time.Second, MaxConns: 256,
		},
		RateLimit: RateLimit{Rate: 0, Burst: 200, MaxClients: 100_000},
		HTTP: EdgeHTTP{
			MaxHeaderBytes: 8 << 10, MaxURLBytes: 4 << 10,
			ReadTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second,
			MaxConns: 100_000,
		},
		Log:             AccessLog{Sample: 0.01, Errors: true},
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate checks an edge configuration.
func (e *Edge) Validate() error {
	if err := validateClouds(e.Clouds); err != nil {
		return err
	}
	if len(e.PeerSecret) < 16 {
		return fmt.Errorf("config: peer_secret must be at least 16 characters")
	}
	if len(e.Origins) == 0 {
		return fmt.Errorf("config: no origins")
	}
	seen := map[string]bool{}
	for _, o := range e.Origins {
		if _, _, err := net.SplitHostPort(o); err != nil {
			return fmt.Errorf("config: origin %q is not host:port", o)
		}
		if seen[o] {
			return fmt.Errorf("config: origin %q is listed twice", o)
		}
		seen[o] = true
	}
	hosts := map[string]string{}
	for _, c := range e.Clouds {
		for _, h := range c.Hosts {
			if other, dup := hosts[h]; dup {
				return fmt.Errorf("config: host %q is mapped to clouds %q and %q", h, other, c.Name)
			}
			hosts[h] = c.Name
		}
	}
	switch {
	case e.Cache.RAMBytes <= 0:
		return fmt.Errorf("config: cache.ram_bytes must be positive")
	case e.Cache.DiskDir != "" && e.Cache.DiskBytes <= 0:
		return fmt.Errorf("config: cache.disk_bytes must be positive with a disk_dir")
	case e.RateLimit.Rate < 0 || (e.RateLimit.Rate > 0 && e.RateLimit.Burst < 1):
		return fmt.Errorf("config: rate_limit needs a positive rate and burst")
	case e.Log.Sample < 0 || e.Log.Sample > 1:
		return fmt.Errorf("config: access_log.sample is a fraction from 0 to 1")
	}
	return nil
}
