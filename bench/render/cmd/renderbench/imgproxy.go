package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// imgproxyEnv are the settings that make imgproxy encode as Refract does
// (see the report's method): the same effort for WebP (4) and AVIF
// (effort 1 = speed 8, which is what Refract's origin/render uses for
// outputs of 0.4–2 MP), no progressive JPEG, metadata stripped. Quality
// is in every URL. Everything else is imgproxy's default.
var imgproxyEnv = []string{
	"IMGPROXY_AVIF_SPEED=8",
	"IMGPROXY_WEBP_EFFORT=4",
	"IMGPROXY_JPEG_PROGRESSIVE=false",
	"IMGPROXY_PNG_INTERLACED=false",
	"IMGPROXY_PNG_QUANTIZE=false",
	"IMGPROXY_STRIP_METADATA=true",
	"IMGPROXY_LOG_LEVEL=warn",
	"IMGPROXY_TTL=31536000",
	"IMGPROXY_MAX_SRC_RESOLUTION=50",
}

// imgproxy is a running imgproxy on a loopback port.
type imgproxy struct {
	p    *proc
	addr string
}

func startImgproxy(ctx context.Context, ps *procs, dir, bin, root, cpus string) (*imgproxy, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	env := append([]string{"IMGPROXY_BIND=" + addr, "IMGPROXY_LOCAL_FILESYSTEM_ROOT=" + root}, imgproxyEnv...)
	argv := []string{bin}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	p, err := ps.start("imgproxy", filepath.Join(dir, "imgproxy.log"), syscall.SIGTERM, nil, env, argv...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &imgproxy{p: p, addr: addr}, nil
			}
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("imgproxy did not become healthy on %s:\n%s", addr, p.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort finds a loopback port nothing listens on, for servers that
// cannot report an ephemeral port (the usual small race).
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// imgproxyVersion asks the binary (`imgproxy version`).
func imgproxyVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
