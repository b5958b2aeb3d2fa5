package upload

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/safehttp"
)

func remoteServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/files/"):
			io.WriteString(w, "remote bytes")
		case r.URL.Path == "/big":
			io.WriteString(w, strings.Repeat("x", 100))
		case r.URL.Path == "/big-chunked":
			for range 10 {
				io.WriteString(w, strings.Repeat("x", 10))
				w.(http.Flusher).Flush()
			}
		case r.URL.Path == "/stall":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case r.URL.Path == "/private":
			http.Redirect(w, r, "http://10.0.0.1/x.jpg", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv
}

func TestStageRemote(t *testing.T) {
	srv := remoteServer(t)
	c := safehttp.NewClient(safehttp.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	req := &request{}
	defer req.close()
	if err := req.stageRemote(context.Background(), c, srv.URL+"/files/my%20photo.jpg?x=1", t.TempDir(), 1000); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(req.file)
	sum := md5.Sum([]byte("remote bytes"))
	if err != nil || string(b) != "remote bytes" || req.size != 12 || req.md5 != hex.EncodeToString(sum[:]) {
		t.Errorf("staged %q (%d bytes, md5 %s), %v", b, req.size, req.md5, err)
	}
	if req.filename != "my photo.jpg" {
		t.Errorf("filename = %q", req.filename)
	}
}

func TestStageRemoteRefusals(t *testing.T) {
	srv := remoteServer(t)
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	c := safehttp.NewClient(safehttp.Policy{Allow: allow, Timeout: 200 * time.Millisecond})
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	for _, tc := range []struct {
		client *safehttp.Client
		url    string
		want   string
	}{
		{safehttp.NewClient(safehttp.Policy{}), srv.URL + "/files/a.jpg", "Error in loading " + srv.URL + "/files/a.jpg - Forbidden address"},
		{c, "http://[::1]:" + port + "/a.jpg", "Forbidden address"},
		{c, "http://169.254.169.254/latest/meta-data/", "Error in loading http://169.254.169.254/latest/meta-data/ - Forbidden address"},
		{c, srv.URL + "/private", "Forbidden address"},
		{c, srv.URL + "/missing.jpg", "Error in loading " + srv.URL + "/missing.jpg - 404 Not Found"},
		{c, srv.URL + "/big", "File size too large. Got 100. Maximum is 50."},
		{c, srv.URL + "/big-chunked", "File size too large. Got 51. Maximum is 50."},
		{safehttp.NewClient(safehttp.Policy{Allow: allow, MaxBytes: 20}), srv.URL + "/big-chunked", "File size too large. Maximum is 20."},
		{c, srv.URL + "/stall", "Error in loading " + srv.URL + "/stall - timeout"},
		{c, "http://user:secret@127.0.0.1:" + port + "/files/a.jpg", "Error in loading http://user:xxxxx@127.0.0.1:" + port + "/files/a.jpg - Invalid URL"},
		{c, "ftp://127.0.0.1:" + port + "/a.jpg", "Invalid URL"},
	} {
		req := &request{}
		err := req.stageRemote(context.Background(), tc.client, tc.url, t.TempDir(), 50)
		req.close()
		if clderr.Status(err) != http.StatusBadRequest || !strings.Contains(clderr.Message(err), tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", tc.url, clderr.Status(err), clderr.Message(err), tc.want)
		}
		if strings.Contains(clderr.Message(err), "secret") {
			t.Errorf("%s: the message shows the password: %s", tc.url, clderr.Message(err))
		}
	}
}

// A client that goes away is not a server fault: a 400, not a 500.
func TestStageRemoteCanceled(t *testing.T) {
	srv := remoteServer(t)
	c := safehttp.NewClient(safehttp.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := &request{}
	defer req.close()
	err := req.stageRemote(ctx, c, srv.URL+"/files/a.jpg", t.TempDir(), 1000)
	if clderr.Status(err) != http.StatusBadRequest || !strings.HasSuffix(clderr.Message(err), "- Request canceled") {
		t.Errorf("canceled: %d %q", clderr.Status(err), clderr.Message(err))
	}
}

func TestShownURL(t *testing.T) {
	long := "http://example.com/" + strings.Repeat("a", 1000)
	if got := shownURL(long); len(got) != 256+3 {
		t.Errorf("shownURL of %d bytes is %d bytes", len(long), len(got))
	}
	if got := shownURL("http://u:p@h/x"); got != "http://u:xxxxx@h/x" {
		t.Errorf("shownURL = %q", got)
	}
}
