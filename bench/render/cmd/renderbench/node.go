package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/refract-cdn/refract/shared/sign"
)

// node is a running Refract: a `refract dev` (origin and edge in one
// process), or an edge and an origin started apart (split).
type node struct {
	p                        *proc // the dev node, or the edge
	origin                   *proc // the origin when split, else nil
	edge, api, ops, opsO     string
	cloud, apiKey, apiSecret string
}

// startDev starts `refract dev` on ephemeral loopback ports and reads the
// addresses from its banner. cpus, if set, pins it (taskset -c).
func startDev(ps *procs, dir, bin, cpus string, cacheBytes int64, env []string) (*node, error) {
	n := &node{cloud: "bench", apiKey: randomDigits(15), apiSecret: randomHex(27)}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	env = append([]string{"CLOUDINARY_URL=cloudinary://" + n.apiKey + ":" + n.apiSecret + "@" + n.cloud}, env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	argv := []string{bin, "dev", "--data", data, "--cache-bytes", strconv.FormatInt(cacheBytes, 10),
		"--edge-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0"}
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	n.p, err = ps.start("refract", filepath.Join(dir, "refract.log"), syscall.SIGTERM, pw, env, argv...)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	found := make(chan error, 1)
	go func() {
		out, _ := os.Create(filepath.Join(dir, "refract.stdout"))
		defer out.Close()
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if sent {
				continue
			}
			addr := ""
			for _, f := range strings.Fields(line) {
				if u, err := url.Parse(f); err == nil && u.Scheme == "http" {
					addr = u.Host
					break
				}
			}
			switch l := strings.TrimSpace(line); {
			case strings.HasPrefix(l, "edge (delivery)"):
				n.edge = addr
			case strings.HasPrefix(l, "upload/admin API"):
				n.api = addr
			case strings.HasPrefix(l, "ops "):
				n.ops = addr
			case strings.Contains(line, "CLOUDINARY_URL="):
				if n.edge == "" || n.api == "" || n.ops == "" {
					found <- errors.New("refract dev banner: missing an address")
				} else {
					found <- nil
				}
				sent = true
			}
		}
		if !sent {
			found <- errors.New("refract dev exited before its banner")
		}
	}()
	select {
	case err = <-found:
	case <-time.After(60 * time.Second):
		err = errors.New("refract dev did not print its banner within 60 s")
	}
	if err != nil {
		n.p.stop(5 * time.Second)
		return nil, fmt.Errorf("%w\n%s", err, n.p.tail(20))
	}
	for _, a := range []string{n.edge, n.api, n.ops} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			n.p.stop(5 * time.Second)
			return nil, fmt.Errorf("refract dev listens on %q, not loopback", a)
		}
	}
	return n, nil
}

// stop stops the node's processes (the edge first when split).
func (n *node) stop() {
	n.p.stop(15 * time.Second)
	if n.origin != nil {
		n.origin.stop(15 * time.Second)
	}
}

func (n *node) exited() bool {
	return n.p.exited() || n.origin != nil && n.origin.exited()
}

func (n *node) tail() string {
	s := n.p.tail(20)
	if n.origin != nil {
		s += "\n" + n.origin.tail(20)
	}
	return s
}

// asset is an uploaded image.
type asset struct {
	PublicID string `json:"public_id"`
	Version  int64  `json:"version"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Bytes    int    `json:"bytes"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// upload posts body through the Upload API, signed as an SDK signs it.
func (n *node) upload(publicID, ext string, body []byte) (*asset, error) {
	params := url.Values{
		"public_id": {publicID},
		"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
	}
	params.Set("signature", sign.Hex(sign.UploadToSign(params), n.apiSecret, sign.SHA1))
	params.Set("api_key", n.apiKey)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k := range params {
		mw.WriteField(k, params.Get(k))
	}
	fw, _ := mw.CreateFormFile("file", filepath.Base(publicID)+"."+ext)
	fw.Write(body)
	mw.Close()
	resp, err := client.Post("http://"+n.api+"/v1_1/"+n.cloud+"/image/upload", mw.FormDataContentType(), &b)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a asset
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, fmt.Errorf("upload %s: HTTP %d: %w", publicID, resp.StatusCode, err)
	}
	if a.Error != nil {
		return nil, fmt.Errorf("upload %s: %s", publicID, a.Error.Message)
	}
	return &a, nil
}

// deliveryPath is the path of a delivery URL with tx before the version.
func (n *node) deliveryPath(a *asset, tx, ext string) string {
	return "/" + n.cloud + "/image/upload/" + tx + "/v" + strconv.FormatInt(a.Version, 10) + "/" + a.PublicID + "." + ext
}

var client = &http.Client{Timeout: 2 * time.Minute}

// get fetches a URL and returns its status, X-Cache and body.
func get(ctx context.Context, u string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Cache"), b, err
}

// metrics scrapes an ops listener: the unlabelled series, the edge's
// requests by cache outcome ("edge_hit", "edge_miss", "edge_error") and
// the RAM tier's bytes ("ram_bytes").
func metrics(ops string) (map[string]float64, error) {
	resp, err := client.Get("http://" + ops + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if rest, ok := strings.CutPrefix(name, `refract_edge_requests_total{cache="`); ok {
			name = "edge_" + strings.TrimSuffix(rest, `"}`)
		} else if name == `refract_edge_cache_bytes{tier="ram"}` {
			name = "ram_bytes"
		} else if strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// counters scrapes every ops listener of the node and adds them up.
func (n *node) counters() (map[string]float64, error) {
	m, err := metrics(n.ops)
	if err != nil || n.opsO == "" {
		return m, err
	}
	o, err := metrics(n.opsO)
	if err != nil {
		return nil, err
	}
	for k, v := range o {
		m[k] += v
	}
	return m, nil
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	b[0] = '1' + b[0]%9
	return string(b)
}
