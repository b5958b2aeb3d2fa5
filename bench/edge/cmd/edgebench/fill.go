package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

// fillResult is one RSS test: a fresh node, its RAM tier filled with
// distinct renders, then a hit load over the most recent of them.
type fillResult struct {
	env        string
	srcBytes   int
	srcW, srcH int
	requested  int
	ok         int
	status     map[int]int // non-200 answers by status
	netErrs    int
	bodyBytes  int64 // bytes of the 200 answers
	elapsed    time.Duration
	stopReason string
	fillPeak   int64 // VmRSS kB, max during the fill
	rssAfter   int64 // VmRSS kB once the fill is over
	heapInuse  float64
	goSys      float64
	load       wrkResult
	loadPaths  int
	loadPeak   int64 // VmRSS kB, max during the hit load
	loadHits   float64
	loadMisses float64
	loadErrs   float64
	hwm        int64 // VmHWM kB at the end: the process's peak
	rssStart   int64 // VmRSS kB after the upload, before the fill
	anon, file int64 // RssAnon and RssFile kB at the end
}

// fillQualities are the passes of fillPaths: high qualities first, so
// each render adds many bytes to the tier and the fill stays short.
var fillQualities = []string{"q_100", "q_99", "q_98", "q_97"}

// fillPaths yields distinct derivatives of the source: every width from
// the source's down to half of it, at each of fillQualities.
func fillPaths(n *node.Node, a *node.Asset, max int) []string {
	var out []string
	for _, q := range fillQualities {
		for w := a.Width; w >= a.Width/2 && len(out) < max; w-- {
			out = append(out, n.DeliveryPath(a, fmt.Sprintf("c_scale,%s,w_%d", q, w), "jpg"))
		}
	}
	return out
}

func fillBench(ctx context.Context, cfg config, ps *proc.Group, dir, envName string, env []string, src []byte) (*fillResult, error) {
	fmt.Printf("edgebench: RSS test (%s): fresh node on CPUs %s, --cache-bytes %d\n", envName, cfg.fillCPUs, cfg.cacheBytes)
	n, err := cfg.startNode(ctx, ps, dir, cfg.fillCPUs, cfg.fillCPUs, env)
	if err != nil {
		return nil, err
	}
	defer n.Stop(15 * time.Second)
	a, err := n.Upload("bench/fill", "jpg", src)
	if err != nil {
		return nil, err
	}
	r := &fillResult{env: envName, srcBytes: len(src), srcW: a.Width, srcH: a.Height, status: map[int]int{}}
	paths := fillPaths(n, a, cfg.fillMax)
	r.rssStart, _ = proc.StatusKB(n.P.Pid(), "VmRSS")
	smp := proc.SampleRSS(100*time.Millisecond, n.P.Pid())
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, cfg.fillTime)
	defer cancel()
	var (
		next   atomic.Int64
		total  atomic.Int64
		mu     sync.Mutex
		served []string
		sizes  []int
		wg     sync.WaitGroup
	)
	target := 2 * cfg.cacheBytes
	for range cfg.fillConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil && total.Load() < target {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				st, _, b, err := node.Get(fctx, "http://"+n.Edge+paths[i])
				mu.Lock()
				r.requested++
				switch {
				case err != nil:
					if fctx.Err() == nil {
						r.netErrs++
					}
				case st == http.StatusOK:
					r.ok++
					total.Add(int64(len(b)))
					served = append(served, paths[i])
					sizes = append(sizes, len(b))
				default:
					r.status[st]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.bodyBytes = total.Load()
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case r.bodyBytes >= target:
		r.stopReason = "rendered twice the RAM tier"
	case fctx.Err() != nil:
		r.stopReason = fmt.Sprintf("time limit (%s)", cfg.fillTime)
	default:
		r.stopReason = fmt.Sprintf("request limit (%d)", len(paths))
	}
	r.fillPeak = smp.Stop()
	r.rssAfter, _ = proc.StatusKB(n.P.Pid(), "VmRSS")
	m, err := n.Metrics()
	if err != nil {
		return nil, err
	}
	r.heapInuse, r.goSys = m["go_memstats_heap_inuse_bytes"], m["go_memstats_sys_bytes"]
	fmt.Printf("  fill: %d derivatives, %s of bodies in %s (%s); RSS peak %s, now %s, Go heap in use %s\n",
		r.ok, mdfmt.MiB(r.bodyBytes/1024), r.elapsed.Round(time.Second), r.stopReason, mdfmt.MiB(r.fillPeak), mdfmt.MiB(r.rssAfter), mdfmt.MiB(int64(r.heapInuse)/1024))

	if cfg.fillLoad > 0 && len(served) > 0 && sizes[len(sizes)-1] <= int(cfg.cacheBytes/2) {
		// wrk cycles through the most recent derivatives, as many as
		// fit in half the tier (at most 256), which should all still be
		// there; the counters say how many were.
		first, sum := len(served), 0
		for first > 0 && len(served)-first < 256 && int64(sum+sizes[first-1]) <= cfg.cacheBytes/2 {
			first--
			sum += sizes[first]
		}
		recent := served[first:]
		r.loadPaths = len(recent)
		var lua strings.Builder
		lua.WriteString("local paths = {\n")
		for _, p := range recent {
			fmt.Fprintf(&lua, "  %q,\n", p)
		}
		lua.WriteString("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
		script := filepath.Join(dir, "recent.lua")
		if err := os.WriteFile(script, []byte(lua.String()), 0o644); err != nil {
			return nil, err
		}
		before, err := n.Metrics()
		if err != nil {
			return nil, err
		}
		smp := proc.SampleRSS(100*time.Millisecond, n.P.Pid())
		r.load, err = runWrk(ctx, cfg.clientCPU, 1, 16, cfg.fillLoad, script, "http://"+n.Edge)
		r.loadPeak = smp.Stop()
		if err != nil {
			return nil, err
		}
		after, err := n.Metrics()
		if err != nil {
			return nil, err
		}
		r.loadHits = after["edge_hit"] - before["edge_hit"]
		r.loadMisses = after["edge_miss"] - before["edge_miss"]
		r.loadErrs = after["edge_error"] - before["edge_error"]
		fmt.Printf("  hit load over %d recent derivatives: %.0f req/s, p99 %s, %0.f hits / %0.f misses; RSS peak %s\n",
			r.loadPaths, r.load.ReqPerSec, fmtDur(r.load.P99), r.loadHits, r.loadMisses, mdfmt.MiB(r.loadPeak))
	}
	r.hwm, _ = proc.StatusKB(n.P.Pid(), "VmHWM")
	r.anon, _ = proc.StatusKB(n.P.Pid(), "RssAnon")
	r.file, _ = proc.StatusKB(n.P.Pid(), "RssFile")
	if n.P.Exited() {
		return nil, fmt.Errorf("refract dev exited during the RSS test:\n%s", n.P.Tail(20))
	}
	return r, nil
}
