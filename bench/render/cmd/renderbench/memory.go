package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
func memoryBench(ctx context.Context, cfg config, ps *procs, tmp string, rep *report, photo, alpha *source, wls []*workload, split bool) error {
	name := "dev"
	if split {
		name = "split"
	}
	dir := filepath.Join(tmp, "mem-"+name)
	var n *node
	var err error
	if split {
		n, err = startSplit(ctx, ps, dir, cfg.refract, cfg.serverCPUs, cfg.cacheBytes)
	} else {
		n, err = startDev(ps, dir, cfg.refract, cfg.serverCPUs, cfg.cacheBytes, nil)
	}
	if err != nil {
		return err
	}
	defer n.stop()
	pids := []int{n.p.pid()}
	if n.origin != nil {
		pids = append(pids, n.origin.pid())
	}
	fmt.Printf("renderbench: RSS test (%s): pids %v, RAM tier %d MiB\n", name, pids, cfg.cacheBytes>>20)
	assets := map[string][]*asset{}
	for _, s := range []*source{photo, alpha} {
		for c := range memCopies {
			a, err := n.upload(s.publicID(c), s.ext, s.body)
			if err != nil {
				return err
			}
			assets[s.name] = append(assets[s.name], a)
		}
	}
	m := &memResult{split: split}
	smp := sampleMulti(pids, 100*time.Millisecond)
	url := func(wl *workload, i int) string {
		c, w := seq(wl, memCopies, i)
		return "http://" + n.edge + n.deliveryPath(assets[wl.src.name][c], wl.refractTx(w), wl.ext)
	}
	// Large derivatives: 2000–3000 px JPEGs at q95, a few MB each.
	var largeNext atomic.Int64
	large := func() string {
		i := int(largeNext.Add(1)) - 1
		a := assets["photo"][i%memCopies]
		return "http://" + n.edge + n.deliveryPath(a, fmt.Sprintf("c_scale,q_95,w_%d", 3000-i/memCopies), "jpg")
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
				st, _, _, err := get(ctx, u)
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
				st, _, b, err := getWith(fctx, c, large())
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
	m.peakFill = smp.peaks()
	smp.reset()
	fmt.Printf("  fill: %d large derivatives, %s in %s; RSS peak %s\n", m.fillN, fmtMiB(m.fillServed/1024), m.fillTime.Round(time.Second), fmtMiB(m.peakFill[0]+m.peakFill[1]))

	// Mixed load.
	before, err := n.counters()
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
				st, _, b, err := getWith(mctx, hc, hitSet[i%len(hitSet)])
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
			st, _, b, err := getWith(mctx, c, url(wls[i%len(wls)], 12+i/len(wls)))
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
			st, _, b, err := getWith(mctx, c, large())
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
				kb, _ := procStatusKB(pid, "VmRSS")
				parts = append(parts, fmtMiB(kb))
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
	m.peakMixed = smp.peaks()
	m.peakSum = smp.peakSum()
	smp.stop()
	after, err := n.counters()
	if err != nil {
		return err
	}
	m.renders = after["refract_renders_total"] - before["refract_renders_total"]
	m.hits = after["edge_hit"] - before["edge_hit"]
	m.misses = after["edge_miss"] - before["edge_miss"]
	m.ramBytes = after["ram_bytes"]
	m.hitReqs, m.renderReqs, m.largeReqs, m.served, m.errs = hitReqs.Load(), renderReqs.Load(), largeReqs.Load(), bytesServed.Load(), int(errs.Load())
	for i, pid := range pids {
		m.hwm[i], _ = procStatusKB(pid, "VmHWM")
		m.end[i], _ = procStatusKB(pid, "VmRSS")
		m.anon[i], _ = procStatusKB(pid, "RssAnon")
	}
	if dm, err := metrics(n.ops); err == nil {
		m.heapInuse[0], m.goSys[0] = dm["go_memstats_heap_inuse_bytes"], dm["go_memstats_sys_bytes"]
	}
	if n.opsO != "" {
		if om, err := metrics(n.opsO); err == nil {
			m.heapInuse[1], m.goSys[1] = om["go_memstats_heap_inuse_bytes"], om["go_memstats_sys_bytes"]
		}
	}
	if n.exited() {
		return fmt.Errorf("refract exited during the RSS test:\n%s", n.tail())
	}
	fmt.Printf("  mixed %s: %d hits, %d renders, %d large; RSS peak %s, VmHWM %s\n", m.dur.Round(time.Second), m.hitReqs, m.renderReqs, m.largeReqs,
		fmtMiB(max(m.peakSum, m.peakMixed[0]+m.peakMixed[1])), fmtMiB(m.hwm[0]+m.hwm[1]))
	rep.mems = append(rep.mems, m)
	return nil
}

func getWith(ctx context.Context, c *http.Client, u string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), b, err
}

// multiSampler records the largest VmRSS of each process, and of their
// sum at one instant.
type multiSampler struct {
	mu    sync.Mutex
	max   [2]int64
	sum   int64
	stopc chan struct{}
	done  chan struct{}
}

func sampleMulti(pids []int, every time.Duration) *multiSampler {
	s := &multiSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var sum int64
			s.mu.Lock()
			for i, pid := range pids {
				if kb, err := procStatusKB(pid, "VmRSS"); err == nil {
					s.max[i] = max(s.max[i], kb)
					sum += kb
				}
			}
			s.sum = max(s.sum, sum)
			s.mu.Unlock()
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *multiSampler) peaks() [2]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

func (s *multiSampler) peakSum() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

func (s *multiSampler) reset() {
	s.mu.Lock()
	s.max, s.sum = [2]int64{}, 0
	s.mu.Unlock()
}

func (s *multiSampler) stop() {
	close(s.stopc)
	<-s.done
}

// startSplit starts `refract origin` and `refract edge` from generated
// configurations (local store, no disk tier), on loopback ports.
func startSplit(ctx context.Context, ps *procs, dir, bin, cpus string, cacheBytes int64) (*node, error) {
	n := &node{cloud: "bench", apiKey: randomDigits(15), apiSecret: randomHex(27)}
	for _, d := range []string{"data", "store"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	var err error
	addrs := make([]string, 4)
	for i := range addrs {
		if addrs[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	n.edge, n.ops, n.api, n.opsO = addrs[0], addrs[1], addrs[2], addrs[3]
	secret := randomHex(32)
	clouds := fmt.Sprintf("clouds:\n  - name: %s\n    api_key: %q\n    api_secret: %q\n", n.cloud, n.apiKey, n.apiSecret)
	origin := fmt.Sprintf("listen: %s\nops_listen: %s\nstore: %s\ndata: %s\npublic_url: http://%s\npeer_secret: %q\n%s",
		n.api, n.opsO, filepath.Join(dir, "store"), filepath.Join(dir, "data"), n.edge, secret, clouds)
	edge := fmt.Sprintf("listen: %s\nops_listen: %s\norigins:\n  - %s\npeer_secret: %q\n%scache:\n  ram_bytes: %d\n  disk_dir: \"\"\n",
		n.edge, n.ops, n.api, secret, clouds, cacheBytes)
	oc, ec := filepath.Join(dir, "origin.yaml"), filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(oc, []byte(origin), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(ec, []byte(edge), 0o600); err != nil {
		return nil, err
	}
	argv := func(args ...string) []string {
		a := append([]string{bin}, args...)
		if cpus != "" {
			a = append([]string{"taskset", "-c", cpus}, a...)
		}
		return a
	}
	if n.origin, err = ps.start("origin", filepath.Join(dir, "origin.log"), syscall.SIGTERM, nil, nil, argv("origin", "--config", oc)...); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, n.opsO, n.origin); err != nil {
		n.origin.stop(5 * time.Second)
		return nil, err
	}
	if n.p, err = ps.start("edge", filepath.Join(dir, "edge.log"), syscall.SIGTERM, nil, nil, argv("edge", "--config", ec)...); err != nil {
		n.origin.stop(5 * time.Second)
		return nil, err
	}
	if err := waitReady(ctx, n.ops, n.p); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

func waitReady(ctx context.Context, ops string, p *proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://" + ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready on %s:\n%s", p.name, ops, p.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
