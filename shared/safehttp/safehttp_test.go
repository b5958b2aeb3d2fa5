package safehttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// server serves h on 127.0.0.1 (httptest's default) and returns its port.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return srv, u.Port()
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "hello")
}

func TestFetchAllowed(t *testing.T) {
	srv, _ := server(t, hello)
	c := NewClient(Policy{Allow: loopback})
	var buf bytes.Buffer
	n, ct, err := c.Fetch(context.Background(), srv.URL+"/a.png", &buf)
	if err != nil || n != 5 || buf.String() != "hello" || ct != "text/plain" {
		t.Fatalf("Fetch = %d %q %q %v", n, buf.String(), ct, err)
	}
}

// The refusals below happen before connect(): each must be immediate,
// and an address nothing listens on must not read "connection refused".
func TestRefusedAddresses(t *testing.T) {
	_, port := server(t, hello)
	c := NewClient(Policy{})
	for _, u := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://[::ffff:a9fe:a9fe]/", // 169.254.169.254, mapped
		"http://0.0.0.0:" + port + "/",
		"http://100.64.0.1/",
		"http://[fe80::1%25lo]/",
		"https://192.168.0.1/",
	} {
		start := time.Now()
		_, err := c.Get(context.Background(), u)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Get(%s) = %v, want ErrForbiddenAddress", u, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Get(%s) took %v: it must be refused before connecting", u, d)
		}
	}
}

func TestRefusedNames(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skip("localhost does not resolve here:", err)
	}
	srv, port := server(t, hello)
	_, err := NewClient(Policy{}).Get(context.Background(), "http://localhost:"+port+"/")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("localhost: %v, want ErrForbiddenAddress", err)
	}
	// The allow-list applies to what a name resolves to as well.
	resp, err := NewClient(Policy{Allow: loopback}).Get(context.Background(), "http://localhost:"+port+"/")
	if err != nil {
		t.Fatalf("localhost with 127.0.0.1 allowed (%s): %v", srv.URL, err)
	}
	resp.Body.Close()
}

// A name resolving to a private address is refused where it is dialled,
// which is also what defeats DNS rebinding.
func TestControlChecksResolvedAddress(t *testing.T) {
	c := NewClient(Policy{Allow: loopback})
	for addr, ok := range map[string]bool{
		"10.0.0.1:80": false, "127.0.0.1:8080": true, "[::1]:80": false,
		"[::ffff:127.0.0.1]:80": true, "8.8.8.8:443": true, "not-an-address": false,
	} {
		err := c.control("tcp", addr, nil)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("control(%s) = %v, want allowed=%v", addr, err, ok)
		}
	}
}

func TestRefusedURLs(t *testing.T) {
	srv, _ := server(t, hello)
	c := NewClient(Policy{Allow: loopback})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, u := range []string{
		"file:///etc/passwd", "gopher://" + host + "/", "ftp://" + host + "/x",
		"http://user:pass@" + host + "/", "http:///x", "//" + host + "/", "x", "http://[::1",
	} {
		if _, err := c.Get(context.Background(), u); !errors.Is(err, ErrForbiddenURL) {
			t.Errorf("Get(%q) = %v, want ErrForbiddenURL", u, err)
		}
	}
}

func TestRedirects(t *testing.T) {
	_, otherPort := server(t, hello)
	var srv *httptest.Server
	srv, _ = server(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n == 0 {
				hello(w, r)
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
		case r.URL.Path == "/to":
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		}
	})
	c := NewClient(Policy{Allow: loopback, MaxRedirects: 3})
	ctx := context.Background()
	if _, _, err := c.Fetch(ctx, srv.URL+"/hop/3", io.Discard); err != nil {
		t.Errorf("3 redirects with a limit of 3: %v", err)
	}
	if _, _, err := c.Fetch(ctx, srv.URL+"/hop/4", io.Discard); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("4 redirects with a limit of 3: %v", err)
	}
	if _, _, err := NewClient(Policy{Allow: loopback, MaxRedirects: -1}).Fetch(ctx, srv.URL+"/hop/1", io.Discard); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("a redirect when none are followed: %v", err)
	}
	for target, want := range map[string]error{
		"http://10.0.0.1/":                        ErrForbiddenAddress,
		"http://[::1]:" + otherPort + "/":         ErrForbiddenAddress,
		"http://169.254.169.254/latest/":          ErrForbiddenAddress,
		"file:///etc/passwd":                      ErrForbiddenURL,
		"http://u:p@127.0.0.1:" + otherPort + "/": ErrForbiddenURL,
		"http://127.0.0.1:" + otherPort + "/":     nil,
	} {
		start := time.Now()
		_, _, err := c.Fetch(ctx, srv.URL+"/to?u="+url.QueryEscape(target), io.Discard)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("redirect to %s: %v, want %v", target, err, want)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("redirect to %s took %v", target, d)
		}
	}
}

func TestSizeCap(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		for i := 0; i < n; i += 100 {
			w.Write(bytes.Repeat([]byte("x"), min(100, n-i)))
			w.(http.Flusher).Flush()
		}
	})
	c := NewClient(Policy{Allow: loopback, MaxBytes: 1000})
	ctx := context.Background()
	for _, q := range []string{"n=1000", "n=1000&chunked=1", "n=0"} {
		var buf bytes.Buffer
		n, _, err := c.Fetch(ctx, srv.URL+"/?"+q, &buf)
		if want, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(q, "&")[0], "n=")); err != nil || n != int64(want) || buf.Len() != want {
			t.Errorf("%s: %d bytes, %v", q, n, err)
		}
	}
	// Refused by Content-Length, before the body is read.
	_, err := c.Get(ctx, srv.URL+"/?n=1001")
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != 1001 || tl.Limit != 1000 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("Content-Length 1001: %v", err)
	}
	// Without a length, the body stops at the limit.
	var buf bytes.Buffer
	n, _, err := c.Fetch(ctx, srv.URL+"/?n=5000&chunked=1", &buf)
	if !errors.As(err, &tl) || tl.Size != -1 || n != 1000 || buf.Len() != 1000 {
		t.Errorf("chunked 5000: %d bytes, %v", n, err)
	}
}

func TestStatus(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	_, err := NewClient(Policy{Allow: loopback}).Get(context.Background(), srv.URL)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || !errors.Is(err, ErrStatus) {
		t.Fatalf("404: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := NewClient(Policy{Allow: loopback, Timeout: 200 * time.Millisecond})
	for _, p := range []string{"/headers", "/body"} {
		start := time.Now()
		_, _, err := c.Fetch(context.Background(), srv.URL+p, io.Discard)
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("%s: %v, want ErrTimeout", p, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", p, d)
		}
	}
	// The caller's deadline counts as a timeout too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := NewClient(Policy{Allow: loopback}).Get(ctx, srv.URL+"/headers"); !errors.Is(err, ErrTimeout) {
		t.Errorf("context deadline: %v, want ErrTimeout", err)
	}
}

func TestForbidden(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1",
		"255.255.255.255", "240.0.0.1", "192.0.2.1", "198.18.0.1",
		"::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
		"64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::", "2001:db8::1",
		"64:ff9b:1::1",
	} {
		if !forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s is allowed, want forbidden", s)
		}
	}
	for _, s := range []string{
		"8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.1",
		"2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	} {
		if forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s is forbidden, want allowed", s)
		}
	}
	p := Policy{Allow: loopback}
	for s, want := range map[string]bool{"127.0.0.1": true, "::ffff:127.0.0.1": true, "127.0.0.2": false, "::1": false} {
		if got := p.allowed(netip.MustParseAddr(s)); got != want {
			t.Errorf("with 127.0.0.1/32 allowed, allowed(%s) = %v", s, got)
		}
	}
}
