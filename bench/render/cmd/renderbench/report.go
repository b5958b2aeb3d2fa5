package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

type report struct {
	cfg         config
	start, end  time.Time
	host, cpu   string
	ncpu        int
	kernel      string
	goVersion   string
	refractVer  string
	imgproxyVer string
	vipsVer     string
	nginxVer    string
	loadBefore  string
	loadAfter   string
	sources     []*source
	workloads   []*workload
	runs        map[string][]*runResult // by workload key
	profiles    []*profile
	profileNote string
	coalesce    *coalesceResult
	mems        []*memResult
	edgeMD      string
	edgeCmd     string
	purges      []purgeResult
	purgeTook   time.Duration
}

func (r *report) env(ctx context.Context) {
	r.host, _ = os.Hostname()
	r.cpu = proc.CPUModel()
	r.ncpu = runtime.NumCPU()
	r.kernel = proc.KernelRelease()
	r.goVersion = runtime.Version()
	r.refractVer = r.cfg.version
	if r.refractVer == "" {
		r.refractVer = node.Version(ctx, r.cfg.refract)
	}
	if r.cfg.want("render") || r.cfg.want("coalesce") {
		r.imgproxyVer = imgproxyVersion(ctx, r.cfg.imgproxy)
	}
	out, _ := exec.CommandContext(ctx, "pkg-config", "--modversion", "vips").Output()
	r.vipsVer = strings.TrimSpace(string(out))
	ng := "nginx"
	if _, err := exec.LookPath(ng); err != nil {
		ng = "/usr/sbin/nginx"
	}
	out, _ = exec.CommandContext(ctx, ng, "-v").CombinedOutput()
	r.nginxVer = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
	r.loadBefore = proc.Loadavg()
}

func (r *report) haveServerRuns() bool {
	for _, rs := range r.runs {
		for _, x := range rs {
			if x.side == "refract" {
				return true
			}
		}
	}
	return false
}

func (r *report) addRun(wl *workload, res *runResult) {
	if r.runs == nil {
		r.runs = map[string][]*runResult{}
	}
	r.runs[wl.key] = append(r.runs[wl.key], res)
}

// sideRuns are the runs of one side of a workload at one concurrency, by round.
func (r *report) sideRuns(wl *workload, side string, conc int) []*runResult {
	var out []*runResult
	for _, res := range r.runs[wl.key] {
		if res.side == side && res.conc == conc {
			out = append(out, res)
		}
	}
	slices.SortFunc(out, func(a, b *runResult) int { return a.round - b.round })
	return out
}

// ratio is the median and range over rounds of f(refract)/f(anchor).
func (r *report) ratio(wl *workload, anchor string, conc int, f func(*runResult) float64) (med, lo, hi float64, ok bool) {
	a, b := r.sideRuns(wl, "refract", conc), r.sideRuns(wl, anchor, conc)
	var rs []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d > 0 {
			rs = append(rs, f(a[i])/d)
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0, false
	}
	return mdfmt.Median(rs), slices.Min(rs), slices.Max(rs), true
}

func rpsOf(x *runResult) float64 { return x.rps() }

// perCPU is requests per second of the server's own CPU time.
func perCPU(x *runResult) float64 {
	if x.cpu <= 0 {
		return 0
	}
	return float64(x.n) / x.cpu
}

// renderMet: Refract at or above the target against imgproxy at every
// concurrency (median over rounds).
func (r *report) renderMet(wl *workload) bool {
	for _, c := range r.cfg.concs {
		m, _, _, ok := r.ratio(wl, "imgproxy", c, rpsOf)
		if !ok || m < r.cfg.target {
			return false
		}
	}
	return true
}

func medOf(rs []*runResult, f func(*runResult) float64) float64 {
	xs := make([]float64, 0, len(rs))
	for _, x := range rs {
		xs = append(xs, f(x))
	}
	return mdfmt.Median(xs)
}

func yesNo(b bool) string {
	if b {
		return "**met**"
	}
	return "**not met**"
}

func fmtRatio(m, lo, hi float64) string {
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", m, lo, hi)
}

// fmtDur gives milliseconds one decimal: renders take tens to hundreds
// (edgebench's RAM hits need two).
func fmtDur(d time.Duration) string { return mdfmt.Duration(d, 1) }

// Save writes the report as <out>/<date>-<host>.md, or with the time
// added if that exists.
func (r *report) Save() error {
	path, err := mdfmt.Save(r.cfg.outDir, mdfmt.ReportName(r.start, r.host), r.start, r.markdown())
	if err != nil {
		return err
	}
	fmt.Println("\nreport written to", path)
	return nil
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	cfg := r.cfg
	p("# Benchmarks against the anchors, %s, %s\n\n", r.start.Format("2006-01-02"), r.host)
	flags := "default flags"
	if cfg.flags != "" {
		flags = "`BENCH_FLAGS='" + cfg.flags + "'`"
	}
	p("`make bench` (`bench/render/cmd/renderbench`), %s, started %s, took %s. Every figure is a ratio against an anchor measured in the same run on the same machine; the raw numbers follow each ratio.\n\n",
		flags, r.start.UTC().Format("15:04 UTC"), r.end.Sub(r.start).Round(time.Second))
	p("- Machine: %s, %d CPUs, Linux %s. Load average %s at the start, %s at the end: the machine is shared and noisy, so absolute figures drift between runs while ratios within a round hold better.\n", r.cpu, r.ncpu, r.kernel, r.loadBefore, r.loadAfter)
	p("- Versions: refract %s (%s), imgproxy %s (built from the module cache), libvips %s, %s.\n", r.refractVer, r.goVersion, r.imgproxyVer, r.vipsVer, r.nginxVer)
	pin := "unpinned: Refract and imgproxy may use both cores (GOMAXPROCS 2 each), as does the load generator (this process; it mostly waits)"
	if cfg.serverCPUs != "" {
		pin = fmt.Sprintf("Refract and imgproxy both on CPUs %s (`taskset -c %s`), the load generator unpinned", cfg.serverCPUs, cfg.serverCPUs)
	}
	p("- CPU pinning (renders, coalescing, RSS): %s. Only one server is under load at a time; the other idles. The edge-vs-nginx section pins as it says.\n", pin)
	for _, s := range r.sources {
		p("- Source `%s`: %s.\n", s.name, s.about)
	}
	p("\n")
	r.summary(&b)
	if r.haveServerRuns() {
		r.renderSection(&b)
	}
	if r.coalesce != nil {
		r.coalesceSection(&b)
	}
	if len(r.mems) > 0 {
		r.memSection(&b)
	}
	if len(r.profiles) > 0 || r.profileNote != "" {
		r.profileSection(&b)
	}
	if len(r.purges) > 0 {
		r.purgeSection(p)
	}
	if r.edgeMD != "" {
		p("## Edge RAM hits against nginx\n\n`%s`, run by `make bench`; its own report follows, headings one level down.\n\n", r.edgeCmd)
		for _, line := range strings.Split(strings.TrimRight(r.edgeMD, "\n"), "\n") {
			if strings.HasPrefix(line, "#") {
				line = "##" + line
			}
			p("%s\n", line)
		}
		p("\n")
	}
	if len(r.runs) > 0 {
		r.rawSection(&b)
	}
	return b.String()
}

func (r *report) summary(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	cfg := r.cfg
	p("## Summary\n\n| Figure | Refract | Anchor | Ratio (median over rounds, range) | Target | |\n|---|---|---|---|---|---|\n")
	for _, wl := range r.workloads {
		for _, c := range cfg.concs {
			m, lo, hi, ok := r.ratio(wl, "imgproxy", c, rpsOf)
			if !ok {
				continue
			}
			p("| Render req/s, %s, concurrency %d | %.1f | imgproxy %.1f | %s | ≥ %.2f× | %s |\n", wl.label, c,
				medOf(r.sideRuns(wl, "refract", c), rpsOf), medOf(r.sideRuns(wl, "imgproxy", c), rpsOf), fmtRatio(m, lo, hi), cfg.target, yesNo(m >= cfg.target))
		}
	}
	for _, wl := range r.workloads {
		for _, c := range cfg.concs {
			m, lo, hi, ok := r.ratio(wl, "ceiling", c, rpsOf)
			if !ok {
				continue
			}
			p("| Render req/s against the in-process ceiling, %s, c=%d | %.1f | Render() in-process %.1f | %s | – | |\n", wl.key, c,
				medOf(r.sideRuns(wl, "refract", c), rpsOf), medOf(r.sideRuns(wl, "ceiling", c), rpsOf), fmtRatio(m, lo, hi))
		}
	}
	if co := r.coalesce; co != nil {
		p("| Renders for %d concurrent cold requests of one URL | %.0f | imgproxy: %d (one per request) | %.2f× of imgproxy's CPU time, %.2f× its wall time | 1 render | %s |\n",
			co.refract.n, co.refract.renders, co.imgproxy.ok, co.refract.cpu/max(co.imgproxy.cpu, 0.01), co.refract.wall.Seconds()/co.imgproxy.wall.Seconds(), yesNo(co.refract.renders == 1 && co.refract.ok == co.refract.n))
	}
	for _, m := range r.mems {
		peak, what := m.peakMixed[0], "dev node (edge + origin in one process)"
		if m.split {
			peak, what = m.peakSum, "edge + origin as two processes (sum)"
		}
		hwm := m.hwm[0] + m.hwm[1]
		p("| Peak RSS, %s, %s mixed load, %d MiB RAM tier | %s (VmHWM %s) | %d MiB target | %.2f× of the target | < %d MiB | %s |\n",
			what, m.dur.Round(time.Second), cfg.cacheBytes>>20, mdfmt.MiB(peak), mdfmt.MiB(hwm), cfg.memTargetMB, float64(max(peak, hwm))/1024/float64(cfg.memTargetMB), cfg.memTargetMB, yesNo(max(peak, hwm) < cfg.memTargetMB*1024))
	}
	if len(r.purges) > 0 {
		p99 := r.purgeP99()
		p("| Purge propagation p99, API call → all 3 edges miss, 200 purges | %.1f ms (median of %d runs) | – | – | < 150 ms | %s |\n", p99, len(r.purges), yesNo(p99 < 150))
	}
	if r.edgeMD != "" {
		p("| Edge RAM hits against nginx | see [below](#edge-ram-hits-against-nginx) | nginx | per size, below | – | |\n")
	}
	p("\n")
}

func (r *report) renderSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	cfg := r.cfg
	p("## Renders against imgproxy %s\n\n", r.imgproxyVer)
	p("Method:\n\n")
	p("- **Refract:** `refract dev` (edge and origin in one process, local store), requests to its edge, as a browser's would go: each is a miss, forwarded over loopback to the origin's derive endpoint, rendered, stored as a derivative, cached in RAM and answered. **imgproxy:** `IMGPROXY_LOCAL_FILESYSTEM_ROOT` on files of the same bytes, `/insecure/<options>/plain/local:///<file>@<ext>`; imgproxy has no cache.\n")
	p("- **Every request is a cold render, on both sides.** Each source is uploaded %d times (distinct assets, identical bytes; imgproxy gets %d files) and the sequence of requests walks the copies, then moves the size by a pixel (base, +1, −1, +2, …), so no URL repeats in the whole run. Both sides get the same sequence. Refract's counters prove it: every run's `refract_renders_total` delta equals its requests, and the edge counts no hit (raw table).\n", cfg.copies, cfg.copies)
	p("- **Runs:** closed loop, concurrency %s, each run at most %d requests or %s, whichever ends first; %d rounds, the two sides back to back in each, alternating which goes first. One unmeasured warm-up request per workload and side. Ratios are taken per round; the median is given with the range.\n", joinInts(cfg.concs), cfg.count, cfg.dur, cfg.rounds)
	p("- **Same output settings.** Quality is in every URL (q80 JPEG and WebP, q60 AVIF). JPEG: both `optimize_coding`, baseline, stripped. WebP: effort 4 on both (imgproxy's `IMGPROXY_WEBP_EFFORT=4`, libvips' default in Refract). AVIF: AV1, 8-bit, effort 1 on both: Refract's `avifEffort` gives effort 1 to outputs of 0.4–2 MP, and imgproxy's `IMGPROXY_AVIF_SPEED=8` is effort 9−8 = 1. PNG: both lossless, no palette, no interlace; imgproxy sets `filter=ALL` (tries every PNG filter per row: slower, smaller), Refract leaves libvips' default, which imgproxy offers no setting to match. Resampling and shrink-on-load are each side's own choice. imgproxy's env: `%s`.\n", strings.Join(imgproxyEnv, " "))
	p("- **Ceiling:** `origin/render.Render` called in this process on the same bytes with the same transformation sequence and concurrency: Refract's own render path with no HTTP, store or cache.\n")
	p("- **AVIF source:** the 4000×3000 JPEG, scaled to 1200 px wide (1200×900, 1.08 MP).\n\n")
	p("| Workload | c | Refract req/s | imgproxy req/s | Refract/imgproxy | per server CPU-s, Refract/imgproxy | ceiling req/s | Refract/ceiling | p50 Refract / imgproxy | p99 Refract / imgproxy | output bytes Refract / imgproxy |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, wl := range r.workloads {
		for _, c := range cfg.concs {
			ref, ipx, ceil := r.sideRuns(wl, "refract", c), r.sideRuns(wl, "imgproxy", c), r.sideRuns(wl, "ceiling", c)
			if len(ref) == 0 {
				continue
			}
			m, lo, hi, _ := r.ratio(wl, "imgproxy", c, rpsOf)
			cm, clo, chi, _ := r.ratio(wl, "imgproxy", c, perCPU)
			ceilS, ceilR := "–", "–"
			if len(ceil) > 0 {
				x, y, z, _ := r.ratio(wl, "ceiling", c, rpsOf)
				ceilS, ceilR = fmt.Sprintf("%.1f", medOf(ceil, rpsOf)), fmtRatio(x, y, z)
			}
			p("| %s | %d | %.1f | %.1f | **%s** | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n", wl.label, c,
				medOf(ref, rpsOf), medOf(ipx, rpsOf), fmtRatio(m, lo, hi), fmtRatio(cm, clo, chi), ceilS, ceilR,
				fmtDur(time.Duration(medOf(ref, p50))), fmtDur(time.Duration(medOf(ipx, p50))),
				fmtDur(time.Duration(medOf(ref, p99))), fmtDur(time.Duration(medOf(ipx, p99))),
				mdfmt.Bytes(int(medOf(ref, (*runResult).meanBytes))), mdfmt.Bytes(int(medOf(ipx, (*runResult).meanBytes))))
		}
	}
	p("\nreq/s, latencies and bytes are medians over rounds (bytes: the mean body of a run). \"Per server CPU-s\" is requests per second of the server process's own CPU time (user+system from /proc): it moves less with the neighbours' load than req/s.\n\n")
	met := 0
	for _, wl := range r.workloads {
		if r.renderMet(wl) {
			met++
		}
	}
	p("**Target: renders at ≥ %.2f× imgproxy's req/s at every concurrency:** %s (%d of %d workloads meet it at all concurrencies).\n\n", cfg.target, yesNo(met == len(r.workloads)), met, len(r.workloads))
}

func p50(x *runResult) float64 { return float64(x.pct(0.5)) }
func p99(x *runResult) float64 { return float64(x.pct(0.99)) }

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, " and ")
}

func (r *report) coalesceSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	co := r.coalesce
	p("## Coalescing: %d concurrent cold requests for one URL\n\n", co.refract.n)
	p("All %d requests are released at once on %d connections, for a URL neither side has rendered: Refract `%s` (a 1000 px JPEG q80 of the photo), imgproxy `%s`. Refract's edge makes one origin fetch and the rest wait on it (singleflight); imgproxy renders every request (%s workers by default: 2 per CPU).\n\n", co.refract.n, co.refract.n, co.tx, co.ipx, "its")
	p("| | 200s | renders | coalesced (edge counter) | wall time, first sent to last answered | p50 / slowest answer | server CPU time |\n|---|---|---|---|---|---|---|\n")
	p("| Refract | %d of %d | **%.0f** | %.0f | %s | %s / %s | %.2f s |\n", co.refract.ok, co.refract.n, co.refract.renders, co.refract.coalesce, fmtDur(co.refract.wall), fmtDur(co.refract.p50), fmtDur(co.refract.max), co.refract.cpu)
	p("| imgproxy | %d of %d | %d (one per request) | – | %s | %s / %s | %.2f s |\n\n", co.imgproxy.ok, co.imgproxy.n, co.imgproxy.ok, fmtDur(co.imgproxy.wall), fmtDur(co.imgproxy.p50), fmtDur(co.imgproxy.max), co.imgproxy.cpu)
	p("Refract used %.2f× imgproxy's CPU time and %.2f× its wall time for the burst.\n\n", co.refract.cpu/max(co.imgproxy.cpu, 0.01), co.refract.wall.Seconds()/co.imgproxy.wall.Seconds())
}

func (r *report) memSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	cfg := r.cfg
	p("## Memory: RSS with a %d MiB RAM tier under a mixed load\n\n", cfg.cacheBytes>>20)
	p("A fresh node, Go's defaults (no `GOMEMLIMIT`), `MALLOC_ARENA_MAX` as the environment has it (`make bench` exports 2, as `make run` does). %d copies of each source are uploaded; a hit set of derivatives of the four workloads is warmed; then **fill**: 1000–3000 px JPEGs at q95 (a few MB each) on two connections until the tier's worth of bodies has been served (at most 90 s); then **%s mixed**: 4 connections cycling through the hit set, one rendering the four workloads in turn (each request a new derivative), one rendering more large JPEGs so the tier keeps evicting. VmRSS of each process is sampled every 100 ms; VmHWM is read at the end.\n\n", memCopies, cfg.memDur)
	p("| Deployment | fill | mixed load: hits / renders / large | edge counters (hits / misses) / origin renders | RAM tier at the end | peak RSS, fill | peak RSS, mixed | VmHWM | RssAnon at the end | Go heap in use / Go sys | < %d MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n", cfg.memTargetMB)
	for _, m := range r.mems {
		what := "`refract dev`"
		peakF, peakM := mdfmt.MiB(m.peakFill[0]), mdfmt.MiB(m.peakMixed[0])
		hwm, anon := mdfmt.MiB(m.hwm[0]), mdfmt.MiB(m.anon[0])
		heap := fmt.Sprintf("%s / %s", mdfmt.MiB(int64(m.heapInuse[0])/1024), mdfmt.MiB(int64(m.goSys[0])/1024))
		worst := max(m.peakMixed[0], m.peakFill[0], m.hwm[0])
		if m.split {
			what = "`refract edge` + `refract origin`"
			peakF = fmt.Sprintf("%s + %s", mdfmt.MiB(m.peakFill[0]), mdfmt.MiB(m.peakFill[1]))
			peakM = fmt.Sprintf("%s + %s (sum at one instant %s)", mdfmt.MiB(m.peakMixed[0]), mdfmt.MiB(m.peakMixed[1]), mdfmt.MiB(m.peakSum))
			hwm = fmt.Sprintf("%s + %s", mdfmt.MiB(m.hwm[0]), mdfmt.MiB(m.hwm[1]))
			anon = fmt.Sprintf("%s + %s", mdfmt.MiB(m.anon[0]), mdfmt.MiB(m.anon[1]))
			heap = fmt.Sprintf("edge %s / %s, origin %s / %s", mdfmt.MiB(int64(m.heapInuse[0])/1024), mdfmt.MiB(int64(m.goSys[0])/1024), mdfmt.MiB(int64(m.heapInuse[1])/1024), mdfmt.MiB(int64(m.goSys[1])/1024))
			worst = max(m.peakSum, m.hwm[0]+m.hwm[1])
		}
		tier := "–"
		if m.ramBytes > 0 {
			tier = mdfmt.MiB(int64(m.ramBytes) / 1024)
		}
		p("| %s | %d derivatives, %s in %s (%s) | %d / %d / %d, %s served, %d errors | %.0f / %.0f / %.0f | %s | %s | %s | %s | %s | %s | %s |\n",
			what, m.fillN, mdfmt.MiB(m.fillServed/1024), m.fillTime.Round(time.Second), m.fillStop, m.hitReqs, m.renderReqs, m.largeReqs, mdfmt.MiB(m.served/1024), m.errs,
			m.hits, m.misses, m.renders, tier, peakF, peakM, hwm, anon, heap, yesNo(worst < cfg.memTargetMB*1024))
	}
	p("\nRSS every 10 s of the mixed load (edge + origin when split):\n\n")
	for _, m := range r.mems {
		what := "dev"
		if m.split {
			what = "split"
		}
		p("- %s: %s\n", what, strings.Join(m.timeline, ", "))
	}
	p("\n")
}

func (r *report) profileSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Where the time goes\n\n")
	if r.profileNote != "" {
		p("%s.\n\n", r.profileNote)
	}
	if len(r.profiles) == 0 {
		return
	}
	p("For every workload that misses the render target, each server was sampled with `perf record -F 499 -p <pid>` (user and kernel, %s, no call graphs) while a run at concurrency %d drove it with new URLs. Shares are of the samples in that process. Refract is built with symbols; imgproxy is built with `-s -w`, so its Go code shows as the binary, while its libvips and codec libraries are named as Refract's are.\n\n", r.cfg.profileDur, r.profiles[0].conc)
	for _, pr := range r.profiles {
		p("**%s, %s** (%d requests, %.1f req/s during the profile):\n\n```\n", pr.wl.label, pr.side, pr.res.n, pr.res.rps())
		p("by library:\n")
		for _, l := range pr.byDSO {
			p("  %s\n", l)
		}
		p("top symbols:\n")
		for _, l := range pr.bySym {
			p("  %s\n", l)
		}
		p("```\n\n")
	}
}

func (r *report) rawSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Raw render runs\n\n| Workload | c | round | side | requests ok / bad | stopped by | elapsed | req/s | p50 | p99 | mean bytes | server CPU s | Refract renders / edge misses / edge hits |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, wl := range r.workloads {
		runs := slices.Clone(r.runs[wl.key])
		slices.SortStableFunc(runs, func(a, b *runResult) int {
			if a.conc != b.conc {
				return a.conc - b.conc
			}
			if a.round != b.round {
				return a.round - b.round
			}
			return strings.Compare(b.side, a.side)
		})
		for _, x := range runs {
			counters := "–"
			if x.side == "refract" {
				counters = fmt.Sprintf("%.0f / %.0f / %.0f", x.renders, x.misses, x.hits)
			}
			cpu := "–"
			if x.side != "ceiling" {
				cpu = fmt.Sprintf("%.2f", x.cpu)
			}
			p("| %s | %d | %d | %s | %d / %d | %s | %s | %.2f | %s | %s | %.0f | %s | %s |\n", wl.key, x.conc, x.round+1, x.side, x.n, x.bad, x.stopped,
				fmtDur(x.elapsed), x.rps(), fmtDur(x.pct(0.5)), fmtDur(x.pct(0.99)), x.meanBytes(), cpu, counters)
		}
	}
	p("\n")
}
