// Package awssqs is the Amazon SQS source driver, and a Publisher for
// backfills, built on aws-sdk-go-v2.
//
// A Source long-polls its queue from several pollers (ReceiveMessage, ten
// at a time) into a small buffer that Receive hands out from. Pollers stop
// asking while the flow-control bounds are full, so nothing is received
// that cannot be handed out soon, and a received message never waits
// unseen for long. While a message is held (buffered or handed out) a
// heartbeat keeps it invisible with ChangeMessageVisibilityBatch, sized
// from the measured processing time and bounded by Options.MaxExtension,
// so slow work is not redelivered to another worker half-way through.
//
// Ack deletes with DeleteMessageBatch; Nack changes the visibility to the
// delay; DeadLetter sends the payload with its reason attributes to the
// dead-letter queue and leaves the original for the caller to ack. The
// queue's own redrive policy moves messages that keep failing
// transiently. Close stops the pollers and the heartbeat and makes every
// message still held visible again at once.
//
// FIFO queues (URL ending in .fifo) keep their message-group order through
// the worker: a group's messages are handed out one at a time, in order,
// the next only once the previous is acked.
//
// The driver does not retry: the client NewClient makes has the SDK's
// retries turned off, every error is classified with errkind, and the
// worker decides. Receipt handles that SQS no longer accepts (the message
// was received again since) are counted in Stats, not reported as errors.
package awssqs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/sources/internal/flow"
	"github.com/chorusml/chorus/sources/internal/wake"
	"github.com/chorusml/chorus/worker/errkind"
)

// Defaults, used where an Options field is zero.
const (
	DefaultPollers  = 4
	DefaultWaitTime = 20 * time.Second
	// closePollGrace is how long Close lets polls in progress finish: a
	// poll of a short wait_time ends by itself as it always did, and only
	// a long one (the 20s default) is cut.
	closePollGrace                = 2 * time.Second
	DefaultVisibilityTimeout      = 30 * time.Second
	DefaultMaxExtension           = time.Hour
	DefaultMaxOutstandingMessages = sources.DefaultMaxOutstandingMessages
	DefaultMaxOutstandingBytes    = sources.DefaultMaxOutstandingBytes
)

// maxReceiveWait is how long Receive blocks when nothing is buffered: the
// driver contract asks for about a second so the caller can check for
// shutdown.
const maxReceiveWait = time.Second

// Options configures a Source.
type Options struct {
	// QueueURL is the queue to read. A URL ending in ".fifo" is a FIFO
	// queue: message-group order is kept.
	QueueURL string
	// DeadLetterQueueURL receives dead-lettered payloads with their reason
	// attributes. Required. For a FIFO dead-letter queue the payload keeps
	// its message group and gets a deduplication ID derived from the
	// source message ID and the payload.
	DeadLetterQueueURL string
	// Pollers is the number of concurrent ReceiveMessage loops; default 4.
	Pollers int
	// WaitTime is the long-poll wait, in whole seconds up to 20s; default
	// 20s, negative for short polling. Close gives polls in progress two
	// seconds to return what they have (released rather than left
	// invisible), then cuts them, whatever WaitTime is.
	WaitTime time.Duration
	// VisibilityTimeout is asked for on receive (whole seconds, rounded
	// up) and is the least the heartbeat extends by; default 30s.
	VisibilityTimeout time.Duration
	// MaxExtension bounds how long a message is kept invisible in all,
	// counted from its receipt; default 1h, at most 12h (SQS's limit),
	// negative for no extension at all.
	MaxExtension time.Duration
	// FlowControl bounds messages received and not yet acked, nacked or
	// released, buffered ones included. Zero fields take the Default…
	// constants; negative ones disable the bound.
	FlowControl sources.FlowControl

	// clock is the real one when nil; this package's tests set a fake to
	// drive the heartbeat.
	clock clock
}

// clock is where the lease bookkeeping (receipt, hand-out and ack times,
// extension deadlines) reads the time and where the heartbeat gets its
// ticker. Receive's own wait is always real time.
type clock interface {
	Now() time.Time
	// NewTicker returns a ticker's channel and its Stop.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Stats are a Source's counters since New.
type Stats struct {
	Received     int64 // messages received from SQS, duplicates included
	HandedOut    int64 // deliveries Receive returned
	Acked        int64 // messages deleted
	Nacked       int64 // messages made visible again by Nack
	DeadLettered int64 // payloads sent to the dead-letter queue
	Released     int64 // messages made visible again by Close or a FIFO nack
	Extended     int64 // successful visibility extensions
	ExtendFailed int64 // extensions that failed for another reason (retried next beat)
	// HandleInvalid counts receipt handles SQS no longer accepted on a
	// delete, extension or visibility change: the message had been received
	// again, here or elsewhere. Its results are committed; the sink's
	// idempotency absorbs the redelivery.
	HandleInvalid int64
	// Duplicates counts messages received again while this Source still
	// held them; the new receipt handle replaced the old one and nothing
	// was handed out twice.
	Duplicates int64
	// Expired counts buffered messages dropped at MaxExtension before they
	// were handed out; SQS redelivers them.
	Expired int64
}

// api is the part of the SQS client the driver uses.
type api interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ api = (*sqs.Client)(nil)

// state is where a delivery is in its life.
type state uint8

const (
	stBuffered state = iota // received, waiting in the buffer
	stOut                   // handed out, not yet acked or nacked
	stDone                  // acked, nacked, released or dropped
)

// delivery is one receipt of a message by this Source. The Message lives
// inside it, and Message.Handle points back, so Ack can tell the current
// delivery from a stale one. Fields after msg are guarded by Source.mu.
type delivery struct {
	src   *Source
	msg   sources.Message
	id    string
	group string // FIFO message group
	size  int

	receipt    string
	state      state
	receivedAt time.Time // first receipt by this Source: MaxExtension counts from it
	handedAt   time.Time
	visibleAt  time.Time     // when SQS makes it visible again, as far as we know
	timeout    time.Duration // the visibility timeout last asked for
	extending  bool          // a visibility change is in flight
	settling   bool          // a delete is in flight
	noExtend   bool          // past MaxExtension or handle gone: let it lapse
}

// Source reads an SQS queue. It implements sources.Source.
type Source struct {
	api     api
	o       Options
	clk     clock
	fifo    bool
	dlqFIFO bool

	wait       int32 // long-poll seconds
	visibility time.Duration
	bufCap     int // most handout-ready messages to hold unasked
	tick       time.Duration

	pollCtx    context.Context // receives; cancelled only when Close gives up waiting
	cancelPoll context.CancelFunc
	hbCtx      context.Context
	cancelHB   context.CancelFunc
	stop       chan struct{} // closed by Close: pollers and heartbeat end
	pollers    sync.WaitGroup
	hbDone     chan struct{}

	mu       sync.Mutex
	closed   bool
	held     map[string]*delivery // by message ID: buffered and handed out
	buf      []*delivery          // buffered, in receive order
	groupOut map[string]*delivery // FIFO: group → its handed-out delivery
	win      flow.Window          // handed out
	bufMsgs  int
	bufBytes int
	reserved int            // message slots asked for by receives in flight
	avgSize  float64        // running mean message size, to size receives under a byte bound
	recvErr  error          // a poller's failure, reported by the next Receive that finds nothing
	ops      sync.WaitGroup // Ack, Nack, DeadLetter in flight
	proc     ring           // recent processing times
	stats    Stats
	wake     wake.Signal // wakes Receive callers and pollers
}

// New returns a Source reading o.QueueURL with client (see NewClient) and
// starts its pollers and heartbeat.
func New(client *sqs.Client, o Options) (*Source, error) {
	if client == nil {
		return nil, errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: nil client")
	}
	return newSource(client, o)
}

func newSource(c api, o Options) (*Source, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &Source{
		api:        c,
		o:          o,
		clk:        o.clock,
		fifo:       isFIFO(o.QueueURL),
		dlqFIFO:    isFIFO(o.DeadLetterQueueURL),
		visibility: o.VisibilityTimeout,
		win:        flow.New(o.FlowControl, DefaultMaxOutstandingMessages, DefaultMaxOutstandingBytes),
		bufCap:     MaxBatch * o.Pollers,
		stop:       make(chan struct{}),
		hbDone:     make(chan struct{}),
		held:       map[string]*delivery{},
		groupOut:   map[string]*delivery{},
	}
	if s.clk == nil {
		s.clk = realClock{}
	}
	if o.WaitTime > 0 {
		s.wait = int32(ceilSeconds(o.WaitTime))
	}
	s.tick = min(max(s.visibility/8, 50*time.Millisecond), time.Second)
	s.pollCtx, s.cancelPoll = context.WithCancel(context.Background())
	s.hbCtx, s.cancelHB = context.WithCancel(context.Background())
	for range o.Pollers {
		s.pollers.Add(1)
		go s.poll()
	}
	go s.heartbeat()
	return s, nil
}

func (o *Options) defaults() error {
	bad := func(format string, args ...any) error {
		return errkind.Errorf(errkind.Permanent, sources.ReasonBadConfig, "awssqs: "+format, args...)
	}
	if o.QueueURL == "" {
		return bad("QueueURL is required")
	}
	if o.DeadLetterQueueURL == "" {
		return bad("DeadLetterQueueURL is required: permanent failures are parked there with their reasons")
	}
	if o.Pollers < 0 {
		return bad("Pollers %d, want > 0", o.Pollers)
	}
	if o.Pollers == 0 {
		o.Pollers = DefaultPollers
	}
	switch {
	case o.WaitTime == 0:
		o.WaitTime = DefaultWaitTime
	case o.WaitTime > MaxWaitTime:
		return bad("WaitTime %v is longer than SQS's %v long-poll limit", o.WaitTime, MaxWaitTime)
	}
	switch {
	case o.VisibilityTimeout == 0:
		o.VisibilityTimeout = DefaultVisibilityTimeout
	case o.VisibilityTimeout < 0 || o.VisibilityTimeout > MaxVisibility:
		return bad("VisibilityTimeout %v, want between 1s and 12h", o.VisibilityTimeout)
	}
	o.VisibilityTimeout = time.Duration(ceilSeconds(o.VisibilityTimeout)) * time.Second
	switch {
	case o.MaxExtension == 0:
		o.MaxExtension = DefaultMaxExtension
	case o.MaxExtension > MaxVisibility:
		o.MaxExtension = MaxVisibility
	}
	if o.FlowControl.MaxOutstandingMessages == 0 {
		o.FlowControl.MaxOutstandingMessages = DefaultMaxOutstandingMessages
	}
	if o.FlowControl.MaxOutstandingBytes == 0 {
		o.FlowControl.MaxOutstandingBytes = DefaultMaxOutstandingBytes
	}
	return nil
}

func isFIFO(url string) bool { return strings.HasSuffix(url, ".fifo") }

// ceilSeconds rounds d up to whole seconds: SQS takes timeouts in seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Stats returns the Source's counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Receive implements sources.Source. It hands out buffered messages within
// the flow-control bounds (for a FIFO queue, at most one per message group
// at a time, in receive order), waiting up to about a second for some. A
// receive failure of the pollers is returned by a Receive that finds
// nothing to hand out; the pollers pause until it is.
func (s *Source) Receive(ctx context.Context, max int) ([]*sources.Message, error) {
	if err := contract.CheckMax("awssqs", max); err != nil {
		return nil, err
	}
	var timer wake.Timer
	defer timer.Stop()
	deadline := time.Now().Add(maxReceiveWait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("awssqs: receive: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed("receive")
		}
		if msgs := s.takeLocked(max, s.clk.Now()); len(msgs) > 0 {
			s.wake.Broadcast() // room in the buffer: pollers may ask for more
			s.mu.Unlock()
			return msgs, nil
		}
		if err := s.recvErr; err != nil {
			s.recvErr = nil
			s.wake.Broadcast() // pollers resume
			s.mu.Unlock()
			return nil, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			s.mu.Unlock()
			return nil, nil
		}
		woken := s.wake.Chan()
		s.mu.Unlock()
		timer.Wait(ctx, woken, wait)
	}
}

// takeLocked hands out up to max buffered messages. Caller holds mu.
func (s *Source) takeLocked(max int, now time.Time) []*sources.Message {
	if s.bufMsgs == 0 {
		clear(s.buf) // only dropped deliveries are left
		s.buf = s.buf[:0]
		return nil
	}
	var (
		out     []*sources.Message
		blocked map[string]bool // FIFO groups whose head is not handed out now
	)
	keep := s.buf[:0]
	for i, d := range s.buf {
		if d.state != stBuffered {
			continue
		}
		if len(out) == max {
			keep = append(keep, s.buf[i:]...)
			break
		}
		if s.fifo && d.group != "" && (s.groupOut[d.group] != nil || blocked[d.group]) {
			keep = append(keep, d)
			continue
		}
		if !s.win.Fits(d.size) {
			keep = append(keep, d)
			if !s.fifo {
				keep = append(keep, s.buf[i+1:]...)
				break
			}
			if blocked == nil {
				blocked = map[string]bool{}
			}
			blocked[d.group] = true
			continue
		}
		d.state = stOut
		d.handedAt = now
		s.bufMsgs--
		s.bufBytes -= d.size
		s.win.Add(d.size)
		if s.fifo && d.group != "" {
			s.groupOut[d.group] = d
		}
		out = append(out, &d.msg)
	}
	clear(s.buf[len(keep):])
	s.buf = keep
	s.stats.HandedOut += int64(len(out))
	return out
}

// current returns the delivery m was handed out as, if it is still the
// live one; a message this Source never received is foreign. Caller holds
// mu.
func (s *Source) current(m *sources.Message) (*delivery, contract.Status) {
	d, ok := m.Handle.(*delivery)
	if !ok || d.src != s {
		return nil, contract.Foreign
	}
	if d.state != stOut || d.settling || s.held[d.id] != d {
		return nil, contract.Stale
	}
	return d, contract.Live
}

// finishLocked ends a handed-out delivery (acked, nacked or gone). Caller
// holds mu.
func (s *Source) finishLocked(d *delivery, now time.Time, record bool) {
	if d.state != stOut {
		return
	}
	d.state = stDone
	if s.held[d.id] == d {
		delete(s.held, d.id)
	}
	s.win.Remove(d.size)
	if s.fifo && s.groupOut[d.group] == d {
		delete(s.groupOut, d.group)
	}
	if record {
		s.proc.add(now.Sub(d.handedAt))
	}
}

// dropLocked takes a buffered delivery out of the buffer (released,
// expired or gone); the buffer slice skips it lazily. Caller holds mu.
func (s *Source) dropLocked(d *delivery) {
	if d.state != stBuffered {
		return
	}
	d.state = stDone
	if s.held[d.id] == d {
		delete(s.held, d.id)
	}
	s.bufMsgs--
	s.bufBytes -= d.size
}

// dropLapsedLocked drops a buffered delivery whose visibility is lapsing
// (MaxExtension spent, or its receipt handle gone). On a FIFO queue the
// group's later buffered messages go too: handing them out before SQS
// redelivers the lapsed one would break the group's order. It returns how
// many were dropped. Caller holds mu.
func (s *Source) dropLapsedLocked(d *delivery) int {
	n := 0
	if d.state == stBuffered {
		s.dropLocked(d)
		n++
	}
	if s.fifo && d.group != "" {
		for _, f := range s.buf {
			if f.state == stBuffered && f.group == d.group {
				s.dropLocked(f)
				n++
			}
		}
	}
	if n > 0 {
		s.wake.Broadcast()
	}
	return n
}

// Ack implements sources.Source with DeleteMessageBatch, ten per call.
// Stale deliveries (acked, nacked or superseded) are ignored. A receipt
// handle SQS no longer accepts counts in Stats.HandleInvalid and is not an
// error; entries SQS refuses for another reason stay held, so a retried
// Ack can delete them, and the error names them.
func (s *Source) Ack(ctx context.Context, msgs []*sources.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed("ack")
	}
	var ds []*delivery
	foreign := contract.Each(msgs, s.current, func(d *delivery) {
		d.settling = true
		ds = append(ds, d)
	})
	if len(ds) == 0 {
		s.mu.Unlock()
		return foreignErr("ack", foreign)
	}
	s.ops.Add(1)
	defer s.ops.Done()
	var (
		errs   []error
		failed []entryError
		total  = len(ds)
	)
	// A message received again while its delete is in flight has a new
	// receipt handle, and SQS may keep a message whose delete named an
	// older one: those deletes are sent again with the newest handle. Each
	// round can only follow a redelivery, so a few rounds are plenty.
	for round := 0; len(ds) > 0; round++ {
		entries := make([]entry, len(ds))
		for i, d := range ds {
			entries[i] = entry{d: d, receipt: d.receipt}
		}
		s.mu.Unlock()
		results, callErr := s.deleteEntries(ctx, entries)
		errs = append(errs, callErr)

		now := s.clk.Now()
		s.mu.Lock()
		var again []*delivery
		for i, d := range ds {
			r := results[i]
			if (r.ok || r.gone) && d.receipt != entries[i].receipt && round < 3 {
				again = append(again, d)
				continue
			}
			d.settling = false
			switch {
			case r.ok:
				s.finishLocked(d, now, true)
				s.stats.Acked++
			case r.gone:
				s.finishLocked(d, now, true)
				s.stats.HandleInvalid++
			case r.failed != nil:
				failed = append(failed, *r.failed)
			}
		}
		ds = again
	}
	s.wake.Broadcast()
	s.mu.Unlock()
	return errors.Join(errors.Join(errs...), batchError("ack", total, failed), foreignErr("ack", foreign))
}

// Nack implements sources.Source: the messages become visible again after
// delay (whole seconds, rounded up, at most 12h). On a FIFO queue the
// group's later messages this Source buffered are released with them, so
// SQS redelivers the group in order. Whatever the outcome, the Source lets
// go of the messages: one whose visibility change failed reappears when
// its current visibility timeout ends.
func (s *Source) Nack(ctx context.Context, msgs []*sources.Message, delay time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	secs := min(ceilSeconds(delay), int64(MaxVisibility/time.Second))
	now := s.clk.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed("nack")
	}
	var (
		entries []entry
		groups  map[string]bool
	)
	foreign := contract.Each(msgs, s.current, func(d *delivery) {
		// SQS counts its 12h from the receipt.
		left := int64((MaxVisibility-now.Sub(d.receivedAt))/time.Second) - 1
		entries = append(entries, entry{d: d, receipt: d.receipt, timeout: int32(max(min(secs, left), 0))})
		s.finishLocked(d, now, false)
		s.stats.Nacked++
		if s.fifo && d.group != "" {
			if groups == nil {
				groups = map[string]bool{}
			}
			groups[d.group] = true
		}
	})
	for _, d := range s.buf {
		if d.state == stBuffered && groups[d.group] {
			entries = append(entries, entry{d: d, receipt: d.receipt})
			s.dropLocked(d)
			s.stats.Released++
		}
	}
	if len(entries) == 0 {
		s.mu.Unlock()
		return foreignErr("nack", foreign)
	}
	s.ops.Add(1)
	s.wake.Broadcast()
	s.mu.Unlock()
	defer s.ops.Done()

	err := s.changeVisibility(ctx, "nack", entries)
	return errors.Join(err, foreignErr("nack", foreign))
}

// changeVisibility sets each entry's visibility timeout, counting receipt
// handles that are gone and reporting the other failures.
func (s *Source) changeVisibility(ctx context.Context, op string, entries []entry) error {
	results, callErr := s.changeEntries(ctx, entries)
	var (
		failed []entryError
		gone   int64
	)
	for _, r := range results {
		switch {
		case r.gone:
			gone++
		case r.failed != nil:
			failed = append(failed, *r.failed)
		}
	}
	if gone > 0 {
		s.mu.Lock()
		s.stats.HandleInvalid += gone
		s.mu.Unlock()
	}
	return errors.Join(callErr, batchError(op, len(entries), failed))
}

// DeadLetter implements sources.Source: each payload is sent to the
// dead-letter queue with the reason attributes first and as many original
// attributes as SQS's ten allow (the rest as JSON in
// AttrOriginalAttributes). The original message is not deleted.
func (s *Source) DeadLetter(ctx context.Context, dls []sources.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed("dead-letter")
	}
	s.ops.Add(1)
	s.mu.Unlock()
	defer s.ops.Done()

	var errs []error
	sent := int64(0)
	for i, dl := range dls {
		body, attrs := dl.Payload()
		in := &sqs.SendMessageInput{
			QueueUrl:          &s.o.DeadLetterQueueURL,
			MessageBody:       ptr(string(body)),
			MessageAttributes: toSQSAttributes(deadLetterAttributes(attrs)),
		}
		if s.dlqFIFO {
			group, id := "chorus-dead-letters", ""
			if dl.Message != nil {
				id = dl.Message.ID
				if dl.Message.OrderingKey != "" {
					group = dl.Message.OrderingKey
				}
			}
			in.MessageGroupId = &group
			in.MessageDeduplicationId = ptr(dedupID(id, body))
		}
		if _, err := s.api.SendMessage(ctx, in); err != nil {
			errs = append(errs, wrap(fmt.Sprintf("dead-letter %d of %d", i+1, len(dls)), err))
			if errkind.KindOf(err) == errkind.Canceled || ctx.Err() != nil {
				break
			}
			continue
		}
		sent++
	}
	s.mu.Lock()
	s.stats.DeadLettered += sent
	s.mu.Unlock()
	return errors.Join(errs...)
}

// Close implements sources.Source. It stops the pollers, waiting for polls
// in progress (up to WaitTime, or until ctx ends) so that what they return
// is released too; stops the heartbeat; waits for Acks and Nacks in
// flight; then makes every message still held visible again at once.
// Closing twice is a no-op.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wake.Broadcast()
	s.mu.Unlock()
	close(s.stop)

	// A long poll cut short may have been handed messages that then stay
	// invisible for the visibility timeout (SQS, and moto, keep polling
	// for a closed connection), so polls in progress get a short grace to
	// return what they have. Not the whole wait_time: an idle worker's
	// poll would hold a SIGTERM for up to 20s, past most drain budgets.
	// Cutting it is not an error: nothing is lost, only delayed.
	grace, cancelGrace := context.WithTimeout(ctx, closePollGrace)
	if !waitCtx(grace, s.pollers.Wait) {
		s.cancelPoll()
		s.pollers.Wait()
	}
	cancelGrace()
	s.cancelPoll()
	if !waitCtx(ctx, func() { <-s.hbDone }) {
		s.cancelHB()
		<-s.hbDone
	}
	s.cancelHB()
	waitCtx(ctx, s.ops.Wait)

	s.mu.Lock()
	var entries []entry
	for _, d := range s.held {
		if d.settling {
			continue // its delete is still in flight: let it finish
		}
		entries = append(entries, entry{d: d, receipt: d.receipt})
		switch d.state {
		case stBuffered:
			s.dropLocked(d)
		case stOut:
			s.finishLocked(d, s.clk.Now(), false)
		}
	}
	s.buf = nil
	s.stats.Released += int64(len(entries))
	s.mu.Unlock()
	if len(entries) == 0 {
		return nil
	}
	return s.changeVisibility(ctx, "close: release", entries)
}

// waitCtx runs wait and reports whether it returned before ctx ended.
func waitCtx(ctx context.Context, wait func()) bool {
	done := make(chan struct{})
	go func() {
		wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func errClosed(op string) error { return contract.ErrClosed("awssqs", op) }

func foreignErr(op string, n int) error {
	return contract.ErrForeign("awssqs", op, n, "by this source")
}

func ptr[T any](v T) *T { return &v }
