package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

type report struct {
	cfg          config
	start, end   time.Time
	host         string
	cpu          string
	ncpu         int
	kernel       string
	goVersion    string
	refractVer   string
	nginxVersion string
	wrkVersion   string
	loadBefore   string
	loadAfter    string
	cases        []*hitCase
	edgeRSS      int64 // kB, peak VmRSS of the node during the edge runs
	edgeHWM      int64 // kB, the node's VmHWM after the hit runs
	nginxRSS     int64 // kB, peak VmRSS of nginx's worker during its runs
	fills        []*fillResult
}

func (r *report) env(ctx context.Context) {
	r.host, _ = os.Hostname()
	r.cpu = proc.CPUModel()
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		r.ncpu = cpuCount(strings.TrimSpace(string(b)))
	}
	r.kernel = proc.KernelRelease()
	r.goVersion = runtime.Version()
	r.refractVer = r.cfg.version
	if r.refractVer == "" {
		r.refractVer = node.Version(ctx, r.cfg.refract)
	}
	r.nginxVersion = nginxVersion(ctx)
	r.wrkVersion = wrkVersion()
	r.loadBefore = proc.Loadavg()
}

// cpuCount counts a CPU list such as "0-1" or "0,2-3".
func cpuCount(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		var a, b int
		if _, err := fmt.Sscanf(part, "%d-%d", &a, &b); err == nil {
			n += b - a + 1
		} else if _, err := fmt.Sscanf(part, "%d", &a); err == nil {
			n++
		}
	}
	return n
}

// ratio is the median and range of per-round ratios edge/nginx.
func ratio(c *hitCase, f func(wrkResult) float64) (med, lo, hi float64) {
	var rs []float64
	for i := range min(len(c.edge), len(c.nginx)) {
		if d := f(c.nginx[i]); d > 0 {
			rs = append(rs, f(c.edge[i])/d)
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0
	}
	return mdfmt.Median(rs), slices.Min(rs), slices.Max(rs)
}

func med(rs []wrkResult, f func(wrkResult) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return mdfmt.Median(xs)
}

func rps(r wrkResult) float64 { return r.ReqPerSec }
func p50(r wrkResult) float64 { return float64(r.P50) }
func p99(r wrkResult) float64 { return float64(r.P99) }

// fmtDur gives milliseconds two decimals: RAM hits differ by tenths of
// a millisecond (renderbench's renders need only one).
func fmtDur(d time.Duration) string { return mdfmt.Duration(d, 2) }

// fmtBytes gives a body's exact size up to 10 KiB (the small case is
// about per-request overhead), whole KB above.
func fmtBytes(n int) string {
	if n < 10240 {
		return fmt.Sprintf("%s B", mdfmt.Int(float64(n)))
	}
	return fmt.Sprintf("%.0f KB", float64(n)/1000)
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Edge RAM hits against nginx, %s, %s\n\n", r.start.Format("2006-01-02"), r.host)
	flags := "default flags"
	if r.cfg.flags != "" {
		flags = "`EDGEBENCH_FLAGS='" + r.cfg.flags + "'`"
	}
	p("`make bench-edge` (`bench/edge/cmd/edgebench`), %s, started %s, took %s.\n\n",
		flags, r.start.UTC().Format("15:04 UTC"), r.end.Sub(r.start).Round(time.Second))
	p("- Machine: %s, %d CPUs, Linux %s. Load average %s at the start, %s at the end (the machine is shared: absolute figures drift, ratios within a round hold better).\n",
		r.cpu, r.ncpu, r.kernel, r.loadBefore, r.loadAfter)
	p("- Software: refract %s (%s), nginx %s, %s.\n\n", r.refractVer, r.goVersion, r.nginxVersion, r.wrkVersion)

	if len(r.cases) > 0 {
		r.hitMarkdown(&b)
	}
	r.fillMarkdown(&b)
	if len(r.cases) > 0 {
		r.rawMarkdown(&b)
	}
	return b.String()
}

func (r *report) hitMarkdown(b *strings.Builder) {
	cfg := r.cfg
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Method\n\n")
	p("- **Same core.** The edge and nginx both run on CPU %s (`taskset -c %s`); wrk runs on CPU %s: `taskset -c %s wrk -t1 -c%d -d%s --latency <url>`. Only one server is under load at a time; the other idles on the same core.\n",
		cfg.serverCPU, cfg.serverCPU, cfg.clientCPU, cfg.clientCPU, cfg.conns, cfg.dur)
	if cfg.layout == "dev" {
		p("- **Edge.** `refract dev --cache-bytes %d` with `GOMAXPROCS=1` (one core, as nginx has one worker), on ephemeral 127.0.0.1 ports. The dev node is origin and edge in one process; during the runs only the edge works (every request is a RAM hit).\n", cfg.cacheBytes)
	} else {
		p("- **Edge.** `refract edge --config edge.yaml` (`cache.ram_bytes: %d`, no disk tier, access log of errors only, as nginx has `access_log off`) with `GOMAXPROCS=1` (one core, as nginx has one worker), in front of `refract origin` on CPU %s (idle during the runs: every request is a RAM hit), on 127.0.0.1 ports.\n", cfg.cacheBytes, cfg.clientCPU)
	}
	p("- **nginx.** `worker_processes 1` (its master idles), `access_log off`, `sendfile %s`, `tcp_nopush on`, `open_file_cache`, `keepalive_requests 1000000` (the default 1000 would make nginx reconnect where the edge does not), and the edge's `Cache-Control` and `Access-Control-Allow-Origin` headers via `add_header`. Temporary prefix and configuration, listening on 127.0.0.1 only.\n", cfg.sendfile)
	p("- **Same bytes, same path.** Photo-like JPEGs (q85) of about %s are uploaded with a signed Upload API request. Each URL is warmed on the edge until it answers `X-Cache: HIT`; the body it serves is then written to nginx's root at the same path and checked byte for byte through nginx. Besides the original, ", strings.Join(sizeLabels(cfg.sizes), ", "))
	if cfg.tx {
		p("a transformed URL (`c_scale,w_<width>`: a derivative at the source's width) measures the hit path with a transformation to parse.\n")
	} else {
		p("no transformed URL was measured (`-tx=false`).\n")
	}
	var hits, misses, errs float64
	for _, c := range r.cases {
		hits, misses, errs = hits+c.hits, misses+c.misses, errs+c.errs
	}
	p("- **Rounds.** A %s unmeasured wrk run per server and URL, then %d rounds; in each round nginx and the edge run back to back on each URL, alternating which goes first. Ratios are taken per round (edge/nginx) and reported as the median (min–max); req/s, p50 and p99 are medians of the rounds.\n", cfg.warmup, cfg.rounds)
	p("- **Checks.** The edge's own counters over the measured runs: %s hits, %s misses, %s errors.", mdfmt.Int(hits), mdfmt.Int(misses), mdfmt.Int(errs))
	bad := 0
	for _, c := range r.cases {
		for _, w := range append(slices.Clone(c.edge), c.nginx...) {
			if w.Non2xx > 0 || w.SockErrs > 0 {
				bad++
			}
		}
	}
	if bad == 0 {
		p(" wrk saw no non-2xx answers and no socket errors.\n\n")
	} else {
		p(" **%d runs had non-2xx answers or socket errors** (see the raw runs).\n\n", bad)
	}

	p("## Hit throughput and latency\n\n")
	p("| Body | URL | nginx req/s | edge req/s | edge/nginx req/s | nginx p50 | edge p50 | nginx p99 | edge p99 | edge/nginx p99 |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.cases {
		rm, rlo, rhi := ratio(c, rps)
		pm, plo, phi := ratio(c, p99)
		p("| %s | `%s` | %s | %s | **%.2f×** (%.2f–%.2f) | %s | %s | %s | %s | %.2f× (%.2f–%.2f) |\n",
			fmtBytes(len(c.body)), c.label(), mdfmt.Int(med(c.nginx, rps)), mdfmt.Int(med(c.edge, rps)), rm, rlo, rhi,
			fmtDur(time.Duration(med(c.nginx, p50))), fmtDur(time.Duration(med(c.edge, p50))),
			fmtDur(time.Duration(med(c.nginx, p99))), fmtDur(time.Duration(med(c.edge, p99))), pm, plo, phi)
	}
	p("\n**Per CPU-second.** The core is not the servers' alone on a shared machine: other processes take part of it, and req/s falls with them. Requests per second of *serving CPU time* is what each server would do with the core to itself, and holds far better between runs: the server's own user+system time (`/proc/<pid>/stat`: the edge's whole process, nginx's worker) plus that of `ksoftirqd/%s`, which runs the softirqs the kernel defers. Loopback's network work (for both servers, and for wrk's receiving side) mostly runs as softirqs in the sending server's own context; with the kernel's tick-based CPU accounting (no `CONFIG_IRQ_TIME_ACCOUNTING`, as on this machine) that time is in the server's system time already. The share is the serving time's part of CPU %s's busy time; the rest went to other processes.\n\n", cfg.serverCPU, cfg.serverCPU)
	p("| Body | URL | nginx req/CPU-s | edge req/CPU-s | edge/nginx per CPU-s | nginx share of CPU %s | edge share of CPU %s |\n", cfg.serverCPU, cfg.serverCPU)
	p("|---|---|---|---|---|---|---|\n")
	for _, c := range r.cases {
		m, lo, hi := ratio(c, perCPU)
		p("| %s | `%s` | %s | %s | **%.2f×** (%.2f–%.2f) | %.0f%% | %.0f%% |\n", fmtBytes(len(c.body)), c.label(),
			mdfmt.Int(med(c.nginx, perCPU)), mdfmt.Int(med(c.edge, perCPU)), m, lo, hi, 100*med(c.nginx, share), 100*med(c.edge, share))
	}
	p("\nPeak RSS during these runs (VmRSS sampled every 100 ms): the %s %s (VmHWM %s), nginx's worker %s.\n\n",
		nodeName(cfg), mdfmt.MiB(r.edgeRSS), mdfmt.MiB(r.edgeHWM), mdfmt.MiB(r.nginxRSS))

}

func (r *report) fillMarkdown(b *strings.Builder) {
	cfg := r.cfg
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	if len(r.fills) > 0 {
		p("## RSS with a full %s RAM tier\n\n", mdfmt.MiB(cfg.cacheBytes/1024))
		if cfg.layout == "dev" {
			p("A fresh dev node per row (origin and edge in one process, so renders, libvips and the upload path count too), on CPUs %s with Go's default GOMAXPROCS and %s, `--cache-bytes %d`. ", cfg.fillCPUs, arenas(), cfg.cacheBytes)
		} else {
			p("A fresh `refract edge` per row, measured alone (its `refract origin` renders in its own process), both on CPUs %s with Go's default GOMAXPROCS, `cache.ram_bytes: %d`, the edge's memory limit left to its default (derived from the tier) unless the row's environment sets GOMEMLIMIT. ", cfg.fillCPUs, cfg.cacheBytes)
		}
		p(" A photo-like JPEG (q90) is uploaded, then %d clients request distinct derivatives (`c_scale,q_<q>,w_<n>`: every width from the source's down to half of it, at q %s in turn; high qualities make few renders fill the tier) until the bodies served add up to twice the tier, %s or %d requests. Then wrk (`-t1 -c16 -d%s`, CPU %s) cycles through the most recent derivatives (as many as fit in half the tier, at most 256), which should all be hits.\n\n",
			cfg.fillConc, strings.Join(qualities(), ", "), cfg.fillTime, cfg.fillMax, cfg.fillLoad, cfg.clientCPU)
		p("RSS is VmRSS sampled every 100 ms (before: after the upload, before the fill); VmHWM is the kernel's peak for the process, RssAnon its anonymous memory (Go's heap, and in a dev node libvips' and glibc's) and RssFile the mapped binary and libraries, at the end; Go heap and sys are the node's `go_memstats_heap_inuse_bytes` and `go_memstats_sys_bytes` after the fill. Goal: under 450 MiB.\n\n")
		p("| Source → derivatives | Node environment | RSS before | Fill | Peak RSS, fill | Go heap in use / sys | Hit load | Peak RSS, hit load | VmHWM (RssAnon / RssFile) | < 450 MiB |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.fills {
			errs := ""
			if len(f.status) > 0 || f.netErrs > 0 {
				errs = fmt.Sprintf("; non-200: %v, network errors: %d", f.status, f.netErrs)
			}
			load := "—"
			if f.loadPaths > 0 {
				load = fmt.Sprintf("%d URLs: %s req/s, p99 %s; %s hits, %s misses", f.loadPaths, mdfmt.Int(f.load.ReqPerSec), fmtDur(f.load.P99), mdfmt.Int(f.loadHits), mdfmt.Int(f.loadMisses))
				if f.loadErrs > 0 {
					load += fmt.Sprintf(", %s errors", mdfmt.Int(f.loadErrs))
				}
			}
			peak := max(f.fillPeak, f.loadPeak, f.hwm)
			verdict := "yes"
			switch {
			case peak >= 450*1024:
				verdict = "**no**"
			case f.bodyBytes < cfg.cacheBytes:
				verdict = "not known: the tier was not filled"
			}
			avg := 0
			if f.ok > 0 {
				avg = int(f.bodyBytes / int64(f.ok))
			}
			p("| %d×%d (%s) → %s on average | `%s` | %s | %d derivatives, %s MiB in %s (%s%s) | %s | %s / %s | %s | %s | **%s** (%s / %s) | %s |\n",
				f.srcW, f.srcH, fmtBytes(f.srcBytes), fmtBytes(avg), f.env, mdfmt.MiB(f.rssStart),
				f.ok, mdfmt.Int(float64(f.bodyBytes)/(1<<20)), f.elapsed.Round(time.Second), f.stopReason, errs,
				mdfmt.MiB(f.fillPeak), mdfmt.MiB(int64(f.heapInuse)/1024), mdfmt.MiB(int64(f.goSys)/1024),
				load, mdfmt.MiB(f.loadPeak), mdfmt.MiB(f.hwm), mdfmt.MiB(f.anon), mdfmt.MiB(f.file), verdict)
		}
		p("\n")
	}
}

func (r *report) rawMarkdown(b *strings.Builder) {
	cfg := r.cfg
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Raw runs\n\n")
	p("| Round | Body | URL | Server | req/s | p50 | p99 | requests | server CPU | ksoftirqd/%s | CPU %s irq+softirq (mostly within the two before) | CPU %s busy | req/CPU-s | non-2xx | socket errors |\n", cfg.serverCPU, cfg.serverCPU, cfg.serverCPU)
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i := range cfg.rounds {
		for _, c := range r.cases {
			for _, s := range []struct {
				name string
				rs   []wrkResult
			}{{"nginx", c.nginx}, {"edge", c.edge}} {
				if i >= len(s.rs) {
					continue
				}
				w := s.rs[i]
				sock := "0"
				if w.SockErrs > 0 {
					sock = w.SockLine
				}
				p("| %d | %s | `%s` | %s | %s | %s | %s | %s | %.2f s | %.2f s | %.2f s | %.2f s | %s | %d | %s |\n", i+1, fmtBytes(len(c.body)), c.label(), s.name,
					mdfmt.Int(w.ReqPerSec), fmtDur(w.P50), fmtDur(w.P99), mdfmt.Int(float64(w.Requests)), w.SrvCPU, w.SoftCPU, w.CoreIRQ, w.CoreBusy, mdfmt.Int(perCPU(w)), w.Non2xx, sock)
			}
		}
	}
}

func sizeLabels(sizes []int) []string {
	var out []string
	for _, s := range sizes {
		if s%1024 == 0 {
			out = append(out, fmt.Sprintf("%d KiB", s/1024))
		} else {
			out = append(out, fmt.Sprintf("%d B", s))
		}
	}
	return out
}

// Save writes the report as <out>/<date>-<host>-edge.md (with
// -sendfile-off when nginx ran without sendfile), or with the time added
// if that exists, and prints it.
func (r *report) Save() error {
	name := mdfmt.ReportName(r.start, r.host) + "-edge"
	if r.cfg.sendfile != "on" {
		name += "-sendfile-" + r.cfg.sendfile
	}
	path, err := mdfmt.Save(r.cfg.outDir, name, r.start, r.markdown())
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(r.markdown())
	fmt.Println("\nreport written to", path)
	return nil
}

func qualities() []string {
	var out []string
	for _, q := range fillQualities {
		out = append(out, strings.TrimPrefix(q, "q_"))
	}
	return out
}

// arenas describes MALLOC_ARENA_MAX, which the Makefile exports and the
// nodes inherit.
func arenas() string {
	if v := os.Getenv("MALLOC_ARENA_MAX"); v != "" {
		return "`MALLOC_ARENA_MAX=" + v + "` (the Makefile's)"
	}
	return "`MALLOC_ARENA_MAX` unset"
}

// nodeName names the measured process in the report.
func nodeName(cfg config) string {
	if cfg.layout == "dev" {
		return "dev node"
	}
	return "edge"
}
