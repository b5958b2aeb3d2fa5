// Command fastanchor serves one file's bytes from memory with fasthttp
// and the edge's hit headers, and nothing else: the ceiling of any
// fasthttp handler, for telling the edge's own cost from fasthttp's and
// Go's against nginx. -mode sendfile sends the body with sendfile(2)
// from the file instead (zero-copy, as nginx does), -write-buffer sizes
// fasthttp's write buffer (one write per response when it fits).
//
//	taskset -c 0 fastanchor -file body.jpg &
//	taskset -c 1 wrk -t1 -c64 -d10s http://127.0.0.1:18999/x
//
// It listens on 127.0.0.1 only.
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	mode := flag.String("mode", "memory", "memory (SetBodyRaw) or sendfile")
	port := flag.String("port", "18999", "port on 127.0.0.1")
	path := flag.String("file", "", "the body")
	wbuf := flag.Int("write-buffer", 0, "fasthttp's WriteBufferSize (0: its default, 4 KiB)")
	flag.Parse()
	body, err := os.ReadFile(*path)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(*path)
	if err != nil {
		log.Fatal(err)
	}
	srv := &fasthttp.Server{Name: "refract", WriteBufferSize: *wbuf, Handler: func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Set("X-Cache", "HIT")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", `"0123456789abcdef"`)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Timing-Allow-Origin", "*")
		h.Set("Accept-Ranges", "bytes")
		h.SetContentType("image/jpeg")
		if *mode == "sendfile" {
			ctx.Response.SetBodyStream(&sendfileBody{conn: ctx.Conn(), fd: int(f.Fd()), n: int64(len(body))}, len(body))
			return
		}
		ctx.Response.SetBodyRaw(body)
	}}
	log.Fatal(srv.ListenAndServe("127.0.0.1:" + *port))
}

// sendfileBody writes the body with sendfile(2) at an explicit offset,
// after fasthttp's buffered headers (it allocates; an experiment).
type sendfileBody struct {
	conn net.Conn
	fd   int
	n    int64
}

func (b *sendfileBody) Read([]byte) (int, error) { return 0, io.EOF }

func (b *sendfileBody) WriteTo(w io.Writer) (int64, error) {
	if bw, ok := w.(*bufio.Writer); ok {
		if err := bw.Flush(); err != nil {
			return 0, err
		}
	}
	rc, err := b.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var off int64
	var werr error
	for off < b.n && werr == nil {
		err := rc.Write(func(s uintptr) bool {
			_, e := syscall.Sendfile(int(s), b.fd, &off, int(b.n-off))
			if e == syscall.EAGAIN {
				return false
			}
			werr = e
			return true
		})
		if err != nil {
			return off, err
		}
	}
	return off, werr
}
