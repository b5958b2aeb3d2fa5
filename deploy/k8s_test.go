package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// obj is one decoded YAML document.
type obj = map[string]any

// get walks a path of map keys; nil when any step is missing.
func get(m any, path ...string) any {
	for _, k := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func str(m any, path ...string) string { s, _ := get(m, path...).(string); return s }

func list(m any, path ...string) []any { l, _ := get(m, path...).([]any); return l }

// decodeAll decodes every document of a YAML stream, skipping empty ones.
func decodeAll(t *testing.T, path string) []obj {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, path))))
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML in %s", dir)
	}
	return files
}

// Every YAML file under deploy/ parses.
func TestYAMLParses(t *testing.T) {
	for _, dir := range []string{"k8s", "compose", "systemd"} {
		for _, f := range yamlFiles(t, dir) {
			if docs := decodeAll(t, f); len(docs) == 0 {
				t.Errorf("%s: no documents", f)
			}
		}
	}
}

// k8sObjects is every object in deploy/k8s, keyed "Kind/name", with the
// file each came from.
type k8sObject struct {
	file string
	obj
}

func k8sObjects(t *testing.T) map[string]k8sObject {
	t.Helper()
	objs := map[string]k8sObject{}
	for _, f := range yamlFiles(t, "k8s") {
		for i, d := range decodeAll(t, f) {
			kind, name := str(d, "kind"), str(d, "metadata", "name")
			if str(d, "apiVersion") == "" || kind == "" {
				t.Errorf("%s: document %d: no apiVersion or kind", f, i+1)
				continue
			}
			if kind == "Kustomization" {
				continue // metadata is optional there
			}
			if name == "" {
				t.Errorf("%s: %s (document %d) has no metadata.name", f, kind, i+1)
				continue
			}
			if kind != "Namespace" && str(d, "metadata", "namespace") != "refract" {
				t.Errorf("%s: %s/%s: namespace %q, want refract", f, kind, name, str(d, "metadata", "namespace"))
			}
			key := kind + "/" + name
			if prev, dup := objs[key]; dup {
				t.Errorf("%s: %s is also in %s", f, key, prev.file)
			}
			objs[key] = k8sObject{f, d}
		}
	}
	return objs
}

var workloadKinds = []string{"Deployment", "StatefulSet", "DaemonSet"}

func workloads(objs map[string]k8sObject) []k8sObject {
	var w []k8sObject
	for _, o := range objs {
		if slices.Contains(workloadKinds, str(o.obj, "kind")) {
			w = append(w, o)
		}
	}
	return w
}

// labelsMatch: every selector label is in labels.
func labelsMatch(selector, labels any) bool {
	sel, _ := selector.(map[string]any)
	lab, _ := labels.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lab[k] != v {
			return false
		}
	}
	return true
}

// containerPorts maps a container's port names and numbers to numbers.
func containerPorts(c any) map[string]int {
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		n, _ := get(p, "containerPort").(int)
		ports[strconv.Itoa(n)] = n
		if name := str(p, "name"); name != "" {
			ports[name] = n
		}
	}
	return ports
}

func portRef(v any) string {
	switch v := v.(type) {
	case int:
		return strconv.Itoa(v)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// The manifests hang together: selectors select, services and probes
// name declared ports, mounted ConfigMaps and Secrets exist, every
// workload has a PodDisruptionBudget, and kustomization.yaml lists every
// file but the Secret template.
func TestK8sManifests(t *testing.T) {
	objs := k8sObjects(t)
	for _, want := range []string{
		"Namespace/refract", "ConfigMap/refract-edge", "ConfigMap/refract-origin", "Secret/refract-secrets",
		"StatefulSet/refract-origin", "Deployment/refract-edge", "StatefulSet/nats",
		"Service/refract-origin", "Service/refract-api", "Service/refract-edge", "Service/nats",
		"PodDisruptionBudget/refract-edge", "PodDisruptionBudget/refract-origin", "PodDisruptionBudget/nats",
	} {
		if _, ok := objs[want]; !ok {
			t.Errorf("no %s in deploy/k8s", want)
		}
	}
	ws := workloads(objs)
	for _, w := range ws {
		kind, name := str(w.obj, "kind"), str(w.obj, "metadata", "name")
		id := w.file + ": " + kind + "/" + name
		tmplLabels := get(w.obj, "spec", "template", "metadata", "labels")
		if !labelsMatch(get(w.obj, "spec", "selector", "matchLabels"), tmplLabels) {
			t.Errorf("%s: spec.selector does not select its own pod template", id)
		}
		if kind == "StatefulSet" {
			svc, ok := objs["Service/"+str(w.obj, "spec", "serviceName")]
			if !ok || str(svc.obj, "spec", "clusterIP") != "None" {
				t.Errorf("%s: serviceName %q is not a headless Service", id, str(w.obj, "spec", "serviceName"))
			}
		}
		pdb := false
		for _, o := range objs {
			if str(o.obj, "kind") == "PodDisruptionBudget" && labelsMatch(get(o.obj, "spec", "selector", "matchLabels"), tmplLabels) {
				pdb = true
			}
		}
		if !pdb {
			t.Errorf("%s: no PodDisruptionBudget selects it", id)
		}
		pod := get(w.obj, "spec", "template", "spec")
		volumes := map[string]any{}
		for _, v := range list(pod, "volumes") {
			volumes[str(v, "name")] = v
			if cm := str(v, "configMap", "name"); cm != "" {
				if _, ok := objs["ConfigMap/"+cm]; !ok {
					t.Errorf("%s: volume %s: no ConfigMap %s", id, str(v, "name"), cm)
				}
			}
		}
		for _, vct := range list(w.obj, "spec", "volumeClaimTemplates") {
			volumes[str(vct, "metadata", "name")] = vct
		}
		containers := list(pod, "containers")
		if len(containers) == 0 {
			t.Errorf("%s: no containers", id)
		}
		for _, c := range containers {
			cid := id + " container " + str(c, "name")
			if str(c, "image") == "" {
				t.Errorf("%s: no image", cid)
			}
			ports := containerPorts(c)
			for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				p := get(c, probe)
				if p == nil {
					if probe != "startupProbe" {
						t.Errorf("%s: no %s", cid, probe)
					}
					continue
				}
				if _, ok := ports[portRef(get(p, "httpGet", "port"))]; !ok {
					t.Errorf("%s: %s port %v is not a declared container port", cid, probe, get(p, "httpGet", "port"))
				}
			}
			if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
				t.Errorf("%s: needs resource requests and a memory limit", cid)
			}
			for _, m := range list(c, "volumeMounts") {
				if _, ok := volumes[str(m, "name")]; !ok {
					t.Errorf("%s: mounts volume %s, which the pod does not have", cid, str(m, "name"))
				}
			}
			for _, e := range list(c, "envFrom") {
				if s := str(e, "secretRef", "name"); s != "" {
					if _, ok := objs["Secret/"+s]; !ok {
						t.Errorf("%s: envFrom Secret %s is not in deploy/k8s", cid, s)
					}
				}
			}
		}
	}
	// Services select a workload and target its declared ports.
	for key, o := range objs {
		if str(o.obj, "kind") != "Service" {
			continue
		}
		var sel []k8sObject
		for _, w := range ws {
			if labelsMatch(get(o.obj, "spec", "selector"), get(w.obj, "spec", "template", "metadata", "labels")) {
				sel = append(sel, w)
			}
		}
		if len(sel) == 0 {
			t.Errorf("%s: %s selects no workload", o.file, key)
			continue
		}
		for _, sp := range list(o.obj, "spec", "ports") {
			target := portRef(get(sp, "targetPort"))
			if get(sp, "targetPort") == nil {
				target = portRef(get(sp, "port"))
			}
			for _, w := range sel {
				found := false
				for _, c := range list(w.obj, "spec", "template", "spec", "containers") {
					if _, ok := containerPorts(c)[target]; ok {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: %s targets port %s, which %s does not declare", o.file, key, target, str(w.obj, "metadata", "name"))
				}
			}
		}
	}
	// PodDisruptionBudgets select something.
	for key, o := range objs {
		if str(o.obj, "kind") != "PodDisruptionBudget" {
			continue
		}
		n := 0
		for _, w := range ws {
			if labelsMatch(get(o.obj, "spec", "selector", "matchLabels"), get(w.obj, "spec", "template", "metadata", "labels")) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %s selects %d workloads, want 1", o.file, key, n)
		}
	}
	checkKustomization(t, objs)
}

func checkKustomization(t *testing.T, objs map[string]k8sObject) {
	t.Helper()
	k := decodeAll(t, "k8s/kustomization.yaml")[0]
	listed := map[string]bool{}
	for _, r := range list(k, "resources") {
		s, _ := r.(string)
		if _, err := os.Stat(filepath.Join("k8s", s)); err != nil {
			t.Errorf("kustomization.yaml: resource %s: %v", s, err)
		}
		listed[s] = true
	}
	for _, f := range yamlFiles(t, "k8s") {
		base := filepath.Base(f)
		switch {
		case base == "kustomization.yaml":
		case base == "secret.example.yaml":
			if listed[base] {
				t.Error("kustomization.yaml applies the Secret template's placeholders")
			}
		case !listed[base]:
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}
	// The refract image is the one name kustomization.yaml sets.
	var images []string
	for _, i := range list(k, "images") {
		images = append(images, str(i, "name"))
	}
	for _, w := range workloads(objs) {
		for _, c := range list(w.obj, "spec", "template", "spec", "containers") {
			if img := str(c, "image"); strings.Contains(img, "refract") && !slices.Contains(images, img) {
				t.Errorf("%s: image %q is not set by kustomization.yaml's images (%v)", w.file, img, images)
			}
		}
	}
}

// container finds a workload's container.
func container(t *testing.T, objs map[string]k8sObject, key, name string) any {
	t.Helper()
	w, ok := objs[key]
	if !ok {
		t.Fatalf("no %s", key)
	}
	for _, c := range list(w.obj, "spec", "template", "spec", "containers") {
		if str(c, "name") == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", key, name)
	return nil
}

// configFromConfigMap finds the ConfigMap mounted where the container's
// --config points, and returns that key's text.
func configFromConfigMap(t *testing.T, objs map[string]k8sObject, key string, c any) string {
	t.Helper()
	args := list(c, "args")
	i := slices.IndexFunc(args, func(a any) bool { return a == "--config" })
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("%s: no --config in args %v", key, args)
	}
	path, _ := args[i+1].(string)
	pod := get(objs[key].obj, "spec", "template", "spec")
	for _, m := range list(c, "volumeMounts") {
		dir := str(m, "mountPath")
		if filepath.Dir(path) != dir {
			continue
		}
		for _, v := range list(pod, "volumes") {
			if str(v, "name") != str(m, "name") {
				continue
			}
			cm, ok := objs["ConfigMap/"+str(v, "configMap", "name")]
			if !ok {
				t.Fatalf("%s: %s is not mounted from a ConfigMap", key, path)
			}
			text := str(cm.obj, "data", filepath.Base(path))
			if text == "" {
				t.Fatalf("%s: ConfigMap %s has no key %s", key, str(cm.obj, "metadata", "name"), filepath.Base(path))
			}
			return text
		}
	}
	t.Fatalf("%s: nothing is mounted at %s", key, filepath.Dir(path))
	return ""
}

// mountedAt reports whether a container mounts a writable volume at dir.
func mountedAt(c any, dir string) bool {
	for _, m := range list(c, "volumeMounts") {
		if str(m, "mountPath") == dir && get(m, "readOnly") != true {
			return true
		}
	}
	return false
}

// The configs in the ConfigMaps load with refract's own config package,
// and agree with the pods: ports, volumes, the secrets they read, the
// origins' pod names.
func TestK8sConfigs(t *testing.T) {
	objs := k8sObjects(t)
	secret := get(objs["Secret/refract-secrets"].obj, "stringData")

	oc := container(t, objs, "StatefulSet/refract-origin", "origin")
	otext := configFromConfigMap(t, objs, "StatefulSet/refract-origin", oc)
	origin, oraw := loadOrigin(t, "k8s ConfigMap refract-origin", otext)
	oports := containerPorts(oc)
	if port(t, "origin listen", origin.Listen) != oports["api"] || port(t, "origin ops_listen", origin.OpsListen) != oports["ops"] {
		t.Errorf("origin: listen %s / ops_listen %s are not the container's api/ops ports %v", origin.Listen, origin.OpsListen, oports)
	}
	if !mountedAt(oc, origin.Data) {
		t.Errorf("origin: data %s is not a writable volume", origin.Data)
	}
	if strings.HasPrefix(origin.Store, "s3://") {
		for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if get(secret, v) == nil {
				t.Errorf("Secret refract-secrets has no %s for the origins' bucket", v)
			}
		}
	}

	ec := container(t, objs, "Deployment/refract-edge", "edge")
	etext := configFromConfigMap(t, objs, "Deployment/refract-edge", ec)
	edge, raw := loadEdge(t, "k8s ConfigMap refract-edge", etext)
	eports := containerPorts(ec)
	if port(t, "edge listen", edge.Listen) != eports["http"] || port(t, "edge ops_listen", edge.OpsListen) != eports["ops"] {
		t.Errorf("edge: listen %s / ops_listen %s are not the container's http/ops ports %v", edge.Listen, edge.OpsListen, eports)
	}
	for _, dir := range []string{edge.Cache.DiskDir, str(raw, "state_dir")} {
		if dir != "" && !mountedAt(ec, dir) {
			t.Errorf("edge: %s is not a writable volume", dir)
		}
	}
	// The edge's origins are the origin StatefulSet's pods, by name.
	sts := objs["StatefulSet/refract-origin"].obj
	replicas, _ := get(sts, "spec", "replicas").(int)
	var want []string
	for i := range replicas {
		want = append(want, fmt.Sprintf("refract-origin-%d.%s:%d", i, str(sts, "spec", "serviceName"), oports["api"]))
	}
	if !slices.Equal(edge.Origins, want) {
		t.Errorf("edge origins %v, want the origin pods %v", edge.Origins, want)
	}
	// The memory limit is above the Go memory limit refract derives from
	// the RAM tier (cmd/refract/memlimit.go: tier + 25% + 64 MiB).
	goLimit := edge.Cache.RAMBytes + edge.Cache.RAMBytes/4 + 64<<20
	if lim := quantity(t, str(ec, "resources", "limits", "memory")); lim < goLimit+128<<20 {
		t.Errorf("edge memory limit %d is not comfortably above the Go memory limit %d", lim, goLimit)
	}
	// Every ${NAME} the configs read is in the Secret.
	for _, text := range []string{otext, etext} {
		for _, v := range envRefs(text) {
			if get(secret, v) == nil {
				t.Errorf("the configs read ${%s}, which Secret refract-secrets does not set", v)
			}
		}
	}
	// NATS: the bus URLs are the StatefulSet's pods on its client port.
	nats := objs["StatefulSet/nats"].obj
	n, _ := get(nats, "spec", "replicas").(int)
	nport := containerPorts(container(t, objs, "StatefulSet/nats", "nats"))["client"]
	var natsURLs []any
	for i := range n {
		natsURLs = append(natsURLs, fmt.Sprintf("nats://nats-%d.%s:%d", i, str(nats, "spec", "serviceName"), nport))
	}
	sameStream(t, "deploy/k8s", oraw, raw)
	if r, _ := get(raw, "bus", "nats", "replicas").(int); r < 1 || r > n {
		t.Errorf("bus.nats.replicas %v: want 1 to %d (the NATS servers)", get(raw, "bus", "nats", "replicas"), n)
	}
	for name, text := range map[string]string{"origin": otext, "edge": etext} {
		var m obj
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			t.Fatal(err)
		}
		if urls := list(m, "bus", "nats", "urls"); !slices.Equal(urls, natsURLs) {
			t.Errorf("%s bus.nats.urls %v, want %v", name, urls, natsURLs)
		}
	}
}

// quantity parses the Kubernetes memory quantities the manifests use.
func quantity(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", q, err)
			}
			return v * mult
		}
	}
	t.Fatalf("quantity %q: want Ki, Mi or Gi", q)
	return 0
}
