package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleOriginConfig(t *testing.T) {
	t.Setenv("REFRACT_PEER_SECRET", "0123456789abcdef0123")
	t.Setenv("DEMO_API_KEY", "123")
	t.Setenv("DEMO_API_SECRET", "s3cr$t")
	o := DefaultOrigin()
	if err := Load("../../configs/origin.yaml", &o); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Store != "s3://refract/prod" || o.Clouds[0].APISecret != "s3cr$t" || o.Remote.Timeout != 30*time.Second || o.Jobs.Workers != 4 {
		t.Errorf("loaded %+v", o)
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":   "listen: a\nlisten_addr: b\n",
		"unset env var": "peer_secret: ${REFRACT_TEST_SURELY_UNSET}\n",
		"bad type":      "limits: {max_uploads: many}\n",
	} {
		o := DefaultOrigin()
		if err := Load(write(t, body), &o); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	// $variables in transformations are not environment references.
	o := DefaultOrigin()
	if err := Load(write(t, "transformations: $w_100\n"), &o); err != nil || o.Transformations != "$w_100" {
		t.Errorf("a plain $: %q %v", o.Transformations, err)
	}
}

func TestValidate(t *testing.T) {
	base := func() Origin {
		o := DefaultOrigin()
		o.PeerSecret = strings.Repeat("x", 16)
		return o
	}
	for name, body := range map[string]string{
		"no clouds":      "",
		"shared api_key": "clouds: [{name: a, api_key: k, api_secret: s}, {name: b, api_key: k, api_secret: t}]",
		"twice":          "clouds: [{name: a, api_key: k, api_secret: s}, {name: a, api_key: j, api_secret: t}]",
		"no secret":      "clouds: [{name: a, api_key: k}]",
	} {
		o := base()
		if err := Load(write(t, body+"\n"), &o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := o.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	o := base()
	if err := Load(write(t, "clouds: [{name: a, api_key: k, api_secret: s}]\n"), &o); err != nil || o.Validate() != nil {
		t.Errorf("a good config: %v %v", err, o.Validate())
	}
	o.PeerSecret = "short"
	if o.Validate() == nil {
		t.Error("a short peer secret is valid")
	}
}

func TestExampleEdgeConfig(t *testing.T) {
	t.Setenv("REFRACT_PEER_SECRET", "0123456789abcdef0123")
	t.Setenv("DEMO_API_KEY", "123")
	t.Setenv("DEMO_API_SECRET", "s")
	e := DefaultEdge()
	if err := Load("../../configs/edge.yaml", &e); err != nil {
		t.Fatal(err)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(e.Origins) != 2 || e.Cache.StaleIfError != 24*time.Hour || e.Clouds[0].Hosts[0] != "img.example.com" || e.HTTP.ReadTimeout != 10*time.Second {
		t.Errorf("loaded %+v", e)
	}
	bad := e
	bad.Origins = []string{"no-port"}
	if bad.Validate() == nil {
		t.Error("an origin without a port is valid")
	}
	bad = e
	bad.Clouds = append(bad.Clouds, bad.Clouds[0])
	bad.Clouds[1].Name, bad.Clouds[1].APIKey = "other", "456"
	if bad.Validate() == nil {
		t.Error("one host mapped to two clouds is valid")
	}
}
