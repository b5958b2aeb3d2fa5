package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store/s3/s3test"
	"github.com/refract-cdn/refract/shared/sign"
)

// deploy/local brings the whole fleet up as processes of their own
// (MinIO, nats-server, 2 origins, 3 edges on loopback), serves an upload
// from every edge, carries an overwrite with invalidate to every edge
// over NATS, and takes it all down again. make test sets REFRACT_BIN to
// the binary it built.
func TestLocalFleet(t *testing.T) {
	bin := os.Getenv("REFRACT_BIN")
	if bin == "" {
		t.Skip("REFRACT_BIN is not set (make test sets it to bin/refract)")
	}
	if _, minio := s3test.Binary(); minio == "" {
		t.Skip("no MinIO built (make minio)")
	}
	if _, err := exec.LookPath("nats-server"); err != nil {
		if _, err := os.Stat("/usr/sbin/nats-server"); err != nil {
			t.Skip("no nats-server")
		}
	}
	run := t.TempDir()
	base := freeBase(t)
	env := append(os.Environ(), "REFRACT_LOCAL_DIR="+run, "REFRACT_LOCAL_PORT="+strconv.Itoa(base), "REFRACT_LOCAL_NATS=1", "REFRACT_BIN="+bin)
	script := func(name string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join("local", name))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := script("up"); err != nil {
		logs, _ := filepath.Glob(filepath.Join(run, "logs", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			out += "\n--- " + filepath.Base(l) + ":\n" + string(b[max(0, len(b)-2000):])
		}
		script("down")
		t.Fatalf("up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := script("down"); err != nil {
			t.Errorf("down: %v\n%s", err, out)
		}
		for _, f := range globPIDs(t, run) {
			b, _ := os.ReadFile(f)
			if _, err := os.Stat("/proc/" + strings.TrimSpace(string(b))); err == nil {
				t.Errorf("%s still runs after down", filepath.Base(f))
			}
		}
	})
	if out, err := script("status"); err != nil {
		t.Fatalf("status after up: %v\n%s", err, out)
	}
	secrets := readEnv(t, filepath.Join(run, "env"))
	key, secret := secrets["DEMO_API_KEY"], secrets["DEMO_API_SECRET"]
	edges := []int{base + 31, base + 32, base + 33}
	const path = "/demo/image/upload/w_20/local/pic.png"

	upload(t, base+11, key, secret, 200)
	for _, p := range edges {
		r := fetchEdge(t, p, path)
		if r.StatusCode != 200 || red(t, r) < 150 {
			t.Fatalf("edge :%d: %d", p, r.StatusCode)
		}
	}
	upload(t, base+12, key, secret, 20) // overwrite + invalidate, through the other origin
	for _, p := range edges {
		deadline := time.Now().Add(3 * time.Second)
		for {
			r := fetchEdge(t, p, path)
			if r.StatusCode == 200 && red(t, r) < 100 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("edge :%d still serves the overwritten image", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// freeBase picks a first port whose 44 successors are all free, below
// Linux's ephemeral range (32768+), where a client's outgoing connection
// could take one between the check and the server's bind.
func freeBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(120)*100
		free := true
		for p := base; p < base+45 && free; p++ {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
				free = false
			} else {
				l.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func globPIDs(t *testing.T, run string) []string {
	files, _ := filepath.Glob(filepath.Join(run, "pids", "*.pid"))
	return files
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// upload stores a 40×30 PNG of red r as local/pic with overwrite and
// invalidate, signed as the SDKs sign.
func upload(t *testing.T, port int, key, secret string, r uint8) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []byte{r, 40, 40, 255})
	}
	var file bytes.Buffer
	png.Encode(&file, img)
	params := url.Values{"public_id": {"local/pic"}, "overwrite": {"true"}, "invalidate": {"true"},
		"timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
	params.Set("signature", sign.Hex(sign.UploadToSign(params), secret, sign.SHA1))
	params.Set("api_key", key)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k := range params {
		mw.WriteField(k, params.Get(k))
	}
	fw, _ := mw.CreateFormFile("file", "pic.png")
	fw.Write(file.Bytes())
	mw.Close()
	res, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/v1_1/demo/image/upload", port), mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 200 || out["public_id"] != "local/pic" {
		t.Fatalf("upload through :%d: %d %v", port, res.StatusCode, out)
	}
}

func fetchEdge(t *testing.T, port int, path string) *http.Response {
	t.Helper()
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// red decodes a delivered image and returns its centre's red channel.
func red(t *testing.T, res *http.Response) uint8 {
	t.Helper()
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an image: %v (%q)", err, res.Header.Get("X-Cld-Error"))
	}
	c := color.NRGBAModel.Convert(img.At(img.Bounds().Dx()/2, img.Bounds().Dy()/2)).(color.NRGBA)
	return c.R
}
