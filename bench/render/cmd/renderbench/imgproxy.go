package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
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
	p    *proc.Proc
	addr string
}

func startImgproxy(ctx context.Context, ps *proc.Group, dir, bin, root, cpus string) (*imgproxy, error) {
	addr, err := node.FreePort()
	if err != nil {
		return nil, err
	}
	env := append([]string{"IMGPROXY_BIND=" + addr, "IMGPROXY_LOCAL_FILESYSTEM_ROOT=" + root}, imgproxyEnv...)
	p, err := ps.Start("imgproxy", filepath.Join(dir, "imgproxy.log"), syscall.SIGTERM, nil, env, proc.Pinned(cpus, bin)...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := node.Client.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &imgproxy{p: p, addr: addr}, nil
			}
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop(5 * time.Second)
			return nil, fmt.Errorf("imgproxy did not become healthy on %s:\n%s", addr, p.Tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// imgproxyVersion asks the binary (`imgproxy version`).
func imgproxyVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
