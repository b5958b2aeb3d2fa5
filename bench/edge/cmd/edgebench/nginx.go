package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

// nginxConf is the anchor's configuration: one worker, no access log,
// static files from root at the same paths as the edge's URLs, the
// edge's Cache-Control and CORS headers, and keep-alive connections that
// last as long as the edge's do (nginx's default closes one after 1000
// requests, which would charge nginx reconnects the edge never pays).
// Everything it writes stays under prefix.
const nginxConf = `daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile %[4]s;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    types { image/jpeg jpg; }
    default_type application/octet-stream;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
        root %[3]s;
        add_header Cache-Control "public, max-age=31536000, immutable";
        add_header Access-Control-Allow-Origin "*";
    }
}
`

// startNginx serves root on a free loopback port, on the given CPUs.
func startNginx(ps *proc.Group, dir, root, cpus, sendfile string) (*proc.Proc, string, error) {
	addr, err := node.FreePort()
	if err != nil {
		return nil, "", err
	}
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, "", err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, prefix, addr, root, sendfile)), 0o644); err != nil {
		return nil, "", err
	}
	// -e: the error log before the configuration is read, which would
	// otherwise be the system's.
	p, err := ps.Start("nginx", filepath.Join(prefix, "stderr.log"), syscall.SIGTERM, nil, nil,
		"taskset", "-c", cpus, nginxBin(), "-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "error.log"))
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop(5 * time.Second)
			b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			return nil, "", fmt.Errorf("nginx did not start on %s:\n%s%s", addr, b, p.Tail(10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, addr, nil
}

// nginxWorker is the pid of the (one) worker serving requests.
func nginxWorker(master int) (int, error) {
	for range 100 {
		if w := proc.Children(master); len(w) > 0 {
			return w[0], nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, errors.New("nginx has no worker")
}

func nginxVersion(ctx context.Context) string {
	out, _ := exec.CommandContext(ctx, nginxBin(), "-v").CombinedOutput()
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
}

// nginxBin is nginx on PATH, or Debian's /usr/sbin/nginx, which is not
// on a user's PATH.
func nginxBin() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	return "/usr/sbin/nginx"
}
