package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

// coalesceSide is N concurrent cold requests for one URL on one side.
type coalesceSide struct {
	n        int
	ok       int
	statuses map[int]int
	errs     int
	wall     time.Duration // first request sent to last answer
	cpu      float64       // the server's CPU seconds
	p50, max time.Duration
	renders  float64 // Refract only
	coalesce float64 // Refract: refract_edge_coalesced_total
	misses   float64
}

type coalesceResult struct {
	tx, ipx           string
	refract, imgproxy *coalesceSide
}

// coalesceBench sends N requests at once for one URL that neither side
// has rendered (Refract: a size no other run uses), and counts renders.
func coalesceBench(ctx context.Context, cfg config, n *node.Node, ip *imgproxy, a *node.Asset, src *source) (*coalesceResult, error) {
	co := &coalesceResult{tx: "c_scale,q_80,w_1000", ipx: "rs:fit:1000:0/q:80"}
	refURL := "http://" + n.Edge + n.DeliveryPath(a, co.tx, "jpg")
	ipxURL := "http://" + ip.addr + "/insecure/" + co.ipx + "/plain/local:///" + src.file(0) + "@jpg"
	fmt.Printf("renderbench: coalescing: %d concurrent requests for one cold URL\n", cfg.coalesceN)
	before, err := n.Counters()
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	co.refract = burst(ctx, cfg.coalesceN, refURL, n.P.Pid())
	after, err := n.Counters()
	if err != nil {
		return nil, err
	}
	co.refract.renders = after["refract_renders_total"] - before["refract_renders_total"]
	co.refract.coalesce = after["refract_edge_coalesced_total"] - before["refract_edge_coalesced_total"]
	co.refract.misses = after["edge_miss"] - before["edge_miss"]
	time.Sleep(time.Second)
	co.imgproxy = burst(ctx, cfg.coalesceN, ipxURL, ip.p.Pid())
	for _, s := range []struct {
		name string
		r    *coalesceSide
	}{{"refract", co.refract}, {"imgproxy", co.imgproxy}} {
		fmt.Printf("  %-8s %d requests: %d ok, wall %s, server CPU %.2f s, renders %.0f\n", s.name, s.r.n, s.r.ok, fmtDur(s.r.wall), s.r.cpu, s.r.renders)
	}
	return co, nil
}

func burst(ctx context.Context, n int, u string, pid int) *coalesceSide {
	r := &coalesceSide{n: n, statuses: map[int]int{}}
	c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
	defer c.CloseIdleConnections()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		lats  []time.Duration
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := c.Do(req)
			var st int
			if err == nil {
				buf := make([]byte, 32<<10)
				for {
					if _, e := resp.Body.Read(buf); e != nil {
						break
					}
				}
				resp.Body.Close()
				st = resp.StatusCode
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.errs++
				return
			}
			r.statuses[st]++
			if st == http.StatusOK {
				r.ok++
				lats = append(lats, d)
			}
		}()
	}
	cpu0 := proc.CPU(pid)
	t0 := time.Now()
	close(start)
	wg.Wait()
	r.wall = time.Since(t0)
	r.cpu = proc.CPU(pid) - cpu0
	rr := &runResult{lats: lats}
	r.p50, r.max = rr.pct(0.5), rr.pct(1)
	return r
}
