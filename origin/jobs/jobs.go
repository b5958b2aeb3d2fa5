// Package jobs is a small persistent work queue on a store.Store, for work
// an origin does after it has answered: eager_async renders and webhook
// notifications. Jobs live in the store, so they survive a restart; nodes
// sharing the store claim a job with a conditional write, so two of them
// do not run it at once; a failing job is retried with backoff until it
// succeeds or is set aside as dead for operators.
//
// Delivery is at least once: a node that dies mid-job, or a handler that
// overruns its lease, lets the job run again.
package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refract-cdn/refract/origin/store"
)

var (
	// ErrPermanent marks a failure that retrying cannot fix: a handler
	// returning an error that wraps it sends the job straight to the dead
	// letters.
	ErrPermanent = errors.New("jobs: permanent failure")
	// ErrRunning is returned by Run when the queue is already running.
	ErrRunning = errors.New("jobs: queue already running")
)

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return ErrPermanent
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Job is one unit of work as stored.
type Job struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Payload  json.RawMessage `json:"payload"`
	Attempts int             `json:"attempts"` // attempts started, this one included
	// NotBefore is when the job may next be claimed: its due time while
	// it waits, the end of its lease while it runs.
	NotBefore time.Time `json:"not_before"`
	LastError string    `json:"last_error,omitempty"`
	Created   time.Time `json:"created"`
}

// Handler does the work of one kind of job. A nil error deletes the job;
// an error reschedules it, unless it wraps ErrPermanent or the attempts
// are used up. It must return soon after ctx ends: ctx ends before the
// job's lease does, and when the queue stops.
type Handler func(ctx context.Context, j Job) error

// Options configure a Queue; zero values take the defaults.
type Options struct {
	Workers     int                             // jobs running at once on this node; default 4
	MaxAttempts int                             // attempts before a job is dead; default 8
	Backoff     func(attempt int) time.Duration // delay after the attempt-th failure; default DefaultBackoff
	Poll        time.Duration                   // how often the store is scanned; default 2s
	// Lease is how long a claimed job belongs to this node. A handler is
	// given three quarters of it; the rest covers the writes that follow
	// and clock skew between nodes. Default 2m.
	Lease      time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

const (
	maxJobSize  = 1 << 20 // a job object, payload and all
	maxErrLen   = 2 << 10 // LastError kept in the store
	scanPage    = 100
	retryPause  = 20 * time.Millisecond
	finishAfter = 30 * time.Second // bound on the writes after a handler returns
	backoffBase = time.Second
	backoffCap  = 10 * time.Minute
)

// DefaultBackoff doubles from 1s up to 10m. Half the delay is random so
// jobs that failed together (an endpoint down) do not retry in step.
func DefaultBackoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return d/2 + rand.N(d/2+1)
}

// Queue runs the jobs of the kinds registered with Handle.
type Queue struct {
	st  store.Store
	opt Options
	log *slog.Logger
	m   metrics

	mu       sync.Mutex
	handlers map[string]Handler
	busy     map[string]bool // ready keys this node is running
	warned   map[string]bool // kinds without a handler, logged once

	// cache remembers jobs a scan read and skipped (leased, or of a kind
	// this node lacks) by key and ETag, so the next scan need not read
	// them again. Only the Run loop touches it.
	cache map[string]cached

	slots     chan struct{} // one token per running job
	wake      chan struct{}
	running   atomic.Bool
	storeDown atomic.Bool
}

type cached struct {
	etag string
	job  Job
	bad  bool // undecodable: skipped until it changes
}

// New returns a queue on st. Nothing runs until Run.
func New(st store.Store, opt Options) *Queue {
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	if opt.Backoff == nil {
		opt.Backoff = DefaultBackoff
	}
	if opt.Poll <= 0 {
		opt.Poll = 2 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Queue{
		st: st, opt: opt, log: opt.Log, m: newMetrics(opt.Registerer),
		handlers: map[string]Handler{}, busy: map[string]bool{}, warned: map[string]bool{},
		cache: map[string]cached{},
		slots: make(chan struct{}, opt.Workers), wake: make(chan struct{}, 1),
	}
}

// Handle registers fn for jobs of kind, replacing any earlier one. Jobs
// of kinds without a handler are left in the store for a node that has
// one.
func (q *Queue) Handle(kind string, fn Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if fn == nil {
		delete(q.handlers, kind)
		return
	}
	q.handlers[kind] = fn
}

func (q *Queue) handler(kind string) Handler {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.handlers[kind]
}

// Enqueue stores a job of kind with payload (marshalled to JSON) and
// wakes this node's queue so it starts without waiting for a poll. When
// it returns nil the job is durable.
func (q *Queue) Enqueue(ctx context.Context, kind string, payload any) error {
	if kind == "" {
		return errors.New("jobs: empty kind")
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("jobs: payload: %w", err)
	}
	now := time.Now().UTC()
	ms := now.UnixMilli()
	j := Job{
		ID: fmt.Sprintf("%016x%016x", uint64(now.UnixNano()), rand.Uint64()), Kind: kind,
		Payload: raw, NotBefore: time.UnixMilli(ms).UTC(), Created: now,
	}
	if _, err := q.put(ctx, readyKey(ms, j.ID), j, store.PutOptions{IfNoneMatch: true}); err != nil {
		return fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	q.m.enqueued.WithLabelValues(kind).Inc()
	q.poke()
	return nil
}

func (q *Queue) put(ctx context.Context, key string, j Job, o store.PutOptions) (store.Object, error) {
	body, err := json.Marshal(j)
	if err != nil {
		return store.Object{}, err
	}
	if len(body) > maxJobSize {
		return store.Object{}, fmt.Errorf("job of %d bytes exceeds %d", len(body), maxJobSize)
	}
	o.ContentType = "application/json"
	obj, err := q.st.Put(ctx, key, bytes.NewReader(body), o)
	if err == nil || lostRace(err) || errors.Is(err, store.ErrInvalidKey) {
		return obj, err
	}
	// One more try for a passing fault: S3 throttles, and localfs can
	// lose a race with a Delete pruning the directory. If the first write
	// landed after all, an IfMatch retry reports a lost race and the lease
	// sorts it out.
	select {
	case <-ctx.Done():
		return obj, err
	case <-time.After(retryPause):
	}
	obj, err = q.st.Put(ctx, key, bytes.NewReader(body), o)
	if o.IfNoneMatch && errors.Is(err, store.ErrPrecondition) {
		// Only this writer creates a key with this job's ID: the first
		// try wrote it.
		return obj, nil
	}
	return obj, err
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run claims and runs due jobs until ctx ends, then waits for running
// handlers to return. Jobs they leave unfinished are not released: like
// a crash's, they run again when their lease runs out. The first scan
// picks up whatever a previous process left.
func (q *Queue) Run(ctx context.Context) error {
	if !q.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer q.running.Store(false)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := q.scan(ctx, &wg)
		wait := q.opt.Poll
		if !next.IsZero() {
			// Sleep only until the next job falls due, rather than a
			// whole poll: short backoffs stay short.
			wait = min(wait, max(time.Until(next), time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// scan claims due jobs while slots are free, and returns when it next
// expects one to fall due (zero if it saw none).
func (q *Queue) scan(ctx context.Context, wg *sync.WaitGroup) (next time.Time) {
	seen := make(map[string]cached, len(q.cache))
	defer func() { q.cache = seen }()
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	now := time.Now()
	after := ""
	for ctx.Err() == nil {
		objs, err := q.st.List(ctx, readyPrefix, after, scanPage)
		if err != nil {
			q.storeFailed(ctx, "list", err)
			return next
		}
		q.storeOK()
		for _, o := range objs {
			due, _, ok := parseReady(o.Key)
			if !ok {
				continue
			}
			if due.After(now) {
				soonest(due) // keys are in due order: nothing further is due
				return next
			}
			if q.isBusy(o.Key) {
				continue
			}
			j, etag, ok := q.load(ctx, o, seen)
			if !ok {
				continue
			}
			if j.NotBefore.After(now) {
				soonest(j.NotBefore) // another node's lease, or a crashed one's
				continue
			}
			fn := q.handler(j.Kind)
			if fn == nil {
				q.warnKind(j.Kind)
				continue
			}
			select {
			case q.slots <- struct{}{}:
			default:
				return next // all workers busy; one finishing wakes the loop
			}
			if !q.claim(ctx, wg, o.Key, etag, j, fn) {
				<-q.slots
			}
		}
		if len(objs) < scanPage {
			return next
		}
		after = objs[len(objs)-1].Key
	}
	return next
}

// load reads the job at o, or takes it from the cache when its ETag has
// not changed since the last scan.
func (q *Queue) load(ctx context.Context, o store.Object, seen map[string]cached) (Job, string, bool) {
	if c, ok := q.cache[o.Key]; ok && c.etag == o.ETag {
		seen[o.Key] = c
		return c.job, c.etag, !c.bad
	}
	body, obj, err := store.ReadAll(ctx, q.st, o.Key, maxJobSize)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) { // gone: another node finished it
			q.storeFailed(ctx, "read", err)
		}
		return Job{}, "", false
	}
	var j Job
	if err := json.Unmarshal(body, &j); err != nil || j.ID == "" || j.Kind == "" {
		q.log.Error("jobs: undecodable job left in place", "key", o.Key, "err", err)
		seen[o.Key] = cached{etag: obj.ETag, bad: true}
		return Job{}, "", false
	}
	seen[o.Key] = cached{etag: obj.ETag, job: j}
	return j, obj.ETag, true
}

// claim takes the job by rewriting it with a lease, conditional on the
// version it read: of several nodes racing, one write wins and the
// others get ErrPrecondition and move on.
func (q *Queue) claim(ctx context.Context, wg *sync.WaitGroup, key, etag string, j Job, fn Handler) bool {
	j.Attempts++
	j.NotBefore = time.Now().Add(q.opt.Lease).UTC()
	obj, err := q.put(ctx, key, j, store.PutOptions{IfMatch: etag})
	if err != nil {
		if !lostRace(err) {
			q.storeFailed(ctx, "claim", err)
		}
		return false
	}
	q.setBusy(key, true)
	q.m.inFlight.Inc()
	wg.Add(1)
	go q.work(ctx, wg, key, obj.ETag, j, fn)
	return true
}

func lostRace(err error) bool {
	return errors.Is(err, store.ErrPrecondition) || errors.Is(err, store.ErrNotFound)
}

func (q *Queue) work(ctx context.Context, wg *sync.WaitGroup, key, etag string, j Job, fn Handler) {
	defer func() {
		q.m.inFlight.Dec()
		q.setBusy(key, false) // last of the bookkeeping: Drain waits for it
		<-q.slots
		wg.Done()
		q.poke()
	}()
	// The bookkeeping below must happen even when Run is stopping.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishAfter)
	defer cancel()
	if j.Attempts > q.opt.MaxAttempts {
		// The node running the last attempt died: nothing is left to try.
		q.fail(fctx, key, etag, j, fmt.Errorf("lease ran out on the last attempt (before: %s)", j.LastError))
		return
	}
	// Stop the handler before the lease ends, or another node could start
	// the job while this one still runs it.
	hctx, hcancel := context.WithDeadline(ctx, j.NotBefore.Add(-q.opt.Lease/4))
	err := call(hctx, fn, j)
	hcancel()
	switch {
	case err == nil:
		if err := q.st.Delete(fctx, key); err != nil {
			q.log.Warn("jobs: done but not deleted; it will run again", "id", j.ID, "kind", j.Kind, "err", err)
		}
		q.m.succeeded.WithLabelValues(j.Kind).Inc()
	case ctx.Err() != nil:
		// Stopping: leave the lease to run out, as after a crash.
		q.log.Info("jobs: interrupted by shutdown", "id", j.ID, "kind", j.Kind)
	default:
		q.fail(fctx, key, etag, j, err)
	}
}

// call runs fn, turning a panic into an error so one bad job cannot take
// the node down.
func call(ctx context.Context, fn Handler, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return fn(ctx, j)
}

// fail reschedules the job with backoff, or buries it.
func (q *Queue) fail(ctx context.Context, key, etag string, j Job, cause error) {
	q.m.failed.WithLabelValues(j.Kind).Inc()
	j.LastError = cause.Error()
	if len(j.LastError) > maxErrLen {
		j.LastError = j.LastError[:maxErrLen]
	}
	dead := errors.Is(cause, ErrPermanent) || j.Attempts >= q.opt.MaxAttempts
	// Renew the lease before moving the job: the write fails if another
	// node took it over, and it keeps others off while it moves. If a
	// later step fails, this copy runs again after the lease.
	j.NotBefore = time.Now().Add(q.opt.Lease).UTC()
	if _, err := q.put(ctx, key, j, store.PutOptions{IfMatch: etag}); err != nil {
		q.log.Warn("jobs: failed job no longer ours", "id", j.ID, "kind", j.Kind, "err", err, "cause", cause)
		return
	}
	if dead {
		q.bury(ctx, key, j)
		return
	}
	delay := max(q.opt.Backoff(j.Attempts), time.Millisecond)
	ms := ceilMs(time.Now().Add(delay))
	j.NotBefore = time.UnixMilli(ms).UTC()
	nk := readyKey(ms, j.ID)
	if nk == key { // only if the clock went back; the lease retries it
		return
	}
	// Create the new copy before deleting the old one: a crash between
	// the two runs the job twice rather than never.
	if _, err := q.put(ctx, nk, j, store.PutOptions{IfNoneMatch: true}); err != nil {
		q.log.Warn("jobs: could not reschedule; retried after the lease", "id", j.ID, "kind", j.Kind, "err", err)
		return
	}
	if err := q.st.Delete(ctx, key); err != nil {
		q.log.Warn("jobs: rescheduled but old copy not deleted; it may run twice", "id", j.ID, "kind", j.Kind, "err", err)
	}
	q.log.Debug("jobs: retry scheduled", "id", j.ID, "kind", j.Kind, "attempts", j.Attempts, "in", delay, "err", cause)
}

func (q *Queue) bury(ctx context.Context, key string, j Job) {
	if _, err := q.put(ctx, deadKey(j.ID), j, store.PutOptions{}); err != nil {
		q.log.Warn("jobs: could not move to dead letters; retried after the lease", "id", j.ID, "kind", j.Kind, "err", err)
		return
	}
	if err := q.st.Delete(ctx, key); err != nil {
		q.log.Warn("jobs: dead job also left in ready", "id", j.ID, "kind", j.Kind, "err", err)
	}
	q.m.dead.WithLabelValues(j.Kind).Inc()
	q.log.Error("jobs: job dead", "id", j.ID, "kind", j.Kind, "attempts", j.Attempts, "err", j.LastError)
}

// Drain waits until no job is waiting in the store (each has succeeded
// or is dead) and this node has finished its bookkeeping, or ctx ends.
// It watches the store, so it sees every node's work; jobs of a kind no
// running node handles keep it waiting.
func (q *Queue) Drain(ctx context.Context) error {
	tick := min(q.opt.Poll, 20*time.Millisecond)
	for {
		objs, err := q.st.List(ctx, readyPrefix, "", 1)
		if err == nil && len(objs) == 0 && q.idle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
	}
}

// Dead lists up to limit dead jobs with IDs after after, oldest first.
func (q *Queue) Dead(ctx context.Context, after string, limit int) ([]Job, error) {
	start := ""
	if after != "" {
		start = deadKey(after)
	}
	objs, err := q.st.List(ctx, deadPrefix, start, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Job, 0, len(objs))
	for _, o := range objs {
		body, _, err := store.ReadAll(ctx, q.st, o.Key, maxJobSize)
		if errors.Is(err, store.ErrNotFound) {
			continue // removed by an operator meanwhile
		}
		if err != nil {
			return out, err
		}
		var j Job
		if err := json.Unmarshal(body, &j); err != nil {
			return out, fmt.Errorf("jobs: %s: %w", o.Key, err)
		}
		out = append(out, j)
	}
	return out, nil
}

func (q *Queue) isBusy(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.busy[key]
}

func (q *Queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.busy) == 0
}

func (q *Queue) setBusy(key string, b bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b {
		q.busy[key] = true
	} else {
		delete(q.busy, key)
	}
}

// warnKind logs once per kind: during a rolling deploy a node may see
// jobs only newer nodes handle.
func (q *Queue) warnKind(kind string) {
	q.mu.Lock()
	first := !q.warned[kind]
	q.warned[kind] = true
	q.mu.Unlock()
	if first {
		q.log.Warn("jobs: no handler on this node; left for another", "kind", kind)
	}
}

// storeFailed logs the first of a run of store errors, not one per poll.
func (q *Queue) storeFailed(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	if !q.storeDown.Swap(true) {
		q.log.Warn("jobs: store error", "op", op, "err", err)
	}
}

func (q *Queue) storeOK() {
	if q.storeDown.Swap(false) {
		q.log.Info("jobs: store reachable again")
	}
}
