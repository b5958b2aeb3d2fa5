package chunk

import (
	"bytes"
	"context"
	"crypto/md5"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/refract-cdn/refract/origin/store/localfs"
	"github.com/refract-cdn/refract/shared/clderr"
)

func newAssembler(t *testing.T, max int64) (*Assembler, string) {
	t.Helper()
	dir := t.TempDir()
	fs, err := localfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Assembler{Store: fs, MaxBytes: max}, dir
}

// put sends data[start:end+1] as a chunk.
func put(t *testing.T, a *Assembler, id string, data []byte, start, end, total int64) bool {
	t.Helper()
	done, err := a.Put(context.Background(), "demo", id, start, end, total, bytes.NewReader(data[start:end+1]))
	if err != nil {
		t.Fatalf("Put %d-%d/%d: %v", start, end, total, err)
	}
	return done
}

func assemble(t *testing.T, a *Assembler, id string) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := a.Assemble(context.Background(), "demo", id, &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Assemble: %d, %v", n, err)
	}
	return buf.Bytes()
}

// want400 checks err is a 400 whose message contains msg.
func want400(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if clderr.Status(err) != http.StatusBadRequest || !strings.Contains(clderr.Message(err), msg) {
		t.Errorf("%s: %d %q, want 400 with %q", what, clderr.Status(err), clderr.Message(err), msg)
	}
}

func keys(t *testing.T, a *Assembler) []string {
	t.Helper()
	objs, err := a.Store.List(context.Background(), "chunks/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

func TestParseContentRange(t *testing.T) {
	for h, want := range map[string][3]int64{
		"bytes 0-99/100":      {0, 99, 100},
		"bytes 100-199/200":   {100, 199, 200},
		"bytes 0-0/1":         {0, 0, 1},
		"bytes 0-19999999/-1": {0, 19999999, -1},
		"bytes 5-9/*":         {5, 9, -1},
		"bytes 007-8/09":      {7, 8, 9},
		"bytes 0-999999999999999998/999999999999999999": {0, 999999999999999998, 999999999999999999},
	} {
		s, e, n, err := ParseContentRange(h)
		if err != nil || [3]int64{s, e, n} != want {
			t.Errorf("ParseContentRange(%q) = %d %d %d %v, want %v", h, s, e, n, err, want)
		}
	}
	for _, h := range []string{
		"", "bytes", "bytes 0-99", "bytes 0-99/", "bytes 99-0/100", "bytes 0-100/100", "bytes 0-1/0",
		"Bytes 0-1/2", "bytes  0-1/2", "bytes 0-1/2 ", " bytes 0-1/2", "bytes -1-5/10", "bytes +0-1/2",
		"bytes 0-+1/2", "bytes 0-1/-2", "bytes 0-1/+2", "bytes 0 -1/2", "bytes 0-1/2/3", "bytes 0x1-2/3",
		"bytes */100", "bytes 0-1/1e3", "bytes 0-9999999999999999999/-1", "items 0-1/2", "bytes 0-1,3-4/5",
	} {
		if _, _, _, err := ParseContentRange(h); clderr.Status(err) != http.StatusBadRequest {
			t.Errorf("ParseContentRange(%q) = %v, want a 400", h, err)
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	a, _ := newAssembler(t, 1000)
	data := []byte("0123456789abcdefghij")
	if put(t, a, "up1", data, 15, 19, 20) || put(t, a, "up1", data, 0, 4, 20) || put(t, a, "up1", data, 10, 14, 20) {
		t.Fatal("done before every chunk arrived")
	}
	if !put(t, a, "up1", data, 5, 9, 20) {
		t.Fatal("not done with every chunk")
	}
	if got := assemble(t, a, "up1"); string(got) != string(data) {
		t.Errorf("assembled %q", got)
	}
	if err := a.Remove(context.Background(), "demo", "up1"); err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, a); len(ks) != 0 {
		t.Errorf("left after Remove: %v", ks)
	}
}

// The size may be unknown (-1) until the chunk that ends the file.
func TestUnknownTotal(t *testing.T) {
	a, _ := newAssembler(t, 1000)
	data := []byte("abcdefghij")
	if put(t, a, "u", data, 0, 3, -1) || put(t, a, "u", data, 4, 7, -1) {
		t.Fatal("done without a size")
	}
	_, err := a.Assemble(context.Background(), "demo", "u", io.Discard)
	want400(t, "Assemble without a size", err, "no chunk has given the file's size")
	if !put(t, a, "u", data, 8, 9, 10) {
		t.Fatal("not done")
	}
	if got := assemble(t, a, "u"); string(got) != string(data) {
		t.Errorf("assembled %q", got)
	}
}

// Nodes share nothing but the Store: chunks may reach any of them.
func TestNodesShareOnlyTheStore(t *testing.T) {
	a, _ := newAssembler(t, 1000)
	b := &Assembler{Store: a.Store, MaxBytes: a.MaxBytes}
	data := []byte("abcdefghij")
	put(t, a, "x", data, 0, 4, 10)
	if !put(t, b, "x", data, 5, 9, 10) {
		t.Fatal("the second node does not see the first node's chunk")
	}
	if got := assemble(t, a, "x"); string(got) != string(data) {
		t.Errorf("assembled %q", got)
	}
}

func TestRetry(t *testing.T) {
	a, _ := newAssembler(t, 1000)
	data := []byte("abcdefghij")
	put(t, a, "r", data, 0, 4, 10)
	put(t, a, "r", data, 0, 4, 10) // the same chunk again
	if !put(t, a, "r", data, 5, 9, 10) || !put(t, a, "r", data, 5, 9, 10) {
		t.Fatal("not done")
	}
	if got := assemble(t, a, "r"); string(got) != string(data) {
		t.Errorf("assembled %q after retries", got)
	}
	_, err := a.Put(context.Background(), "demo", "r", 0, 4, 10, strings.NewReader("ABCDE"))
	want400(t, "same range, other bytes", err, "differ from the ones already received")
	_, err = a.Put(context.Background(), "demo", "r", 0, 4, 10, strings.NewReader("abcdefg"))
	want400(t, "same range, longer body", err, "longer")
	if got := assemble(t, a, "r"); string(got) != string(data) {
		t.Errorf("assembled %q after refused retries", got)
	}
}

func TestMissingMiddle(t *testing.T) {
	a, _ := newAssembler(t, 1000)
	data := []byte("abcdefghijklmno")
	if put(t, a, "m", data, 0, 4, 15) || put(t, a, "m", data, 10, 14, 15) {
		t.Fatal("done with a chunk missing")
	}
	_, err := a.Assemble(context.Background(), "demo", "m", io.Discard)
	want400(t, "Assemble with a gap", err, "byte 5 of 15 has not been received")
}

func TestRefusals(t *testing.T) {
	a, _ := newAssembler(t, 100)
	ctx := context.Background()
	p := func(id string, start, end, total int64, body string) error {
		_, err := a.Put(ctx, "demo", id, start, end, total, strings.NewReader(body))
		return err
	}
	want400(t, "short body", p("a", 0, 4, 10, "abc"), "shorter than the 5 bytes")
	want400(t, "long body", p("a", 0, 4, 10, "abcdefgh"), "longer than the 5 bytes")
	want400(t, "empty body", p("a", 5, 9, 10, ""), "shorter")
	if ks := keys(t, a); len(ks) != 1 || !strings.HasSuffix(ks[0], "/total") {
		t.Errorf("a refused body was stored: %v", ks)
	}
	if err := p("b", 0, 4, 10, "abcde"); err != nil {
		t.Fatal(err)
	}
	want400(t, "overlap", p("b", 3, 7, 10, "defgh"), "overlap bytes 0-4")
	want400(t, "contained", p("b", 1, 2, 10, "bc"), "overlap")
	want400(t, "total changed", p("b", 5, 9, 12, "fghij"), "total 12 differs from the 10")
	want400(t, "past the known end", p("b", 10, 11, -1, "kl"), "past the end of the file (10 bytes)")
	if err := p("c", 50, 59, -1, "0123456789"); err != nil {
		t.Fatal(err)
	}
	want400(t, "a size before a stored chunk", p("c", 0, 9, 40, "0123456789"), "past the end of the file")
	want400(t, "past MaxBytes", p("d", 95, 104, -1, "0123456789"), "File size too large. Got 105. Maximum is 100.")
	want400(t, "total over MaxBytes", p("d", 0, 4, 101, "abcde"), "File size too large. Got 101.")
	want400(t, "end before start", p("d", 5, 4, 10, ""), "Invalid Content-Range")
	want400(t, "negative start", p("d", -1, 4, 10, "abcdef"), "Invalid Content-Range")
	want400(t, "end at total", p("d", 0, 10, 10, "abcdefghijk"), "Invalid Content-Range")
	for _, id := range []string{"", "../x", "a/b", "a b", strings.Repeat("x", 65), "é"} {
		want400(t, "upload id "+id, p(id, 0, 0, 1, "a"), "Invalid X-Unique-Upload-Id")
	}
	_, err := a.Put(ctx, "../other", "e", 0, 0, 1, strings.NewReader("a"))
	want400(t, "cloud", err, "Invalid cloud name")
	_, err = (&Assembler{Store: a.Store}).Put(ctx, "demo", "e", 0, 0, 1, strings.NewReader("a"))
	if err == nil || clderr.Status(err) != http.StatusInternalServerError {
		t.Errorf("without MaxBytes: %v", err)
	}
}

func TestTooManyChunks(t *testing.T) {
	const maxChunks = 20
	a, _ := newAssembler(t, 1000)
	a.MaxChunks = maxChunks
	for i := int64(0); i < maxChunks; i++ {
		if _, err := a.Put(context.Background(), "demo", "many", i, i, -1, strings.NewReader("x")); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	_, err := a.Put(context.Background(), "demo", "many", maxChunks, maxChunks, -1, strings.NewReader("x"))
	want400(t, "one chunk too many", err, "too many chunks")
	// A retry of a stored chunk is not a new one.
	if _, err := a.Put(context.Background(), "demo", "many", 0, 0, -1, strings.NewReader("x")); err != nil {
		t.Errorf("retry at the limit: %v", err)
	}
}

// TestLargeStreams sends 25 MB as the Go SDK would (chunks of 20000000
// bytes) and checks that neither Put nor Assemble holds a chunk in
// memory: the bytes allocated stay far below the bytes moved.
func TestLargeStreams(t *testing.T) {
	const size, chunkSize = 25 << 20, 20000000
	a, _ := newAssembler(t, size)
	ctx := context.Background()
	src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1}), size) }
	want := md5.New()
	io.Copy(want, src())

	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	const bound = 4 << 20
	r := src()
	var done bool
	for start := int64(0); start < size; start += chunkSize {
		end := min(start+chunkSize, size) - 1
		var err error
		if got := allocated(func() { done, err = a.Put(ctx, "demo", "big", start, end, size, io.LimitReader(r, end-start+1)) }); got > bound {
			t.Errorf("Put of %d bytes allocated %d bytes", end-start+1, got)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !done {
		t.Fatal("not done")
	}
	got := md5.New()
	var n int64
	var err error
	if alloc := allocated(func() { n, err = a.Assemble(ctx, "demo", "big", got) }); alloc > bound {
		t.Errorf("Assemble of %d bytes allocated %d bytes", size, alloc)
	}
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("Assemble = %d, %v; md5 match %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
}

func TestSweep(t *testing.T) {
	a, root := newAssembler(t, 1000)
	data := []byte("abcdefghij")
	put(t, a, "old", data, 0, 4, 10)
	put(t, a, "fresh", data, 0, 4, 10)
	put(t, a, "mixed", data, 0, 4, 10)
	put(t, a, "mixed", data, 5, 9, 10)
	long := time.Now().Add(-48 * time.Hour)
	age := func(id, name string) {
		if err := os.Chtimes(filepath.Join(root, "chunks", "demo", id, name), long, long); err != nil {
			t.Fatal(err)
		}
	}
	age("old", chunkName(0, 4))
	age("old", totalName)
	// An upload with one old chunk and a recent one is still under way.
	age("mixed", chunkName(0, 4))
	n, err := a.Sweep(context.Background(), time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 upload removed", n, err)
	}
	for _, k := range keys(t, a) {
		if strings.Contains(k, "/old/") {
			t.Errorf("%s survived the sweep", k)
		}
	}
	if got := assemble(t, a, "mixed"); string(got) != string(data) {
		t.Errorf("the sweep damaged an upload under way: %q", got)
	}
	if _, err := a.Store.Stat(context.Background(), "chunks/demo/fresh/"+chunkName(0, 4)); err != nil {
		t.Errorf("fresh upload: %v", err)
	}
}

// exactReader is what keeps a wrong-sized chunk out of the Store.
func TestExactReader(t *testing.T) {
	for body, want := range map[string]string{"abc": "", "ab": "shorter", "abcd": "longer", "": "shorter"} {
		_, err := io.Copy(io.Discard, &exactReader{r: strings.NewReader(body), left: 3})
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("body %q: %v, want %q", body, err, want)
		}
	}
}

func TestClaim(t *testing.T) {
	st, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Assembler{Store: st, MaxBytes: 1 << 20}
	ctx := context.Background()
	if ok, err := a.Claim(ctx, "c", "up0", "alice", false); ok || err != nil {
		t.Fatalf("a lookup claimed: %v %v", ok, err)
	}
	if ok, err := a.Claim(ctx, "c", "up1", "alice", true); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := a.Claim(ctx, "c", "up1", "alice", false); !ok || err != nil {
		t.Errorf("the owner's next chunk: %v %v", ok, err)
	}
	if ok, err := a.Claim(ctx, "c", "up1", "mallory", true); ok || err != nil {
		t.Errorf("another request's chunk: %v %v", ok, err)
	}
	if ok, _ := a.Claim(ctx, "c2", "up1", "mallory", true); !ok {
		t.Error("the same id in another cloud is another upload")
	}
	// The owner object is not a chunk: the upload still assembles.
	if _, err := a.Put(ctx, "c", "up1", 0, 2, 3, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if n, err := a.Assemble(ctx, "c", "up1", &out); err != nil || n != 3 || out.String() != "abc" {
		t.Errorf("Assemble = %d %q %v", n, out.String(), err)
	}
	if _, err := a.Claim(ctx, "c", "../x", "a", true); err == nil {
		t.Error("a bad upload id was accepted")
	}
}
