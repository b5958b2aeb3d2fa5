package forward

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refract-cdn/refract/shared/derivative"
	"github.com/refract-cdn/refract/shared/format"
	"github.com/refract-cdn/refract/shared/peerauth"
	"github.com/refract-cdn/refract/shared/urlapi"
)

var testSecret = []byte("peer-secret")

// Modes of a fake origin's listener.
const (
	modeUp     = iota
	modeRefuse // accept, then close at once: the connection breaks
	modeHang   // accept, then never read or answer
)

// gate is a listener whose connections can be broken or held at will,
// so an origin can go down and come back on the same address.
type gate struct {
	net.Listener
	mode     atomic.Int32
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.accepted.Add(1)
		switch g.mode.Load() {
		case modeRefuse:
			c.Close()
			continue
		case modeHang:
			g.track(c) // held open until the mode changes
			continue
		}
		g.track(c)
		return &gateConn{Conn: c, g: g}, nil
	}
}

func (g *gate) track(c net.Conn) {
	g.mu.Lock()
	g.conns[c] = true
	g.mu.Unlock()
}

// set changes the mode and breaks every connection open under the old
// one, kept-alive ones included.
func (g *gate) set(mode int32) {
	g.mode.Store(mode)
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.Close()
		delete(g.conns, c)
	}
}

type gateConn struct {
	net.Conn
	g *gate
}

func (c *gateConn) Close() error {
	c.g.mu.Lock()
	delete(c.g.conns, c.Conn)
	c.g.mu.Unlock()
	return c.Conn.Close()
}

// fakeOrigin serves derivative.Endpoint as the origin does, as far as
// the edge can tell: peerauth checked, HEAD refused with 405, the body
// naming the origin that answered.
type fakeOrigin struct {
	addr    string
	gate    *gate
	srv     *http.Server
	derives atomic.Int64 // authenticated derive requests
	heads   atomic.Int64
	status  atomic.Int32 // when set, every derive is answered with it
}

func startOrigin(t *testing.T) *fakeOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &fakeOrigin{addr: ln.Addr().String(), gate: &gate{Listener: ln, conns: map[net.Conn]bool{}}}
	o.srv = &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(o.gate)
	t.Cleanup(o.stop)
	return o
}

// stop closes the listener: connections to the address are refused.
func (o *fakeOrigin) stop() {
	o.srv.Close()
	o.gate.set(modeUp) // releases held connections
}

func (o *fakeOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		o.heads.Add(1)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path != derivative.Endpoint ||
		!peerauth.Verify(testSecret, r.Header.Get(peerauth.Header), r.Method, r.URL.RequestURI(), time.Now()) {
		w.Header().Set("X-Cld-Error", "Invalid peer authentication")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	spec, err := derivative.ParseQuery(r.URL.Query())
	if err != nil {
		w.Header().Set("X-Cld-Error", "Invalid derive request")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	o.derives.Add(1)
	if s := int(o.status.Load()); s != 0 {
		w.Header().Set("X-Cld-Error", "status "+strconv.Itoa(s)+" from the origin")
		w.WriteHeader(s)
		return
	}
	if strings.HasPrefix(spec.PublicID, "missing") {
		w.Header().Set("X-Cld-Error", "Resource not found - "+spec.PublicID)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/webp")
	w.Header().Set("ETag", `"etag"`)
	w.Header().Set(derivative.HeaderVersion, "42")
	w.Write([]byte(o.addr))
}

func spec(id string) *derivative.Spec {
	return &derivative.Spec{Cloud: "demo", ResourceType: urlapi.Image, Type: urlapi.Upload,
		PublicID: id, Tx: "c_fill,w_100", Format: format.Auto, Accepts: format.AcceptWebP}
}

func addrsOf(os []*fakeOrigin) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.addr
	}
	return out
}

// orderFor is the failover order of id over addrs, by address.
func orderFor(addrs []string, id string) []string {
	r := newRendezvous(addrs)
	var o [maxAttempts]int
	n := r.order(routeKey(spec(id)), o[:])
	out := make([]string, n)
	for i := range n {
		out[i] = addrs[o[i]]
	}
	return out
}

// idsFirstOn returns n public ids whose first choice among addrs is first.
func idsFirstOn(addrs []string, first string, n int, prefix string) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := prefix + strconv.Itoa(i)
		if orderFor(addrs, id)[0] == first {
			out = append(out, id)
		}
	}
	return out
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustDerive(t *testing.T, p *Pool, id string) Response {
	t.Helper()
	r, err := p.Derive(spec(id))
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return r
}
