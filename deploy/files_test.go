package deploy

import (
	"bufio"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// compose.yaml: the refract services load their mounted configs, and
// ports, health checks, volumes and secrets agree with those configs.
func TestCompose(t *testing.T) {
	c := decodeAll(t, "compose/compose.yaml")[0]
	services, _ := get(c, "services").(map[string]any)
	for _, want := range []string{"nats", "minio", "bucket", "origin-1", "origin-2", "edge-1", "edge-2", "edge-3"} {
		if services[want] == nil {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	volumes, _ := get(c, "volumes").(map[string]any)
	env := map[string]bool{}
	for _, line := range strings.Split(readFile(t, "compose/env.example"), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = true
		}
	}
	var image string
	var raws []map[string]any
	for name, s := range services {
		id := "compose.yaml: " + name
		for _, d := range mapKeys(get(s, "depends_on")) {
			if services[d] == nil {
				t.Errorf("%s depends on %s, which is no service", id, d)
			}
		}
		mounts := map[string]string{} // container path -> source
		for _, v := range list(s, "volumes") {
			spec, _ := v.(string)
			parts := strings.Split(spec, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q", id, spec)
				continue
			}
			src := parts[0]
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("%s: bind mount %s: %v", id, src, err)
				}
			} else if _, ok := volumes[src]; !ok {
				t.Errorf("%s: volume %s is not declared", id, src)
			}
			mounts[parts[1]] = src
		}
		cmd := list(s, "command")
		if len(cmd) == 0 || (cmd[0] != "edge" && cmd[0] != "origin") {
			continue
		}
		if img := str(s, "image"); image == "" {
			image = img
		} else if img != image {
			t.Errorf("%s: image %s, the others %s", id, img, image)
		}
		if str(s, "build", "dockerfile") != "deploy/Dockerfile" {
			t.Errorf("%s: not built from deploy/Dockerfile", id)
		}
		i := slices.Index(cmd, any("--config"))
		if i < 0 || i+1 >= len(cmd) {
			t.Fatalf("%s: no --config", id)
		}
		cfgPath, _ := cmd[i+1].(string)
		src, ok := mounts[cfgPath]
		if !ok {
			t.Fatalf("%s: %s is not mounted", id, cfgPath)
		}
		text := readFile(t, filepath.Join("compose", src))
		for _, v := range envRefs(text) {
			if get(s, "environment", v) == nil {
				t.Errorf("%s: the config reads ${%s}, which the service's environment does not set", id, v)
			}
		}
		for _, v := range get(s, "environment").(map[string]any) {
			for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)`).FindAllStringSubmatch(v.(string), -1) {
				if !env[m[1]] {
					t.Errorf("%s: ${%s} is not in env.example", id, m[1])
				}
			}
		}
		var listen, ops string
		var dirs []string
		if cmd[0] == "edge" {
			ec, raw := loadEdge(t, id+" "+src, text)
			raws = append(raws, raw)
			listen, ops = ec.Listen, ec.OpsListen
			dirs = []string{ec.Cache.DiskDir, str(raw, "state_dir")}
			for _, o := range ec.Origins {
				host, p, _ := strings.Cut(o, ":")
				if services[host] == nil || !slices.Contains(list(services[host], "command"), any("origin")) {
					t.Errorf("%s: origin %s is not an origin service", id, o)
				} else if p != "8081" {
					t.Errorf("%s: origin %s: the origins listen on 8081", id, o)
				}
			}
		} else {
			oc, raw := loadOrigin(t, id+" "+src, text)
			raws = append(raws, raw)
			listen, ops = oc.Listen, oc.OpsListen
			dirs = []string{oc.Data}
			if get(s, "environment", "AWS_ENDPOINT_URL_S3") == nil {
				t.Errorf("%s: no AWS_ENDPOINT_URL_S3 for MinIO", id)
			}
		}
		for _, d := range dirs {
			if _, ok := mounts[d]; !ok {
				t.Errorf("%s: %s is not on a volume", id, d)
			}
		}
		lp := strconv.Itoa(port(t, id, listen))
		for _, p := range list(s, "ports") {
			ps, _ := p.(string)
			if !strings.HasPrefix(ps, "127.0.0.1:") || !strings.HasSuffix(ps, ":"+lp) {
				t.Errorf("%s: published port %q: want 127.0.0.1:<host>:%s", id, ps, lp)
			}
		}
		test := list(s, "healthcheck", "test")
		u, err := url.Parse(strings.TrimSpace(anyStr(test[len(test)-1])))
		if err != nil || u.Port() != strconv.Itoa(port(t, id, ops)) || u.Path != "/readyz" {
			t.Errorf("%s: health check %v: want /readyz on the ops port of %s", id, test, ops)
		}
	}
	if len(raws) != 5 {
		t.Fatalf("compose.yaml: %d refract services, want 5", len(raws))
	}
	sameStream(t, "deploy/compose", raws...)
}

func anyStr(v any) string { s, _ := v.(string); return s }

// mapKeys: the keys of a map, or the items of a list (depends_on has both
// forms).
func mapKeys(v any) []string {
	var ks []string
	switch v := v.(type) {
	case map[string]any:
		for k := range v {
			ks = append(ks, k)
		}
	case []any:
		for _, k := range v {
			ks = append(ks, anyStr(k))
		}
	}
	return ks
}

// unit is a systemd unit file: section -> key -> values.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Errorf("%s:%d: outside any section", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s:%d: not key=value", path, n)
				continue
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// The units run the binary with the right subcommand and config, as the
// refract user, hardened, and their directories are the configs'.
func TestSystemdUnits(t *testing.T) {
	var raws []map[string]any
	units, _ := filepath.Glob("systemd/*.service")
	if len(units) < 3 {
		t.Fatalf("systemd units: %v", units)
	}
	for _, path := range units {
		u := parseUnit(t, path)
		for _, s := range []string{"Unit", "Service", "Install"} {
			if u[s] == nil {
				t.Errorf("%s: no [%s]", path, s)
			}
		}
		exec := strings.Fields(u.get("Service", "ExecStart"))
		if len(exec) < 2 || !filepath.IsAbs(exec[0]) || filepath.Base(exec[0]) != "refract" {
			t.Errorf("%s: ExecStart %v does not run the refract binary by its absolute path", path, exec)
			continue
		}
		role := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "refract-"), ".service")
		if exec[1] != role {
			t.Errorf("%s: ExecStart runs refract %s", path, exec[1])
		}
		if u.get("Service", "Restart") != "on-failure" || u.get("Service", "EnvironmentFile") == "" {
			t.Errorf("%s: want Restart=on-failure and an EnvironmentFile", path)
		}
		if role == "dev" {
			continue
		}
		if len(exec) != 4 || exec[2] != "--config" {
			t.Errorf("%s: ExecStart %v: want refract %s --config <file>", path, exec, role)
			continue
		}
		for k, v := range map[string]string{
			"Type": "simple", "User": "refract", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
			"PrivateTmp": "yes", "LimitNOFILE": "1048576",
		} {
			if got := u.get("Service", k); got != v {
				t.Errorf("%s: %s=%s, want %s", path, k, got, v)
			}
		}
		// The example config the unit's comments install, with the
		// unit's directories.
		text := readFile(t, filepath.Join("systemd", role+".yaml"))
		rw := strings.Fields(u.get("Service", "ReadWritePaths"))
		var dirs []string
		if role == "edge" {
			ec, raw := loadEdge(t, "systemd/edge.yaml", text)
			raws = append(raws, raw)
			dirs = []string{ec.Cache.DiskDir, str(raw, "state_dir")}
			if ec.Cache.DiskDir != "/var/cache/"+u.get("Service", "CacheDirectory") {
				t.Errorf("%s: cache.disk_dir %s is not CacheDirectory=%s", path, ec.Cache.DiskDir, u.get("Service", "CacheDirectory"))
			}
			if sd := str(raw, "state_dir"); sd != "/var/lib/"+u.get("Service", "StateDirectory") {
				t.Errorf("%s: state_dir %s is not StateDirectory=%s", path, sd, u.get("Service", "StateDirectory"))
			}
		} else {
			oc, raw := loadOrigin(t, "systemd/origin.yaml", text)
			raws = append(raws, raw)
			dirs = []string{oc.Data}
			if oc.Data != "/var/lib/"+u.get("Service", "StateDirectory") {
				t.Errorf("%s: data %s is not StateDirectory=%s", path, oc.Data, u.get("Service", "StateDirectory"))
			}
		}
		for _, d := range dirs {
			if !slices.Contains(rw, d) {
				t.Errorf("%s: %s is not in ReadWritePaths %v", path, d, rw)
			}
		}
		env := readFile(t, "systemd/refract.env.example")
		for _, v := range envRefs(text) {
			if !regexp.MustCompile(`(?m)^` + v + `=`).MatchString(env) {
				t.Errorf("%s reads ${%s}, which refract.env.example does not set", role+".yaml", v)
			}
		}
	}
	sameStream(t, "deploy/systemd", raws...)
	u := parseUnit(t, "systemd/nats-server.service.d/refract.conf")
	if u["Service"] == nil {
		t.Error("the nats-server drop-in has no [Service]")
	}
}

// The scripts parse, stop at the first error, and bind nothing but
// loopback.
func TestLocalScripts(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, name := range []string{"up", "down", "status", "lib.sh"} {
		path := filepath.Join("local", name)
		if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", path, err, out)
		}
		text := readFile(t, path)
		if name != "lib.sh" {
			if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable", path)
			}
			if !strings.Contains(text, "\nset -euo pipefail\n") {
				t.Errorf("%s: no set -euo pipefail", path)
			}
		}
		for _, bad := range []string{"0.0.0.0", "[::]", "localhost:"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s mentions %s: every server binds 127.0.0.1", path, bad)
			}
		}
	}
}

// The image: Debian 12 on both stages, libvips-dev to build, libvips42
// to run, and the ports the configs use exposed.
func TestDockerfile(t *testing.T) {
	text := readFile(t, "Dockerfile")
	var froms []string
	for _, line := range strings.Split(text, "\n") {
		if f, ok := strings.CutPrefix(line, "FROM "); ok {
			froms = append(froms, f)
		}
	}
	if len(froms) != 2 || !strings.Contains(froms[0], "bookworm") || !strings.HasPrefix(froms[1], "debian:12") {
		t.Errorf("Dockerfile stages %v: want a Debian 12 (bookworm) build and debian:12 runtime", froms)
	}
	for _, want := range []string{"libvips-dev", "libvips42", "./cmd/refract", "EXPOSE 8080 8081 9090 9091", "USER 10001"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile: no %q", want)
		}
	}
}
