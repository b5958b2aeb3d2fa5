package deploy

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/refract-cdn/refract/shared/config"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// envRefs lists the ${NAME} references outside comment lines, as
// shared/config expands them.
func envRefs(text string) []string {
	var names []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			continue
		}
		for _, m := range envRef.FindAllStringSubmatch(line, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				names = append(names, m[1])
			}
		}
	}
	return names
}

// loadConfig reads a refract configuration as refract does (config.Load
// over the defaults: ${NAME} expanded, unknown keys refused) and returns
// it with the file's raw top-level map. Every ${NAME} is set to a
// placeholder long enough for the peer secret's minimum.
func loadConfig[T any](t *testing.T, name, text string, defaults func() T) (T, map[string]any) {
	t.Helper()
	for _, v := range envRefs(text) {
		t.Setenv(v, "placeholder-"+strings.ToLower(v)+"-0123456789")
	}
	cfg, raw, err := decodeConfig(t.TempDir(), text, defaults)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cfg, raw
}

// decodeConfig loads text with config.Load from a file in dir, and
// returns the file's raw top-level map too.
func decodeConfig[T any](dir, text string, defaults func() T) (T, map[string]any, error) {
	var raw map[string]any
	cfg := defaults()
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		return cfg, nil, err
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return cfg, nil, err
	}
	if err := config.Load(path, &cfg); err != nil {
		return cfg, nil, err
	}
	return cfg, raw, nil
}

// loadEdge loads and validates an edge configuration, and checks its bus
// section against its cache TTLs.
func loadEdge(t *testing.T, name, text string) (config.Edge, map[string]any) {
	t.Helper()
	ec, raw := loadConfig(t, name, text, config.DefaultEdge)
	if err := ec.Validate(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	checkBus(t, name, raw, true, max(ec.Cache.MaxAge, ec.Cache.ImmutableTTL)+ec.Cache.StaleIfError)
	return ec, raw
}

// loadOrigin loads and validates an origin configuration.
func loadOrigin(t *testing.T, name, text string) (config.Origin, map[string]any) {
	t.Helper()
	oc, raw := loadConfig(t, name, text, config.DefaultOrigin)
	if err := oc.Validate(); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	checkBus(t, name, raw, false, 0)
	return oc, raw
}

// checkBus checks the bus section every multi-node config carries:
// bus.nats with urls, stream and max_age and nothing else, a max_age
// covering minAge (the longest an edge may hold an entry), and on an
// edge an absolute state_dir.
func checkBus(t *testing.T, name string, raw map[string]any, edge bool, minAge time.Duration) {
	t.Helper()
	bus, ok := raw["bus"].(map[string]any)
	if !ok {
		t.Errorf("%s: no bus section: a fleet needs the NATS purge bus", name)
		return
	}
	if len(bus) != 1 {
		t.Errorf("%s: bus has keys %v, want only nats", name, bus)
	}
	nats, ok := bus["nats"].(map[string]any)
	if !ok {
		t.Errorf("%s: bus.nats is missing or not a map", name)
		return
	}
	for k := range nats {
		if !slices.Contains([]string{"urls", "stream", "subject", "max_age", "replicas", "creds_file", "token", "user", "password"}, k) {
			t.Errorf("%s: unknown key bus.nats.%s", name, k)
		}
	}
	urls, _ := nats["urls"].([]any)
	if len(urls) == 0 {
		t.Errorf("%s: bus.nats.urls is empty", name)
	}
	for _, u := range urls {
		s, _ := u.(string)
		hostport, ok := strings.CutPrefix(s, "nats://")
		if _, _, err := net.SplitHostPort(hostport); !ok || err != nil {
			t.Errorf("%s: bus.nats.urls: %q is not nats://host:port", name, u)
		}
	}
	if s := nats["stream"]; s != "REFRACT_PURGES" {
		t.Errorf("%s: bus.nats.stream = %v, want REFRACT_PURGES", name, s)
	}
	ageStr, _ := nats["max_age"].(string)
	age, err := time.ParseDuration(ageStr)
	if err != nil || age <= 0 {
		t.Errorf("%s: bus.nats.max_age %q is not a positive duration", name, ageStr)
	} else if age < minAge {
		t.Errorf("%s: bus.nats.max_age %v is shorter than the longest an entry is kept (%v): an edge back from that long away loses purges", name, age, minAge)
	}
	sd, hasSD := raw["state_dir"].(string)
	switch {
	case edge && (!hasSD || !filepath.IsAbs(sd)):
		t.Errorf("%s: state_dir %q: an edge needs an absolute state_dir", name, sd)
	case !edge && raw["state_dir"] != nil:
		t.Errorf("%s: state_dir is an edge key", name)
	}
}

// sameStream checks that configs of one fleet describe the stream the
// same way: every node creates or updates it with its own settings.
func sameStream(t *testing.T, what string, raws ...map[string]any) {
	t.Helper()
	want := get(raws[0], "bus", "nats")
	for _, r := range raws[1:] {
		if got := get(r, "bus", "nats"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the nodes disagree on bus.nats: %v and %v", what, want, got)
		}
	}
}

// port is the port of a host:port listen address.
func port(t *testing.T, name, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q: %v", name, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: %q: %v", name, addr, err)
	}
	return n
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The configs of the repository itself are the reference the deploy
// configs follow; a key they gained or lost shows here first.
func TestRepoConfigsLoad(t *testing.T) {
	loadConfig(t, "configs/edge.yaml", readFile(t, "../configs/edge.yaml"), config.DefaultEdge)
	loadConfig(t, "configs/origin.yaml", readFile(t, "../configs/origin.yaml"), config.DefaultOrigin)
}

// A misspelt key must fail, in the bus section too, or loading would
// prove nothing.
func TestDecodeConfigRefusesUnknownKeys(t *testing.T) {
	for _, text := range []string{
		"listen: 127.0.0.1:1\nlisten_ops: x\n",
		"bus: {nats: {urlz: [nats://127.0.0.1:4222]}}\n",
		"cache: {ram_bytes: 1, ttl: 1h}\nbus: {nats: {urls: [nats://127.0.0.1:4222]}}\n",
	} {
		if _, _, err := decodeConfig(t.TempDir(), text, config.DefaultEdge); err == nil {
			t.Errorf("loaded despite an unknown key:\n%s", text)
		}
	}
	text := "listen: 127.0.0.1:1\nbus: {nats: {urls: [nats://127.0.0.1:4222], stream: S, max_age: 48h}}\nstate_dir: /x\n"
	ec, _, err := decodeConfig(t.TempDir(), text, config.DefaultEdge)
	if err != nil || ec.StateDir != "/x" || ec.Bus.NATS.MaxAge != 48*time.Hour {
		t.Errorf("the bus keys: %+v, %v", ec.Bus, err)
	}
}
