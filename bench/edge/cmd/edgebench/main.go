// Command edgebench measures the edge's RAM hits against nginx serving
// the same bytes in the same run, and the dev node's RSS with its RAM tier
// full. `make bench-edge` builds bin/refract and runs it; see
// bench/README.md ("Edge vs nginx") for the method and bench/results/ for
// reports.
//
// Everything it starts binds 127.0.0.1, runs for a bounded time, lives
// in a temporary directory and is stopped when it returns, fails or is
// interrupted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/bench/internal/mdfmt"
	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
	"github.com/refract-cdn/refract/bench/internal/synth"
)

type config struct {
	refract    string
	version    string
	outDir     string
	keep       bool
	sizes      []int
	rounds     int
	dur        time.Duration
	warmup     time.Duration
	conns      int
	serverCPU  string
	clientCPU  string
	cacheBytes int64
	sendfile   string
	tx         bool
	hit        bool
	fill       bool
	fillSrcs   [][2]int // WxH of each source the RSS test fills from
	fillCPUs   string
	fillTime   time.Duration
	fillMax    int
	fillConc   int
	fillLoad   time.Duration
	fillEnvs   []string
	layout     string // "split" (refract origin + refract edge) or "dev"
	flags      string // the flags set, for the report
}

// startNode starts the layout cfg.layout names: the edge (or the dev
// node) on cpus with env; a split layout's origin on originCPUs.
func (cfg *config) startNode(ctx context.Context, ps *proc.Group, dir, cpus, originCPUs string, env []string) (*node.Node, error) {
	o := node.Options{Bin: cfg.refract, Dir: dir, CPUs: cpus, OriginCPUs: originCPUs, CacheBytes: cfg.cacheBytes, Env: env,
		ErrorsOnlyAccessLog: true} // as nginx runs with access_log off
	switch cfg.layout {
	case "dev":
		return node.StartDev(ps, o)
	case "split":
		return node.StartSplit(ctx, ps, o)
	}
	return nil, fmt.Errorf("-node %q: want split or dev", cfg.layout)
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg := config{}
	flag.StringVar(&cfg.refract, "refract", "bin/refract", "the refract binary to run")
	flag.StringVar(&cfg.version, "version", "", "refract's version, for the report (default: `refract version`)")
	flag.StringVar(&cfg.outDir, "out", "bench/results", "directory of the Markdown report")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs, configs)")
	sizes := flag.String("sizes", "2K,41K,500K", "JPEG sizes to serve (K = 1024 bytes)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "measured rounds per case; nginx and the edge alternate within each")
	flag.DurationVar(&cfg.dur, "duration", 10*time.Second, "length of one wrk run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured wrk run per server and case before the rounds")
	flag.IntVar(&cfg.conns, "connections", 64, "wrk connections (one wrk thread)")
	flag.StringVar(&cfg.serverCPU, "server-cpu", "0", "CPU list of the edge and of nginx (taskset -c)")
	flag.StringVar(&cfg.clientCPU, "client-cpu", "1", "CPU list of wrk")
	flag.Int64Var(&cfg.cacheBytes, "cache-bytes", 256<<20, "the node's RAM tier (--cache-bytes)")
	flag.StringVar(&cfg.sendfile, "sendfile", "on", "nginx's sendfile: on or off")
	flag.BoolVar(&cfg.tx, "tx", true, "also measure a transformed URL (c_scale,w_<width>) per size")
	flag.BoolVar(&cfg.hit, "hit", true, "run the hit benchmark against nginx")
	flag.BoolVar(&cfg.fill, "fill", true, "run the RSS test: fill the RAM tier with renders, then a hit load")
	fillSrc := flag.String("fill-src", "1200x900", "','-separated sizes (WxH) of the RSS test's source images; each runs with each -fill-env")
	flag.StringVar(&cfg.fillCPUs, "fill-cpus", "0,1", "CPU list of the node in the RSS test")
	flag.DurationVar(&cfg.fillTime, "fill-time", 90*time.Second, "longest fill")
	flag.IntVar(&cfg.fillMax, "fill-max", 4000, "most derivatives requested by the fill")
	flag.IntVar(&cfg.fillConc, "fill-concurrency", 4, "fill requests in flight")
	flag.DurationVar(&cfg.fillLoad, "fill-load", 10*time.Second, "wrk hit load over recent derivatives after the fill")
	flag.StringVar(&cfg.layout, "node", "split", "what serves: split (refract origin + refract edge, the edge measured) or dev (one refract dev process)")
	fillEnvs := flag.String("fill-env", "default", "';'-separated node environments for the RSS test, one fresh node each (\"default\": none)")
	flag.Parse()
	// The benchmark itself (RSS sampling, the fill's client) runs on the
	// client's CPUs, off the servers' core: re-run under taskset once.
	if os.Getenv("EDGEBENCH_PINNED") == "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			self, err := os.Executable()
			if err == nil {
				os.Setenv("EDGEBENCH_PINNED", cfg.clientCPU)
				err = syscall.Exec(ts, append([]string{"taskset", "-c", cfg.clientCPU, self}, os.Args[1:]...), os.Environ())
			}
			fmt.Fprintln(os.Stderr, "edgebench: cannot pin itself:", err)
			return 1
		}
	}
	var set []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "refract" && f.Name != "version" && f.Name != "out" && f.Name != "keep" {
			set = append(set, "-"+f.Name+"="+strconv.Quote(f.Value.String()))
		}
	})
	cfg.flags = strings.Join(set, " ")
	var err error
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		return 2
	}
	for _, e := range strings.Split(*fillEnvs, ";") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.fillEnvs = append(cfg.fillEnvs, e)
		}
	}
	for _, f := range strings.Split(*fillSrc, ",") {
		var w, h int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%dx%d", &w, &h); err != nil || w < 16 || h < 16 {
			fmt.Fprintln(os.Stderr, "edgebench: -fill-src is WxH[,WxH...], each at least 16x16")
			return 2
		}
		cfg.fillSrcs = append(cfg.fillSrcs, [2]int{w, h})
	}
	if cfg.sendfile != "on" && cfg.sendfile != "off" {
		fmt.Fprintln(os.Stderr, "edgebench: -sendfile is on or off")
		return 2
	}

	return proc.Run("edgebench", "refract-bench-edge-", cfg.keep, func(ctx context.Context, ps *proc.Group, tmp string) (proc.Saver, error) {
		// nginx's worker runs as nobody when started by root: it must read the tree.
		os.Chmod(tmp, 0o755)
		return bench(ctx, cfg, ps, tmp)
	})
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		if v, ok := strings.CutSuffix(strings.ToUpper(f), "K"); ok {
			f, mult = v, 1024
		}
		n, err := strconv.Atoi(f)
		if err != nil || n*mult < 500 {
			return nil, fmt.Errorf("bad size %q (at least 500 bytes)", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func bench(ctx context.Context, cfg config, ps *proc.Group, tmp string) (*report, error) {
	for _, tool := range []string{"taskset", nginxBin(), "wrk", cfg.refract} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: `make bench-edge` installs nginx-light and wrk and builds bin/refract", tool)
		}
	}
	rep := &report{cfg: cfg, start: time.Now()}
	rep.env(ctx)
	est := time.Duration(0)
	if cfg.hit {
		runs := 2 * cfg.rounds * len(cfg.sizes)
		if cfg.tx {
			runs *= 2
		}
		est += time.Duration(runs)*(cfg.dur+time.Second) + time.Duration(runs/cfg.rounds)*(cfg.warmup+time.Second)
	}
	if cfg.fill {
		est += time.Duration(len(cfg.fillSrcs)*len(cfg.fillEnvs)) * (cfg.fillTime + cfg.fillLoad + 20*time.Second)
	}
	fmt.Printf("edgebench: about %s at most; temporary files in %s\n", est.Round(time.Minute), tmp)

	if cfg.hit {
		if err := hitBench(ctx, cfg, ps, tmp, rep); err != nil {
			return nil, err
		}
	}
	if cfg.fill {
		i := 0
		for _, wh := range cfg.fillSrcs {
			src := encodeJPEG(synth.Photo(wh[0], wh[1], 7, false), 90)
			for _, env := range cfg.fillEnvs {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				var e []string
				if env != "default" {
					e = strings.Fields(env)
				}
				r, err := fillBench(ctx, cfg, ps, filepath.Join(tmp, fmt.Sprintf("fill-%d", i)), env, e, src)
				if err != nil {
					return nil, err
				}
				rep.fills = append(rep.fills, r)
				i++
			}
		}
	}
	rep.end = time.Now()
	rep.loadAfter = proc.Loadavg()
	return rep, nil
}

// hitCase is one URL measured on both servers.
type hitCase struct {
	target  int
	srcSize int
	w, h    int
	tx      string // "" for the original
	path    string
	body    []byte
	nginx   []wrkResult
	edge    []wrkResult
	// edge counters over the measured runs
	hits, misses, errs float64
}

func (c *hitCase) label() string {
	if c.tx == "" {
		return "original"
	}
	return c.tx
}

func hitBench(ctx context.Context, cfg config, ps *proc.Group, tmp string, rep *report) error {
	fmt.Println("edgebench: generating images")
	type img struct {
		body []byte
		w, h int
	}
	imgs := make([]img, len(cfg.sizes))
	for i, s := range cfg.sizes {
		b, w, h := jpegNear(s)
		imgs[i] = img{b, w, h}
	}
	// GOMAXPROCS=1: the edge gets one core, as nginx gets one worker
	// (Go would pick 1 from the affinity mask anyway; this makes it explicit).
	n, err := cfg.startNode(ctx, ps, filepath.Join(tmp, "node"), cfg.serverCPU, cfg.clientCPU, []string{"GOMAXPROCS=1"})
	if err != nil {
		return err
	}
	fmt.Printf("edgebench: refract %s pid %d on CPU %s, edge %s\n", cfg.layout, n.P.Pid(), cfg.serverCPU, n.Edge)
	www := filepath.Join(tmp, "www")
	var cases []*hitCase
	for i, s := range cfg.sizes {
		a, err := n.Upload(fmt.Sprintf("bench/img-%d", s), "jpg", imgs[i].body)
		if err != nil {
			return err
		}
		txs := []string{""}
		if cfg.tx {
			txs = append(txs, fmt.Sprintf("c_scale,w_%d", a.Width))
		}
		for _, tx := range txs {
			c := &hitCase{target: s, srcSize: len(imgs[i].body), w: imgs[i].w, h: imgs[i].h, tx: tx, path: n.DeliveryPath(a, tx, "jpg")}
			if c.body, err = n.Warm(ctx, c.path); err != nil {
				return err
			}
			if tx == "" && !bytes.Equal(c.body, imgs[i].body) {
				return fmt.Errorf("%s: the edge serves other bytes than were uploaded", c.path)
			}
			// nginx serves the edge's own bytes at the same path.
			f := filepath.Join(www, filepath.FromSlash(strings.TrimPrefix(c.path, "/")))
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(f, c.body, 0o644); err != nil {
				return err
			}
			cases = append(cases, c)
		}
	}
	// Directories MkdirAll made are 0755 under umask 022; make sure of it.
	filepath.WalkDir(www, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	ng, ngAddr, err := startNginx(ps, tmp, www, cfg.serverCPU, cfg.sendfile)
	if err != nil {
		return err
	}
	worker, err := nginxWorker(ng.Pid())
	if err != nil {
		return err
	}
	fmt.Printf("edgebench: nginx master %d, worker %d on CPU %s, %s\n", ng.Pid(), worker, cfg.serverCPU, ngAddr)
	for _, c := range cases {
		st, _, b, err := node.Get(ctx, "http://"+ngAddr+c.path)
		if err != nil {
			return err
		}
		if st != 200 || !bytes.Equal(b, c.body) {
			return fmt.Errorf("nginx %s: HTTP %d, %d bytes; want 200 and the edge's %d bytes", c.path, st, len(b), len(c.body))
		}
	}
	base := map[string]string{"nginx": "http://" + ngAddr, "edge": "http://" + n.Edge}
	softirqd := -1 // proc.CPU(-1) is 0
	if _, err := strconv.Atoi(cfg.serverCPU); err == nil {
		if pid := proc.Ksoftirqd(cfg.serverCPU); pid > 0 {
			softirqd = pid
		}
	}
	if cfg.warmup > 0 {
		fmt.Println("edgebench: warm-up runs (not measured)")
		for _, c := range cases {
			for _, srv := range []string{"nginx", "edge"} {
				if _, err := runWrk(ctx, cfg.clientCPU, 1, cfg.conns, cfg.warmup, "", base[srv]+c.path); err != nil {
					return err
				}
			}
		}
	}
	for r := range cfg.rounds {
		for ci, c := range cases {
			order := []string{"nginx", "edge"}
			if (r+ci)%2 == 1 {
				order = []string{"edge", "nginx"}
			}
			for _, srv := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				time.Sleep(time.Second) // let the previous run's sockets close
				pid := worker
				var before map[string]float64
				if srv == "edge" {
					pid = n.P.Pid()
					if before, err = n.Metrics(); err != nil {
						return err
					}
				}
				smp := proc.SampleRSS(100*time.Millisecond, pid)
				cpu0, soft0 := proc.CPU(pid), proc.CPU(softirqd)
				busy0, irq0, single := proc.CoreTimes(cfg.serverCPU)
				res, err := runWrk(ctx, cfg.clientCPU, 1, cfg.conns, cfg.dur, "", base[srv]+c.path)
				res.SrvCPU, res.SoftCPU = proc.CPU(pid)-cpu0, proc.CPU(softirqd)-soft0
				if busy1, irq1, _ := proc.CoreTimes(cfg.serverCPU); single {
					res.CoreBusy, res.CoreIRQ = busy1-busy0, irq1-irq0
				}
				peak := smp.Stop()
				if err != nil {
					return err
				}
				if srv == "edge" {
					after, err := n.Metrics()
					if err != nil {
						return err
					}
					c.hits += after["edge_hit"] - before["edge_hit"]
					c.misses += after["edge_miss"] - before["edge_miss"]
					c.errs += after["edge_error"] - before["edge_error"]
					c.edge = append(c.edge, res)
					rep.edgeRSS = max(rep.edgeRSS, peak)
				} else {
					c.nginx = append(c.nginx, res)
					rep.nginxRSS = max(rep.nginxRSS, peak)
				}
				if n.P.Exited() || ng.Exited() {
					return errors.New("a server exited during the benchmark:\n" + n.P.Tail(20) + "\n" + ng.Tail(20))
				}
				fmt.Printf("  round %d  %7d B %-22s %-5s %9.0f req/s  p50 %-9s p99 %-9s %6.0f req/CPU-s  %3.0f%% of CPU %s  RSS %s\n",
					r+1, len(c.body), c.label(), srv, res.ReqPerSec, fmtDur(res.P50), fmtDur(res.P99),
					perCPU(res), 100*share(res), cfg.serverCPU, mdfmt.MiB(peak))
			}
		}
	}
	rep.edgeHWM, _ = proc.StatusKB(n.P.Pid(), "VmHWM")
	rep.cases = cases
	rep.nginxVersion = nginxVersion(ctx)
	n.Stop(15 * time.Second)
	ng.Stop(10 * time.Second)
	return nil
}
