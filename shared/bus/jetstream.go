package bus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// JetStreamConfig configures the NATS JetStream bus. Only URLs is required.
type JetStreamConfig struct {
	URLs     []string      // servers, e.g. nats://10.0.0.1:4222; any one is enough to start
	Stream   string        // stream name; default "REFRACT_PURGES"
	Subject  string        // subject purges are published on; default "refract.purge"
	MaxAge   time.Duration // how long the stream keeps purges; default 7 days. Keep it >= the edges' ban TTL
	MaxMsgs  int64         // most purges the stream keeps; 0: no limit but MaxAge
	Replicas int           // stream replicas in a NATS cluster; default 1
	Name     string        // connection name shown by the server, e.g. "edge-fra1"

	// Credentials, all optional: a .creds file (JWT + nkey), a token, or a
	// user and password. TLS, when set, is used for every connection.
	CredsFile      string
	Token          string
	User, Password string
	TLS            *tls.Config

	// ReconnectWait is the pause between reconnect attempts to a server;
	// default 250ms (nats.go adds up to 100ms of jitter).
	ReconnectWait time.Duration
	// PublishTimeout bounds Publish when its ctx has no deadline; default 10s.
	PublishTimeout time.Duration
}

// Defaults of JetStreamConfig.
const (
	DefaultStream  = "REFRACT_PURGES"
	DefaultSubject = "refract.purge"
	DefaultMaxAge  = 7 * 24 * time.Hour
)

// ErrClosed is returned by the methods of a closed JetStream, and by
// Follow when the JetStream is closed under it.
var ErrClosed = errors.New("bus: closed")

// JetStream is a Bus over a NATS JetStream stream. Publish returns once
// the stream has stored the purge; every follower applies it in stream
// order, resuming after disconnects from the last sequence it applied.
//
// One stream, one subject: the stream must not carry other subjects,
// because Follow takes any gap in the sequence for lost purges.
type JetStream struct {
	cfg    JetStreamConfig
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{}
	wg     sync.WaitGroup // running followers

	mu       sync.Mutex
	reconn   chan struct{} // closed and replaced at each reconnect
	isClosed bool

	published, publishRetries, publishFailures                     atomic.Uint64
	applied, skipped, resets, resubscribes, cursorErrs, followErrs atomic.Uint64
}

var _ Bus = (*JetStream)(nil)

// DialJetStream connects to NATS and creates the stream, or updates it to
// cfg (MaxAge, MaxMsgs). While no server answers it keeps trying until ctx
// is done; a configuration the server refuses fails at once.
func DialJetStream(ctx context.Context, cfg JetStreamConfig) (*JetStream, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("bus: JetStreamConfig.URLs is empty")
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if strings.ContainsAny(cfg.Subject, "*> \t") {
		return nil, fmt.Errorf("bus: subject %q: wildcards and spaces are not allowed", cfg.Subject)
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = 250 * time.Millisecond
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	j := &JetStream{cfg: cfg, closed: make(chan struct{}), reconn: make(chan struct{})}

	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectHandler(func(*nats.Conn) { j.reconnected() }),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS))
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	j.nc = nc
	if j.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}

	sc := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Refract purges, from the origins to every edge",
		Subjects:    []string{cfg.Subject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  min(2*time.Minute, cfg.MaxAge), // Publish retries carry one message ID
	}
	if cfg.MaxMsgs > 0 {
		sc.MaxMsgs = cfg.MaxMsgs
	}
	err = retry(ctx, j.closed, func() error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := j.js.CreateOrUpdateStream(actx, sc)
		return err
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: stream %s: %w", cfg.Stream, err)
	}
	return j, nil
}

// retry calls f until it succeeds, fails for good (the server answered
// with an error), ctx is done or stop is closed, waiting 50ms, 100ms, …
// up to 1s between calls. It returns f's last error.
func retry(ctx context.Context, stop <-chan struct{}, f func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil || permanent(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-stop:
			return ErrClosed
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// permanent reports whether err will not go away by trying again: the
// server refused the request, or the connection was closed on purpose.
func permanent(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code != 503 // 503: JetStream not (yet) available
	}
	return errors.Is(err, nats.ErrConnectionClosed)
}

func (j *JetStream) reconnected() {
	j.mu.Lock()
	close(j.reconn)
	j.reconn = make(chan struct{})
	j.mu.Unlock()
}

// reconnects returns a channel closed at the next reconnect.
func (j *JetStream) reconnects() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.reconn
}

// Publish stores p in the stream. While NATS is unreachable it retries
// (one message ID for all tries, so the stream keeps one copy) until the
// stream acknowledges p or ctx is done; when ctx has no deadline,
// PublishTimeout applies. A nil error means the purge was accepted and
// every follower will apply it.
func (j *JetStream) Publish(ctx context.Context, p Purge) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.cfg.PublishTimeout)
		defer cancel()
	}
	id := nuid.Next()
	tries := 0
	err = retry(ctx, j.closed, func() error {
		if tries++; tries > 1 {
			j.publishRetries.Add(1)
		}
		// A try bounded below ctx: a request sent just before a server
		// died gets no answer, and the next try goes to the new one.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := j.js.Publish(actx, j.cfg.Subject, data,
			jetstream.WithMsgID(id), jetstream.WithExpectStream(j.cfg.Stream))
		return err
	})
	if err != nil {
		j.publishFailures.Add(1)
		return fmt.Errorf("bus: purge not accepted: %w", err)
	}
	j.published.Add(1)
	return nil
}

// Subscribe calls fn for every purge published after it returns, in
// stream order, until cancel is called; cancel waits for a running fn.
// Purges lost while fn's consumer was away (the stream dropped them)
// cannot be told to fn: use Follow where that matters.
func (j *JetStream) Subscribe(fn func(Purge)) (cancel func()) {
	ctx, stop := context.WithCancel(context.Background())
	f := &follower{j: j, h: Handler{Purge: fn}, restart: make(chan struct{}, 1)}
	// Position now, so that a purge published after Subscribe returns
	// is delivered; if NATS cannot say, the loop positions at the end of
	// the stream when it first can.
	ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
	if info, err := j.streamInfo(ictx); err == nil {
		f.applied, f.created, f.positioned = info.State.LastSeq, info.Created, true
	}
	icancel()
	done := make(chan struct{})
	if !j.enter() {
		stop()
		return func() {}
	}
	go func() {
		defer j.wg.Done()
		defer close(done)
		_ = f.run(ctx)
	}()
	return func() { stop(); <-done }
}

// Handler receives what Follow delivers. Its functions are never called
// concurrently, and not after Follow returns.
type Handler struct {
	// Purge applies one purge.
	Purge func(Purge)
	// Reset says that purges the follower had not applied are gone from
	// the stream (it was away longer than the stream keeps them, or the
	// stream was purged or recreated): every cached delivery that a purge
	// could concern must be dropped. The purges the stream still holds
	// follow. May be nil.
	Reset func()
}

// Follow delivers every purge after the sequence cur holds to h.Purge, in
// stream order, each once, saving its sequence to cur after h.Purge
// returns. A zero cursor means nothing was applied yet: Follow starts at
// the beginning of the stream. When purges after the cursor are no
// longer in the stream, Follow calls h.Reset, then delivers all the
// stream holds.
//
// Follow runs until ctx is done (it returns ctx.Err()) or j is closed
// (ErrClosed). It rides out NATS outages and server restarts, resuming
// after the last applied sequence. Cursor errors are counted in Stats
// and do not stop it: a cursor that cannot be loaded counts as 0.
//
// A stream deleted and created again under a running Follow is noticed
// by its creation time (Reset, then all it holds); across a restart of
// the follower only when the cursor is beyond the new stream's end.
func (j *JetStream) Follow(ctx context.Context, cur Cursor, h Handler) error {
	if !j.enter() {
		return ErrClosed
	}
	defer j.wg.Done()
	f := &follower{j: j, cur: cur, h: h, restart: make(chan struct{}, 1)}
	return f.run(ctx)
}

// JetStreamStats are counters since DialJetStream, for metrics.
type JetStreamStats struct {
	Published       uint64 // purges the stream accepted
	PublishRetries  uint64 // publish tries after a first one failed
	PublishFailures uint64 // Publish calls that returned an error
	Applied         uint64 // purges handed to followers
	Skipped         uint64 // messages that did not decode as a Purge, skipped
	Resets          uint64 // times followers found purges missing (Reset calls)
	Resubscribes    uint64 // consumers recreated after a reconnect or error
	CursorErrors    uint64 // failed Cursor loads and saves
	FollowErrors    uint64 // failures to position or create a consumer, retried
	Reconnects      uint64 // NATS reconnects
	Connected       bool   // connected to a server now
}

// Stats returns the counters.
func (j *JetStream) Stats() JetStreamStats {
	return JetStreamStats{
		Published: j.published.Load(), PublishRetries: j.publishRetries.Load(),
		PublishFailures: j.publishFailures.Load(), Applied: j.applied.Load(),
		Skipped: j.skipped.Load(), Resets: j.resets.Load(), Resubscribes: j.resubscribes.Load(),
		CursorErrors: j.cursorErrs.Load(), FollowErrors: j.followErrs.Load(),
		Reconnects: j.nc.Stats().Reconnects, Connected: j.nc.IsConnected(),
	}
}

// Close stops the followers, waits for them, and closes the connection.
// Do not call it from a Handler.
func (j *JetStream) Close() error {
	j.mu.Lock()
	if j.isClosed {
		j.mu.Unlock()
		return nil
	}
	j.isClosed = true
	close(j.closed)
	j.mu.Unlock()
	j.wg.Wait()
	j.nc.Close()
	return nil
}

// enter registers a follower, unless j is closed.
func (j *JetStream) enter() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.isClosed {
		return false
	}
	j.wg.Add(1)
	return true
}

func (j *JetStream) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	s, err := j.js.Stream(ctx, j.cfg.Stream)
	if err != nil {
		return nil, err
	}
	return s.CachedInfo(), nil
}

// follower runs one Follow or Subscribe: an ephemeral, unacknowledged
// consumer created at the sequence after the last applied, recreated
// after a reconnect or any consumer error, checking each time whether
// the stream still holds what comes next.
type follower struct {
	j       *JetStream
	cur     Cursor // nil for Subscribe
	h       Handler
	restart chan struct{} // asks run to recreate the consumer

	mu         sync.Mutex // serializes the handler and positioning
	positioned bool       // applied and created are known
	applied    uint64     // stream sequence of the last purge applied
	created    time.Time  // creation time of the stream applied is from
	gen        uint64     // consumer generation; older deliveries are dropped
	delivered  uint64     // last consumer sequence of the current generation
}

func (f *follower) run(ctx context.Context) error {
	defer func() {
		// Deliveries still in flight find a newer generation and are
		// dropped; one running now finishes before run returns.
		f.mu.Lock()
		f.gen++
		f.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.j.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := 100 * time.Millisecond
	for {
		if ctx.Err() != nil {
			select {
			case <-f.j.closed: // ctx was cancelled for it
				return ErrClosed
			default:
				return ctx.Err()
			}
		}
		reconn := f.j.reconnects()
		started := time.Now()
		cc, err := f.consume(ctx)
		if err != nil {
			f.j.followErrs.Add(1)
		} else {
			select {
			case <-ctx.Done():
			case <-reconn:
			case <-f.restart:
			}
			cc.Stop()
			if ctx.Err() == nil {
				f.j.resubscribes.Add(1)
			}
		}
		// Back off when consumers fail or die young; a consumer that
		// lived is recreated at once (after a reconnect, say).
		if err == nil && time.Since(started) > 5*time.Second {
			wait = 100 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
		case <-f.j.reconnects():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// consume positions the follower and starts a consumer after applied.
func (f *follower) consume(ctx context.Context) (jetstream.ConsumeContext, error) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := f.j.streamInfo(actx)
	if err != nil {
		return nil, err
	}
	gen, start := f.position(info)
	cons, err := f.j.js.CreateConsumer(actx, f.j.cfg.Stream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second, // the server removes it once we are gone
	})
	if err != nil {
		return nil, err
	}
	cc, err := cons.Consume(f.handler(gen),
		jetstream.PullMaxMessages(256),
		jetstream.PullExpiry(10*time.Second),
		jetstream.PullHeartbeat(2*time.Second),
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) { f.kick(gen) }))
	if err != nil {
		f.deleteConsumer(cons)
		return nil, err
	}
	// The consumer goes when the next one comes; the server would also
	// drop it after InactiveThreshold.
	go func() {
		<-cc.Closed()
		f.deleteConsumer(cons)
	}()
	return cc, nil
}

func (f *follower) deleteConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.j.js.DeleteConsumer(ctx, f.j.cfg.Stream, cons.CachedInfo().Name)
}

// kick asks run to recreate the consumer of generation gen, unless it
// was replaced already.
func (f *follower) kick(gen uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen == f.gen {
		f.kickLocked()
	}
}

func (f *follower) kickLocked() {
	select {
	case f.restart <- struct{}{}:
	default:
	}
}

// position starts a new consumer generation and returns it with the
// sequence to consume from. On the first call it loads the cursor.
// Whenever the stream no longer holds the purge after applied, or is not
// the stream applied counts in, it resets and starts over at the
// stream's first sequence.
func (f *follower) position(info *jetstream.StreamInfo) (gen, start uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := info.State
	if !f.positioned {
		f.positioned, f.created = true, info.Created
		if f.cur != nil {
			n, err := f.cur.Load()
			if err != nil {
				f.j.cursorErrs.Add(1)
			}
			f.applied = n
		} else {
			f.applied = st.LastSeq // Subscribe: new purges only
		}
	}
	// An empty stream that never had messages has FirstSeq 0; one
	// emptied by limits or a purge has FirstSeq = LastSeq+1.
	first := max(st.FirstSeq, 1)
	switch {
	case !info.Created.Equal(f.created) || st.LastSeq < f.applied:
		// Recreated: applied counts in another stream.
		f.reset(first - 1)
	case f.applied+1 < first:
		f.reset(first - 1)
	}
	f.created = info.Created
	f.gen++
	f.delivered = 0
	// Drop a restart asked for by the previous consumer.
	select {
	case <-f.restart:
	default:
	}
	return f.gen, f.applied + 1
}

// reset tells the handler purges are lost and moves to seq.
// f.mu is held.
func (f *follower) reset(seq uint64) {
	f.j.resets.Add(1)
	if f.h.Reset != nil {
		f.h.Reset()
	}
	f.setApplied(seq)
}

// setApplied records seq as applied. f.mu is held.
func (f *follower) setApplied(seq uint64) {
	f.applied = seq
	if f.cur != nil {
		if err := f.cur.Save(seq); err != nil {
			f.j.cursorErrs.Add(1)
		}
	}
}

// handler applies the deliveries of consumer generation gen.
func (f *follower) handler(gen uint64) jetstream.MessageHandler {
	return func(msg jetstream.Msg) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if gen != f.gen {
			return // from a consumer being replaced
		}
		meta, err := msg.Metadata()
		if err != nil || meta.Sequence.Consumer != f.delivered+1 {
			// A delivery went missing between server and client:
			// start again after the last applied.
			f.kickLocked()
			f.gen++
			return
		}
		f.delivered = meta.Sequence.Consumer
		seq := meta.Sequence.Stream
		if seq <= f.applied {
			return // already applied
		}
		if seq > f.applied+1 {
			// The stream dropped purges before we got them.
			f.reset(seq - 1)
		}
		var p Purge
		if err := json.Unmarshal(msg.Data(), &p); err != nil {
			f.j.skipped.Add(1)
		} else {
			if f.h.Purge != nil {
				f.h.Purge(p)
			}
			f.j.applied.Add(1)
		}
		f.setApplied(seq)
	}
}

// LastSeq is the sequence of the newest purge the stream holds (0 when
// it holds none): a follower whose cursor reaches it has caught up with
// every purge published before the call.
func (j *JetStream) LastSeq(ctx context.Context) (uint64, error) {
	if !j.enter() {
		return 0, ErrClosed
	}
	defer j.wg.Done()
	s, err := j.js.Stream(ctx, j.cfg.Stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}
