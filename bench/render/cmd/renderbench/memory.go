package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

// memCopies is how many copies of each source the RSS test uploads.
const memCopies = 8

// memResult is the RSS test of one deployment: the dev node, or an edge
// and an origin started apart.
type memResult struct {
	split bool
	// The fill: large derivatives until the tier's worth has been served.
	fillServed int64
	fillN      int
	fillTime   time.Duration
	fillStop   string
	peakFill   [2]int64 // VmRSS kB: edge or dev, origin
	// The mixed load.
	dur        time.Duration
	renders    float64
	hits       float64
	misses     float64
	errs       int
	hitReqs    int64
	renderReqs int64
	largeReqs  int64
	served     int64
	peakMixed  [2]int64
	peakSum    int64 // the largest sum of simultaneous samples (split)
	hwm        [2]int64
	end        [2]int64
	anon       [2]int64
	heapInuse  [2]float64
	goSys      [2]float64
	ramBytes   float64
	timeline   []string // RSS every 10 s of the mixed load
	hitSetSize int
}

// memoryBench: a fresh node with a cfg.cacheBytes RAM tier; large
// derivatives fill the tier; then cfg.memDur of mixed load: hits over a
// warmed set, renders of the four workloads, and more large derivatives
// (so the tier keeps evicting). RSS is sampled every 100 ms.
func memoryBench(ctx context.Context, cfg config, ps *proc.Group, tmp string, rep *report, photo, alpha *source, wls []*workload, split bool) error {
	name := "dev"
	if split {
		name = "split"
	}
	dir := filepath.Join(tmp, "mem-"+name)
	// Split: the origin shares the edge's CPUs, and both log as refract
	// does by default.
	o := node.Options{Bin: cfg.refract, Dir: dir, CPUs: cfg.serverCPUs, OriginCPUs: cfg.serverCPUs, CacheBytes: cfg.cacheBytes}
	var n *node.Node
	var err error
	if split {
		n, err = node.StartSplit(ctx, ps, o)
	} else {
		n, err = node.StartDev(ps, o)
	}
	if err != nil {
		return err
	}
	defer n.Stop(15 * time.Second)
	pids := []int{n.P.Pid()}
	if n.Origin != nil {
		pids = append(pids, n.Origin.Pid())
	}
	fmt.Printf("renderbench: RSS test (%s): pids %v, RAM tier %d MiB\n", name, pids, cfg.cacheBytes>>20)
	assets := map[string][]*node.Asset{}
	for _, s := range []*source{photo, alpha} {
		for c := range memCopies {
			a, err := n.Upload(s.publicID(c), s.ext, s.body)
			if err != nil {
				return err
			}
			assets[s.name] = append(assets[s.name], a)
		}
	}
	m := &memResult{split: split}
	smp := proc.SampleRSS(100*time.Millisecond, pids...)
	url := func(wl *workload, i int) string {
		c, w := seq(wl, memCopies, i)
		return "http://" + n.Edge + n.DeliveryPath(assets[wl.src.name][c], wl.refractTx(w), wl.ext)
	}
	// Large derivatives: 2000–3000 px JPEGs at q95, a few MB each.
	var largeNext atomic.Int64
	large := func() string {
		i := int(largeNext.Add(1)) - 1
		a := assets["photo"][i%memCopies]
		return "http://" + n.Edge + n.DeliveryPath(a, fmt.Sprintf("c_scale,q_95,w_%d", 3000-i/memCopies), "jpg")
	}
	// The hit set: a few derivatives of each workload, warmed.
	var hitSet []string
	for _, wl := range wls {
		k := 3
		if wl.key == "jpeg300" {
			k = 12
		}
		for i := range k {
			u := url(wl, i) // the mixed load renders from index 12 on
			for range 2 {
				st, _, _, err := node.Get(ctx, u)
				if err != nil {
					return err
				}
				if st != 200 {
					return fmt.Errorf("RSS test: %s: HTTP %d", u, st)
				}
			}
			hitSet = append(hitSet, u)
		}
	}
	m.hitSetSize = len(hitSet)

	// Fill.
	t0 := time.Now()
	fctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	var served, filled atomic.Int64
	var wg sync.WaitGroup
	c := newClient(4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fctx.Err() == nil && served.Load() < cfg.cacheBytes {
				st, _, b, err := node.GetWith(fctx, c, large())
				if err == nil && st == 200 {
					served.Add(int64(len(b)))
					filled.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := ctx.Err(); err != nil {
		return err
	}
	m.fillTime, m.fillServed, m.fillN = time.Since(t0), served.Load(), int(filled.Load())
	m.fillStop = "the tier's worth served"
	if m.fillServed < cfg.cacheBytes {
		m.fillStop = "time limit (90 s)"
	}
	copy(m.peakFill[:], smp.Peaks())
	smp.Reset()
	fmt.Printf("  fill: %d large derivatives, %s in %s; RSS peak %s\n", m.fillN, mdfmt.MiB(m.fillServed/1024), m.fillTime.Round(time.Second), mdfmt.MiB(m.peakFill[0]+m.peakFill[1]))

	// Mixed load.
	before, err := n.Counters()
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, cfg.memDur)
	defer cancel()
	var hitReqs, renderReqs, largeReqs, bytesServed, errs atomic.Int64
	hc := newClient(4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; mctx.Err() == nil; i += 4 {
				st, _, b, err := node.GetWith(mctx, hc, hitSet[i%len(hitSet)])
				if mctx.Err() != nil {
					return
				}
				if err != nil || st != 200 {
					errs.Add(1)
					continue
				}
				hitReqs.Add(1)
				bytesServed.Add(int64(len(b)))
			}
		}()
	}
	wg.Add(2)
	go func() { // the four workloads in turn, each request a new derivative
		defer wg.Done()
		for i := 0; mctx.Err() == nil; i++ {
			st, _, b, err := node.GetWith(mctx, c, url(wls[i%len(wls)], 12+i/len(wls)))
			if mctx.Err() != nil {
				return
			}
			if err != nil || st != 200 {
				errs.Add(1)
				continue
			}
			renderReqs.Add(1)
			bytesServed.Add(int64(len(b)))
		}
	}()
	go func() { // large derivatives: the tier keeps evicting
		defer wg.Done()
		for mctx.Err() == nil {
			st, _, b, err := node.GetWith(mctx, c, large())
			if mctx.Err() != nil {
				return
			}
			if err != nil || st != 200 {
				errs.Add(1)
				continue
			}
			largeReqs.Add(1)
			bytesServed.Add(int64(len(b)))
		}
	}()
	tick := time.NewTicker(10 * time.Second)
	t1 := time.Now()
loop:
	for {
		select {
		case <-mctx.Done():
			break loop
		case <-tick.C:
			var parts []string
			for _, pid := range pids {
				kb, _ := proc.StatusKB(pid, "VmRSS")
				parts = append(parts, mdfmt.MiB(kb))
			}
			m.timeline = append(m.timeline, fmt.Sprintf("%ds: %s", int(time.Since(t1).Seconds()+0.5), strings.Join(parts, " + ")))
		}
	}
	tick.Stop()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	m.dur = time.Since(t1)
	copy(m.peakMixed[:], smp.Peaks())
	m.peakSum = smp.PeakSum()
	smp.Stop()
	after, err := n.Counters()
	if err != nil {
		return err
	}
	m.renders = after["refract_renders_total"] - before["refract_renders_total"]
	m.hits = after["edge_hit"] - before["edge_hit"]
	m.misses = after["edge_miss"] - before["edge_miss"]
	m.ramBytes = after["ram_bytes"]
	m.hitReqs, m.renderReqs, m.largeReqs, m.served, m.errs = hitReqs.Load(), renderReqs.Load(), largeReqs.Load(), bytesServed.Load(), int(errs.Load())
	for i, pid := range pids {
		m.hwm[i], _ = proc.StatusKB(pid, "VmHWM")
		m.end[i], _ = proc.StatusKB(pid, "VmRSS")
		m.anon[i], _ = proc.StatusKB(pid, "RssAnon")
	}
	if dm, err := n.Metrics(); err == nil {
		m.heapInuse[0], m.goSys[0] = dm["go_memstats_heap_inuse_bytes"], dm["go_memstats_sys_bytes"]
	}
	if n.OriginOps != "" {
		if om, err := node.Scrape(n.OriginOps); err == nil {
			m.heapInuse[1], m.goSys[1] = om["go_memstats_heap_inuse_bytes"], om["go_memstats_sys_bytes"]
		}
	}
	if n.Exited() {
		return fmt.Errorf("refract exited during the RSS test:\n%s", n.Tail())
	}
	fmt.Printf("  mixed %s: %d hits, %d renders, %d large; RSS peak %s, VmHWM %s\n", m.dur.Round(time.Second), m.hitReqs, m.renderReqs, m.largeReqs,
		mdfmt.MiB(max(m.peakSum, m.peakMixed[0]+m.peakMixed[1])), mdfmt.MiB(m.hwm[0]+m.hwm[1]))
	rep.mems = append(rep.mems, m)
	return nil
}
