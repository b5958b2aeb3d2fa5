package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/refract-cdn/refract/shared/sign"
)

// Client is the benchmarks' HTTP client for setup and checks (uploads,
// warm-up, /metrics, health); loads bring their own.
var Client = &http.Client{Timeout: 2 * time.Minute}

// Get fetches a URL with Client and returns its status, X-Cache and body.
func Get(ctx context.Context, u string) (int, string, []byte, error) {
	return GetWith(ctx, Client, u)
}

// GetWith is Get with another client.
func GetWith(ctx context.Context, c *http.Client, u string) (int, string, []byte, error) {
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

// Asset is an uploaded image.
type Asset struct {
	PublicID string `json:"public_id"`
	Version  int64  `json:"version"`
	URL      string `json:"url"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Bytes    int    `json:"bytes"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Upload posts body as publicID.ext through the Upload API, signed as an
// SDK signs it.
func (n *Node) Upload(publicID, ext string, body []byte) (*Asset, error) {
	params := url.Values{
		"public_id": {publicID},
		"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
	}
	params.Set("signature", sign.Hex(sign.UploadToSign(params), n.APISecret, sign.SHA1))
	params.Set("api_key", n.APIKey)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k := range params {
		mw.WriteField(k, params.Get(k))
	}
	fw, _ := mw.CreateFormFile("file", filepath.Base(publicID)+"."+ext)
	fw.Write(body)
	mw.Close()
	resp, err := Client.Post("http://"+n.API+"/v1_1/"+n.Cloud+"/image/upload", mw.FormDataContentType(), &b)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var a Asset
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, fmt.Errorf("upload %s: HTTP %d: %w", publicID, resp.StatusCode, err)
	}
	if a.Error != nil {
		return nil, fmt.Errorf("upload %s: %s", publicID, a.Error.Message)
	}
	return &a, nil
}

// DeliveryPath is the path of the asset's delivery URL as ext, with tx
// (may be empty) before the version.
func (n *Node) DeliveryPath(a *Asset, tx, ext string) string {
	p := "/" + n.Cloud + "/image/upload/"
	if tx != "" {
		p += tx + "/"
	}
	return p + "v" + strconv.FormatInt(a.Version, 10) + "/" + a.PublicID + "." + ext
}

// Warm requests the path until the edge answers it from RAM, and returns
// the body it serves.
func (n *Node) Warm(ctx context.Context, path string) ([]byte, error) {
	u := "http://" + n.Edge + path
	var last string
	for i := 0; i < 3; i++ {
		st, xc, b, err := Get(ctx, u)
		if err != nil {
			return nil, err
		}
		if st != http.StatusOK {
			return nil, fmt.Errorf("GET %s: HTTP %d", u, st)
		}
		if xc == "HIT" {
			return b, nil
		}
		last = xc
	}
	return nil, fmt.Errorf("GET %s: X-Cache %q after 3 requests, want HIT", u, last)
}

// Scrape reads an ops listener's /metrics: the unlabelled series, the
// edge's requests by cache outcome ("edge_hit", "edge_miss",
// "edge_error") and the RAM tier's bytes ("ram_bytes").
func Scrape(ops string) (map[string]float64, error) {
	resp, err := Client.Get("http://" + ops + "/metrics")
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

// Metrics scrapes the ops listener of the dev node or the edge.
func (n *Node) Metrics() (map[string]float64, error) { return Scrape(n.Ops) }

// Counters scrapes every ops listener of the node and adds them up: a
// split node's renders are counted by its origin.
func (n *Node) Counters() (map[string]float64, error) {
	m, err := Scrape(n.Ops)
	if err != nil || n.OriginOps == "" {
		return m, err
	}
	o, err := Scrape(n.OriginOps)
	if err != nil {
		return nil, err
	}
	for k, v := range o {
		m[k] += v
	}
	return m, nil
}
