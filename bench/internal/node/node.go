// Package node starts the Refract under test, `refract dev` or a split
// `refract origin` + `refract edge`, on loopback ports, and talks to it:
// signed uploads, delivery URLs, warm-up and /metrics.
package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/bench/internal/proc"
)

// Node is a running Refract: a `refract dev` (origin and edge in one
// process), or an edge and an origin started apart (StartSplit).
type Node struct {
	P                        *proc.Proc // the dev node, or the edge: the process that serves deliveries
	Origin                   *proc.Proc // the origin when split, else nil
	Edge, API, Ops           string     // host:port of delivery, the Upload API and the (edge's) ops listener
	OriginOps                string     // the origin's ops listener when split, else ""
	Cloud, APIKey, APISecret string
}

// Options say how to start a node.
type Options struct {
	Bin        string   // the refract binary
	Dir        string   // data, configurations and logs
	CPUs       string   // taskset -c list of the dev node or the edge ("": unpinned)
	OriginCPUs string   // StartSplit: the origin's list ("": unpinned)
	CacheBytes int64    // the RAM tier
	Env        []string // added to the dev node's or the edge's environment
	// StartSplit: the edge logs errors only, no sampled requests, as
	// nginx runs with access_log off (otherwise refract's default).
	ErrorsOnlyAccessLog bool
}

func newNode() *Node {
	return &Node{Cloud: "bench", APIKey: randomDigits(15), APISecret: randomHex(27)}
}

// StartDev starts `refract dev` on ephemeral loopback ports and reads the
// addresses from its banner.
func StartDev(ps *proc.Group, o Options) (*Node, error) {
	n := newNode()
	data := filepath.Join(o.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	env := append([]string{"CLOUDINARY_URL=cloudinary://" + n.APIKey + ":" + n.APISecret + "@" + n.Cloud}, o.Env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	argv := proc.Pinned(o.CPUs, o.Bin, "dev", "--data", data, "--cache-bytes", strconv.FormatInt(o.CacheBytes, 10),
		"--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0")
	n.P, err = ps.Start("refract", filepath.Join(o.Dir, "refract.log"), syscall.SIGTERM, pw, env, argv...)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	// The banner names the three listeners; keep draining stdout after it.
	found := make(chan error, 1)
	go func() {
		out, _ := os.Create(filepath.Join(o.Dir, "refract.stdout"))
		defer out.Close()
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if sent {
				continue
			}
			// The first http:// field of a listener's line names it.
			addr := ""
			for _, f := range strings.Fields(line) {
				if u, err := url.Parse(f); err == nil && u.Scheme == "http" {
					addr = u.Host
					break
				}
			}
			switch l := strings.TrimSpace(line); {
			case strings.HasPrefix(l, "edge (delivery)"):
				n.Edge = addr
			case strings.HasPrefix(l, "upload/admin API"):
				n.API = addr
			case strings.HasPrefix(l, "ops "):
				n.Ops = addr
			case strings.Contains(line, "CLOUDINARY_URL="):
				if n.Edge == "" || n.API == "" || n.Ops == "" {
					found <- errors.New("refract dev banner: missing an address")
				} else {
					found <- nil
				}
				sent = true
			}
		}
		if !sent {
			found <- errors.New("refract dev exited before its banner")
		}
	}()
	select {
	case err = <-found:
	case <-time.After(60 * time.Second):
		err = errors.New("refract dev did not print its banner within 60 s")
	}
	if err != nil {
		n.P.Stop(5 * time.Second)
		return nil, fmt.Errorf("%w\n%s", err, n.P.Tail(20))
	}
	for _, a := range []string{n.Edge, n.API, n.Ops} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			n.P.Stop(5 * time.Second)
			return nil, fmt.Errorf("refract dev listens on %q, not loopback", a)
		}
	}
	return n, nil
}

// StartSplit runs the production layout: `refract origin` on a local
// store and `refract edge` in front of it with no disk tier, each from a
// generated configuration, on loopback ports.
func StartSplit(ctx context.Context, ps *proc.Group, o Options) (*Node, error) {
	n := newNode()
	ports, err := FreePorts(4)
	if err != nil {
		return nil, err
	}
	n.API, n.OriginOps, n.Edge, n.Ops = ports[0], ports[1], ports[2], ports[3]
	secret := randomHex(32)
	clouds := fmt.Sprintf("clouds:\n  - name: %s\n    api_key: %q\n    api_secret: %q\n", n.Cloud, n.APIKey, n.APISecret)
	for _, d := range []string{"store", "data"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	origin := fmt.Sprintf("listen: %s\nops_listen: %s\nstore: %s\ndata: %s\npublic_url: http://%s\npeer_secret: %q\n%s",
		n.API, n.OriginOps, filepath.Join(o.Dir, "store"), filepath.Join(o.Dir, "data"), n.Edge, secret, clouds)
	// No disk tier: the edge serves from RAM.
	edge := fmt.Sprintf("listen: %s\nops_listen: %s\norigins: [%s]\npeer_secret: %q\n%scache:\n  ram_bytes: %d\n  disk_dir: \"\"\n",
		n.Edge, n.Ops, n.API, secret, clouds, o.CacheBytes)
	if o.ErrorsOnlyAccessLog {
		edge += "access_log:\n  sample: 0\n  errors: true\n"
	}
	for name, text := range map[string]string{"origin.yaml": origin, "edge.yaml": edge} {
		if err := os.WriteFile(filepath.Join(o.Dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	n.Origin, err = ps.Start("refract-origin", filepath.Join(o.Dir, "origin.log"), syscall.SIGTERM, nil, nil,
		proc.Pinned(o.OriginCPUs, o.Bin, "origin", "--config", filepath.Join(o.Dir, "origin.yaml"))...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, n.Origin, n.OriginOps); err != nil {
		n.Origin.Stop(5 * time.Second)
		return nil, err
	}
	n.P, err = ps.Start("refract-edge", filepath.Join(o.Dir, "edge.log"), syscall.SIGTERM, nil, o.Env,
		proc.Pinned(o.CPUs, o.Bin, "edge", "--config", filepath.Join(o.Dir, "edge.yaml"))...)
	if err == nil {
		err = waitReady(ctx, n.P, n.Ops)
	}
	if err != nil {
		if n.P != nil {
			n.P.Stop(5 * time.Second)
		}
		n.Origin.Stop(5 * time.Second)
		return nil, err
	}
	return n, nil
}

// waitReady polls a process's /readyz for up to 60 s.
func waitReady(ctx context.Context, p *proc.Proc, ops string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.Exited() {
			return fmt.Errorf("%s exited at start:\n%s", p.Name, p.Tail(20))
		}
		if resp, err := Client.Get("http://" + ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within 60 s:\n%s", p.Name, p.Tail(20))
}

// Stop stops the node's processes: the edge (or dev node), then any
// origin.
func (n *Node) Stop(grace time.Duration) {
	n.P.Stop(grace)
	if n.Origin != nil {
		n.Origin.Stop(grace)
	}
}

// Exited says whether any of the node's processes has exited.
func (n *Node) Exited() bool {
	return n.P.Exited() || n.Origin != nil && n.Origin.Exited()
}

// Tail is the last 20 lines of each of the node's logs.
func (n *Node) Tail() string {
	s := n.P.Tail(20)
	if n.Origin != nil {
		s += "\n" + n.Origin.Tail(20)
	}
	return s
}

// FreePorts returns n distinct loopback addresses the OS just offered,
// for servers that cannot report an ephemeral port (the usual small
// race between closing them here and the server binding them).
func FreePorts(n int) ([]string, error) {
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

// FreePort is one address of FreePorts.
func FreePort() (string, error) {
	ps, err := FreePorts(1)
	if err != nil {
		return "", err
	}
	return ps[0], nil
}

// Version asks the binary (`refract version`), without the leading
// "refract".
func Version(ctx context.Context, bin string) string {
	out, _ := exec.CommandContext(ctx, bin, "version").Output()
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "refract"))
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	b[0] = '1' + b[0]%9
	return string(b)
}
