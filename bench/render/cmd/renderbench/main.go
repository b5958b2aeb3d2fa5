// Command renderbench is `make bench`: Refract's renders against
// imgproxy v3.31.4 and against its own render path called in-process
// (the libvips ceiling), coalescing of concurrent cold requests, the RSS
// of a node under a mixed load with a 256 MiB RAM tier, CPU profiles
// where a target is missed, and the edge against nginx (by running
// bench/edge's edgebench). It writes one Markdown report,
// bench/results/<date>-<host>.md; bench/README.md describes the method.
//
// Everything it starts binds 127.0.0.1, runs bounded in count and time,
// lives in a temporary directory and is stopped when it returns, fails
// or is interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/refract-cdn/refract/bench/internal/node"
	"github.com/refract-cdn/refract/bench/internal/proc"
)

type config struct {
	refract     string
	imgproxy    string
	edgebench   string
	edgeFlags   string
	version     string
	outDir      string
	keep        bool
	concs       []int
	rounds      int
	dur         time.Duration
	count       int
	copies      int
	serverCPUs  string
	coalesceN   int
	memDur      time.Duration
	cacheBytes  int64
	split       bool
	profileDur  time.Duration
	target      float64
	memTargetMB int64
	only        string
	flags       string
}

func main() { os.Exit(run()) }

func run() int {
	home, _ := os.UserCacheDir()
	cfg := config{}
	flag.StringVar(&cfg.refract, "refract", "bin/refract", "the refract binary")
	flag.StringVar(&cfg.imgproxy, "imgproxy", filepath.Join(home, "refract", "bin", "imgproxy-v3.31.4"), "the imgproxy binary (make bench builds it once per machine)")
	flag.StringVar(&cfg.edgebench, "edgebench", "bin/edgebench", "the edgebench binary for the edge-vs-nginx section (\"\" skips it)")
	flag.StringVar(&cfg.edgeFlags, "edge-flags", "-fill=false -rounds 2 -duration 5s -warmup 1s", "edgebench's flags")
	flag.StringVar(&cfg.version, "version", "", "refract's version, for the report")
	flag.StringVar(&cfg.outDir, "out", "bench/results", "directory of the report")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs, profiles)")
	concs := flag.String("concurrency", "1,2", "client concurrencies of the render runs")
	flag.IntVar(&cfg.rounds, "rounds", 2, "rounds per workload and concurrency; the sides alternate which goes first")
	flag.DurationVar(&cfg.dur, "duration", 10*time.Second, "longest render run")
	flag.IntVar(&cfg.count, "requests", 200, "most requests in one render run")
	flag.IntVar(&cfg.copies, "copies", 24, "copies of each source (distinct assets, so no derivative repeats)")
	flag.StringVar(&cfg.serverCPUs, "server-cpus", "", "taskset -c list for Refract and imgproxy (default: unpinned, both cores)")
	flag.IntVar(&cfg.coalesceN, "coalesce", 50, "concurrent cold requests for one URL")
	flag.DurationVar(&cfg.memDur, "mem-duration", 60*time.Second, "the mixed load of the RSS test")
	flag.Int64Var(&cfg.cacheBytes, "cache-bytes", 256<<20, "the RAM tier in the RSS test")
	flag.BoolVar(&cfg.split, "split", true, "also measure RSS of `refract edge` + `refract origin` started apart")
	flag.DurationVar(&cfg.profileDur, "profile", 8*time.Second, "perf profile of Refract per missed workload (0: none)")
	flag.Float64Var(&cfg.target, "target", 1.1, "render target: Refract req/s over imgproxy's")
	flag.Int64Var(&cfg.memTargetMB, "mem-target", 450, "RSS target in MiB")
	flag.StringVar(&cfg.only, "only", "", "run only these sections (render,coalesce,ceiling,memory,purge,edge), comma-separated")
	flag.Parse()
	var set []string
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "refract", "imgproxy", "edgebench", "edge-flags", "version", "out", "keep": // edge-flags: shown with the edge section
		default:
			set = append(set, "-"+f.Name+"="+strconv.Quote(f.Value.String()))
		}
	})
	cfg.flags = strings.Join(set, " ")
	for _, f := range strings.Split(*concs, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fmt.Fprintln(os.Stderr, "renderbench: -concurrency is a list of positive integers")
			return 2
		}
		cfg.concs = append(cfg.concs, c)
	}

	return proc.Run("renderbench", "refract-bench-", cfg.keep, func(ctx context.Context, ps *proc.Group, tmp string) (proc.Saver, error) {
		return bench(ctx, cfg, ps, tmp)
	})
}

func (c config) want(section string) bool {
	if c.only == "" {
		return true
	}
	for _, s := range strings.Split(c.only, ",") {
		if strings.TrimSpace(s) == section {
			return true
		}
	}
	return false
}

func bench(ctx context.Context, cfg config, ps *proc.Group, tmp string) (*report, error) {
	tools := []string{cfg.refract}
	if cfg.want("render") || cfg.want("coalesce") {
		tools = append(tools, cfg.imgproxy)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: run `make bench`, which builds bin/refract and imgproxy", tool)
		}
	}
	rep := &report{cfg: cfg, start: time.Now()}
	rep.env(ctx)
	fmt.Printf("renderbench: refract %s, imgproxy %s, libvips %s; temporary files in %s\n", rep.refractVer, rep.imgproxyVer, rep.vipsVer, tmp)
	fmt.Println("renderbench: generating the sources")
	photo, alpha, err := makeSources()
	if err != nil {
		return nil, err
	}
	rep.sources = []*source{photo, alpha}
	wls := workloads(photo, alpha)
	rep.workloads = wls

	if cfg.want("render") || cfg.want("coalesce") {
		if err := serverBench(ctx, cfg, ps, tmp, rep, wls); err != nil {
			return nil, err
		}
	}
	if cfg.want("ceiling") {
		if err := ceilingBench(ctx, cfg, rep, wls); err != nil {
			return nil, err
		}
	}
	if cfg.want("memory") {
		if err := memoryBench(ctx, cfg, ps, tmp, rep, photo, alpha, wls, false); err != nil {
			return nil, err
		}
		if cfg.split {
			if err := memoryBench(ctx, cfg, ps, tmp, rep, photo, alpha, wls, true); err != nil {
				return nil, err
			}
		}
	}
	if cfg.want("purge") {
		if err := purgeBench(ctx, rep); err != nil {
			return nil, err
		}
	}
	if cfg.want("edge") && cfg.edgebench != "" {
		if err := edgeBench(ctx, cfg, tmp, rep); err != nil {
			return nil, err
		}
	}
	rep.end = time.Now()
	rep.loadAfter = proc.Loadavg()
	return rep, nil
}

// serverBench runs Refract and imgproxy side by side: the render runs,
// profiles of the missed workloads, and coalescing.
func serverBench(ctx context.Context, cfg config, ps *proc.Group, tmp string, rep *report, wls []*workload) error {
	root := filepath.Join(tmp, "imgproxy-root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	for _, s := range rep.sources {
		for c := range cfg.copies {
			if err := os.WriteFile(filepath.Join(root, s.file(c)), s.body, 0o644); err != nil {
				return err
			}
		}
	}
	n, err := node.StartDev(ps, node.Options{Bin: cfg.refract, Dir: filepath.Join(tmp, "node"), CPUs: cfg.serverCPUs, CacheBytes: 256 << 20})
	if err != nil {
		return err
	}
	defer n.Stop(15 * time.Second)
	fmt.Printf("renderbench: refract dev pid %d, edge %s; uploading %d copies of each source\n", n.P.Pid(), n.Edge, cfg.copies)
	assets := map[string][]*node.Asset{}
	for _, s := range rep.sources {
		for c := range cfg.copies {
			a, err := n.Upload(s.publicID(c), s.ext, s.body)
			if err != nil {
				return err
			}
			assets[s.name] = append(assets[s.name], a)
		}
	}
	ip, err := startImgproxy(ctx, ps, tmp, cfg.imgproxy, root, cfg.serverCPUs)
	if err != nil {
		return err
	}
	defer ip.p.Stop(10 * time.Second)
	fmt.Printf("renderbench: imgproxy pid %d on %s\n", ip.p.Pid(), ip.addr)

	refURL := func(wl *workload) func(int) string {
		return func(i int) string {
			c, w := seq(wl, cfg.copies, i)
			return "http://" + n.Edge + n.DeliveryPath(assets[wl.src.name][c], wl.refractTx(w), wl.ext)
		}
	}
	ipxURL := func(wl *workload) func(int) string {
		return func(i int) string {
			c, w := seq(wl, cfg.copies, i)
			return "http://" + ip.addr + wl.imgproxyPath(c, w)
		}
	}
	// One warm-up request per workload and side, at half the size (a
	// size the sequence never reaches), unmeasured.
	for _, wl := range wls {
		for side, u := range map[string]string{
			"refract":  "http://" + n.Edge + n.DeliveryPath(assets[wl.src.name][0], wl.refractTx(wl.base/2), wl.ext),
			"imgproxy": "http://" + ip.addr + wl.imgproxyPath(0, wl.base/2),
		} {
			st, _, b, err := node.Get(ctx, u)
			if err != nil {
				return err
			}
			if st != 200 || sniff(b) != wl.ext {
				return fmt.Errorf("%s warm-up %s: HTTP %d, %s, %d bytes", side, u, st, sniff(b), len(b))
			}
		}
	}

	// Each run of a workload takes its own block of the sequence, so no
	// two runs (nor the profiles after them) share a request.
	if cfg.want("render") {
		for r := range cfg.rounds {
			for wi, wl := range wls {
				for ci, conc := range cfg.concs {
					order := []string{"refract", "imgproxy"}
					if (r+wi+ci)%2 == 1 {
						order = []string{"imgproxy", "refract"}
					}
					first := (r*len(cfg.concs) + ci) * cfg.count
					for _, side := range order {
						res, err := serverRun(ctx, cfg, n, ip, side, wl, conc, first, refURL(wl), ipxURL(wl))
						if err != nil {
							return err
						}
						res.round = r
						rep.addRun(wl, res)
						fmt.Printf("  round %d %-10s c=%d %-8s %6.2f req/s  p50 %-9s p99 %-9s %7.0f B  %d ok %d bad  renders %.0f  (%s)\n",
							r+1, wl.key, conc, side, res.rps(), fmtDur(res.pct(0.5)), fmtDur(res.pct(0.99)), res.meanBytes(), res.n, res.bad, res.renders, res.stopped)
					}
				}
			}
		}
		if cfg.profileDur > 0 {
			if _, err := exec.LookPath("perf"); err != nil {
				rep.profileNote = "perf is not installed: no profiles"
			} else {
				for _, wl := range wls {
					if rep.renderMet(wl) {
						continue
					}
					conc := cfg.concs[len(cfg.concs)-1]
					for _, side := range []string{"refract", "imgproxy"} {
						pid := n.P.Pid()
						urls := refURL(wl)
						if side == "imgproxy" {
							pid, urls = ip.p.Pid(), ipxURL(wl)
						}
						prof, err := profileRun(ctx, cfg, tmp, pid, conc, cfg.rounds*len(cfg.concs)*cfg.count, wl, urls)
						if err != nil {
							rep.profileNote = "perf failed: " + err.Error()
							break
						}
						prof.side = side
						rep.profiles = append(rep.profiles, prof)
					}
				}
			}
		}
	}
	if cfg.want("coalesce") {
		co, err := coalesceBench(ctx, cfg, n, ip, assets["photo"][0], rep.sources[0])
		if err != nil {
			return err
		}
		rep.coalesce = co
	}
	if n.Exited() || ip.p.Exited() {
		return errors.New("a server exited during the benchmark:\n" + n.Tail() + "\n" + ip.p.Tail(20))
	}
	return nil
}

// serverRun is one bounded run against one side, with its counters.
func serverRun(ctx context.Context, cfg config, n *node.Node, ip *imgproxy, side string, wl *workload, conc, first int, ref, ipx func(int) string) (*runResult, error) {
	time.Sleep(500 * time.Millisecond)
	c := newClient(conc)
	defer c.CloseIdleConnections()
	pid, urls := n.P.Pid(), ref
	if side == "imgproxy" {
		pid, urls = ip.p.Pid(), ipx
	}
	var before map[string]float64
	var err error
	if side == "refract" {
		if before, err = n.Counters(); err != nil {
			return nil, err
		}
	}
	cpu0 := proc.CPU(pid)
	res := closedLoop(ctx, conc, first, cfg.count, cfg.dur, httpDo(c, urls, wl.ext))
	res.cpu = proc.CPU(pid) - cpu0
	res.side = side
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if side == "refract" {
		after, err := n.Counters()
		if err != nil {
			return nil, err
		}
		res.renders = after["refract_renders_total"] - before["refract_renders_total"]
		res.misses = after["edge_miss"] - before["edge_miss"]
		res.hits = after["edge_hit"] - before["edge_hit"]
	}
	if res.bad > 0 {
		fmt.Printf("  %s %s: %d bad answers, e.g. %s\n", side, wl.key, res.bad, res.badNote)
	}
	return res, nil
}
