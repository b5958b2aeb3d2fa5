package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startSplit runs the production layout: `refract origin` on a local
// store and `refract edge` in front of it, each from a config file, on
// loopback ports. The node's process (p, whose RSS is measured and which
// runs on cpus with env) is the edge; the origin runs on originCPUs.
func startSplit(ps *procs, dir, bin, cpus, originCPUs string, cacheBytes int64, env []string) (*node, error) {
	n := &node{cloud: "bench", apiKey: randomDigits(15), apiSecret: randomHex(27)}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	n.api, n.edge, n.ops = ports[0], ports[2], ports[3]
	secret := randomHex(32)
	clouds := fmt.Sprintf("clouds:\n  - name: %s\n    api_key: %q\n    api_secret: %q\n", n.cloud, n.apiKey, n.apiSecret)
	for _, d := range []string{"store", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	origin := fmt.Sprintf("listen: %s\nops_listen: %s\nstore: %s\ndata: %s\npublic_url: http://%s\npeer_secret: %q\n%s",
		ports[0], ports[1], filepath.Join(dir, "store"), filepath.Join(dir, "data"), n.edge, secret, clouds)
	// No disk tier and no sampled access log: the edge serves from RAM,
	// as nginx serves from the page cache with access_log off. Errors
	// are still logged.
	edge := fmt.Sprintf("listen: %s\nops_listen: %s\norigins: [%s]\npeer_secret: %q\n%scache:\n  ram_bytes: %d\n  disk_dir: \"\"\naccess_log:\n  sample: 0\n  errors: true\n",
		n.edge, n.ops, n.api, secret, clouds, cacheBytes)
	for name, text := range map[string]string{"origin.yaml": origin, "edge.yaml": edge} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	pin := func(cpus string, argv ...string) []string {
		if cpus == "" {
			return argv
		}
		return append([]string{"taskset", "-c", cpus}, argv...)
	}
	o, err := ps.start("refract-origin", filepath.Join(dir, "origin.log"), syscall.SIGTERM, nil, nil,
		pin(originCPUs, bin, "origin", "--config", filepath.Join(dir, "origin.yaml"))...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(o, ports[1]); err != nil {
		o.stop(5 * time.Second)
		return nil, err
	}
	n.p, err = ps.start("refract-edge", filepath.Join(dir, "edge.log"), syscall.SIGTERM, nil, env,
		pin(cpus, bin, "edge", "--config", filepath.Join(dir, "edge.yaml"))...)
	if err == nil {
		err = waitReady(n.p, n.ops)
	}
	if err != nil {
		if n.p != nil {
			n.p.stop(5 * time.Second)
		}
		o.stop(5 * time.Second)
		return nil, err
	}
	n.origin = o
	return n, nil
}

// stop stops the node's processes: the edge, then any origin.
func (n *node) stop(grace time.Duration) {
	n.p.stop(grace)
	if n.origin != nil {
		n.origin.stop(grace)
	}
}

// waitReady polls a process's /readyz for up to 60 s.
func waitReady(p *proc, ops string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited at start:\n%s", p.name, p.tail(20))
		}
		if resp, err := client.Get("http://" + ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within 60 s:\n%s", p.name, p.tail(20))
}

// freePorts returns n distinct loopback addresses the OS just offered.
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	if !strings.HasPrefix(out[0], "127.0.0.1:") {
		return nil, fmt.Errorf("free port %q is not loopback", out[0])
	}
	return out, nil
}
