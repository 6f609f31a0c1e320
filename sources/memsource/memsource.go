// Package memsource is an in-memory message broker and its source driver,
// for tests, benchmarks and the embedded demo.
//
// A Topic is the broker: it holds messages until they are acked and
// outlives the Sources opened on it, so a test can close a Source and open
// another to see what is redelivered. Several Sources on one Topic compete
// for its messages like workers sharing one subscription.
//
// The hot path is batch-oriented: Receive, Ack and Nack take the topic lock
// once per call, and Receive allocates twice per batch (the deliveries and
// the returned slice) plus each message's ID. Nacked messages wait for their
// delay in a heap that Receive drains when due; no goroutine or timer exists
// per message.
package memsource

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
	"github.com/chorusml/chorus/sources/internal/delayq"
	"github.com/chorusml/chorus/sources/internal/flow"
	"github.com/chorusml/chorus/sources/internal/wake"
	"github.com/chorusml/chorus/worker/errkind"
)

// Flow control defaults, used where a sources.FlowControl field is zero.
const (
	DefaultMaxOutstandingMessages = sources.DefaultMaxOutstandingMessages
	DefaultMaxOutstandingBytes    = sources.DefaultMaxOutstandingBytes
)

// ReasonMaxDeliveries is the reason the topic gives a message it
// dead-letters after TopicOptions.MaxDeliveries deliveries.
const ReasonMaxDeliveries errkind.Reason = "max_delivery_attempts"

// maxWait is how long Receive blocks when nothing is available: the driver
// contract asks for about a second so the caller can check for shutdown.
const maxWait = time.Second

// Message is what Publish puts on a topic.
//
// Publish takes ownership of Body and Attributes: the topic hands the same
// slice and map to every delivery, so neither the publisher nor a receiver
// may modify them.
type Message struct {
	Body        []byte
	Attributes  map[string]string
	OrderingKey string
}

// DeadLettered is one entry of a topic's dead-letter list.
type DeadLettered struct {
	Body []byte
	// Attributes are the original message's attributes plus the reason
	// attributes (sources.AttrErrorClass, …).
	Attributes map[string]string
	At         time.Time
}

// TopicOptions configures a Topic. The zero value is a usable default.
type TopicOptions struct {
	// MaxDeliveries, when > 0, is how many times a message is delivered
	// before a nack moves it to the dead-letter list with reason
	// ReasonMaxDeliveries, like a Pub/Sub dead-letter policy.
	MaxDeliveries int
	// MaxBacklog, when > 0, bounds the messages published and not yet acked
	// or dead-lettered: Publish blocks until there is room. It lets a
	// benchmark push millions of messages through in bounded memory.
	MaxBacklog int
}

// Stats is a snapshot of a topic's counters.
type Stats struct {
	Published    int64
	Acked        int64
	DeadLettered int64
	// Ready, Delayed and Outstanding partition the unacked messages:
	// waiting for a receiver, waiting out a nack delay, handed out.
	Ready, Delayed, Outstanding int
}

// Topic is an in-memory broker. Its zero value is not usable: call
// NewTopic. It is safe for concurrent use.
type Topic struct {
	opts TopicOptions

	mu      sync.Mutex
	seq     uint64
	ready   ring
	delayed delayq.Queue[*entry]
	unacked int // ready + delayed + outstanding
	stats   Stats
	dead    []DeadLettered
	// wake wakes Publish and Receive callers on any change that may
	// unblock them.
	wake wake.Signal
}

// NewTopic returns an empty topic.
func NewTopic(opts TopicOptions) *Topic {
	return &Topic{opts: opts}
}

// entry is one published message. body, attrs, orderingKey, published and
// size never change after Publish, so deliveries read them without the lock.
type entry struct {
	seq         uint64
	body        []byte
	attrs       map[string]string
	orderingKey string
	published   int64 // unix nanoseconds
	size        int
	// The fields below are guarded by Topic.mu.
	attempts   int
	owner      *Source // non-nil while handed out
	prev, next *entry  // owner's outstanding list
}

// Publish appends messages to the topic. It blocks only when
// TopicOptions.MaxBacklog is reached, until there is room or ctx is done;
// messages published before ctx ended stay published.
func (t *Topic) Publish(ctx context.Context, msgs ...Message) error {
	now := time.Now().UnixNano()
	es := make([]*entry, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		es[i] = &entry{
			body:        m.Body,
			attrs:       m.Attributes,
			orderingKey: m.OrderingKey,
			published:   now,
			size:        size(m.Body, m.Attributes),
		}
	}
	for len(es) > 0 {
		t.mu.Lock()
		room := len(es)
		if limit := t.opts.MaxBacklog; limit > 0 {
			room = min(room, limit-t.unacked)
		}
		if room <= 0 {
			woken := t.wake.Chan()
			t.mu.Unlock()
			select {
			case <-ctx.Done():
				return fmt.Errorf("memsource: publish: %w", ctx.Err())
			case <-woken:
			}
			continue
		}
		for _, e := range es[:room] {
			t.seq++
			e.seq = t.seq
			t.ready.pushBack(e)
		}
		t.unacked += room
		t.stats.Published += int64(room)
		t.wake.Broadcast()
		t.mu.Unlock()
		es = es[room:]
	}
	return nil
}

// DeadLetters returns a copy of the topic's dead-letter list, oldest first:
// what Sources dead-lettered and what MaxDeliveries moved there.
func (t *Topic) DeadLetters() []DeadLettered {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]DeadLettered(nil), t.dead...)
}

// Stats returns the topic's counters.
func (t *Topic) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Ready = t.ready.len()
	s.Delayed = t.delayed.Len()
	s.Outstanding = t.unacked - s.Ready - s.Delayed
	return s
}

// promote moves delayed messages that are due to the ready queue. Caller
// holds mu.
func (t *Topic) promote(now int64) {
	t.delayed.PopDue(now, t.ready.pushBack)
}

// Source receives from a Topic. It implements sources.Source.
type Source struct {
	t *Topic

	// Guarded by t.mu: batch-level locking on one mutex keeps Receive and
	// Ack to one lock round trip each.
	win    flow.Window
	out    entry // sentinel of the outstanding list
	closed bool
}

var _ sources.Source = (*Source)(nil)

// NewSource opens a source on t bounded by fc (zero fields take the
// Default… constants, negative ones disable the bound).
func NewSource(t *Topic, fc sources.FlowControl) *Source {
	s := &Source{
		t:   t,
		win: flow.New(fc, DefaultMaxOutstandingMessages, DefaultMaxOutstandingBytes),
	}
	s.out.prev, s.out.next = &s.out, &s.out
	return s
}

// delivery is one hand-out of an entry. The Message lives inside it so a
// batch costs one allocation, and Handle points back to it so Ack can tell
// a current delivery from a stale one (acked, nacked or redelivered since).
type delivery struct {
	msg     sources.Message
	e       *entry
	src     *Source
	attempt int
}

// Receive implements sources.Source. It hands out nothing once ctx is done.
func (s *Source) Receive(ctx context.Context, max int) ([]*sources.Message, error) {
	if err := contract.CheckMax("memsource", max); err != nil {
		return nil, err
	}
	t := s.t
	var (
		timer    wake.Timer
		deadline int64
	)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("memsource: receive: %w", err)
		}
		t.mu.Lock()
		if s.closed {
			t.mu.Unlock()
			return nil, errClosed("receive")
		}
		now := time.Now().UnixNano()
		t.promote(now)
		if ds := s.take(max); ds != nil {
			t.mu.Unlock()
			return fill(ds), nil
		}
		if deadline == 0 {
			deadline = now + int64(maxWait)
		}
		wait, ok := t.delayed.Wait(now, deadline)
		if !ok {
			t.mu.Unlock()
			return nil, nil
		}
		woken := t.wake.Chan()
		t.mu.Unlock()
		timer.Wait(ctx, woken, wait)
	}
}

// take hands out up to max ready messages within flow control. Caller
// holds t.mu.
func (s *Source) take(max int) []delivery {
	t := s.t
	n := 0
	for n < max && n < t.ready.len() {
		e := t.ready.at(n)
		if !s.win.Fits(e.size) {
			break
		}
		s.win.Add(e.size)
		n++
	}
	if n == 0 {
		return nil
	}
	ds := make([]delivery, n)
	for i := range ds {
		e := t.ready.popFront()
		e.attempts++
		e.owner = s
		s.link(e)
		ds[i] = delivery{e: e, src: s, attempt: e.attempts}
	}
	return ds
}

// fill builds the messages outside the lock: the fields it reads are
// immutable after Publish.
func fill(ds []delivery) []*sources.Message {
	out := make([]*sources.Message, len(ds))
	for i := range ds {
		d := &ds[i]
		e := d.e
		d.msg = sources.Message{
			ID:              strconv.FormatUint(e.seq, 10),
			Body:            e.body,
			Attributes:      e.attrs,
			PublishTime:     time.Unix(0, e.published),
			DeliveryAttempt: d.attempt,
			OrderingKey:     e.orderingKey,
			Handle:          d,
		}
		out[i] = &d.msg
	}
	return out
}

// current returns the entry m was delivered from if that delivery is still
// the live one for this source. A delivery by another source on the same
// topic is stale, not foreign. Caller holds t.mu.
func (s *Source) current(m *sources.Message) (*entry, contract.Status) {
	d, ok := m.Handle.(*delivery)
	if !ok || d.src.t != s.t {
		return nil, contract.Foreign
	}
	if d.src != s || d.e.owner != s || d.e.attempts != d.attempt {
		return nil, contract.Stale
	}
	return d.e, contract.Live
}

// release takes e off this source's outstanding list. Caller holds t.mu.
func (s *Source) release(e *entry) {
	s.unlink(e)
	e.owner = nil
	s.win.Remove(e.size)
}

// Ack implements sources.Source. It is a local operation and ignores ctx.
// A message from another topic is an error; the rest of the batch is still
// acked.
func (s *Source) Ack(_ context.Context, msgs []*sources.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	t := s.t
	t.mu.Lock()
	if s.closed {
		t.mu.Unlock()
		return errClosed("ack")
	}
	n := 0
	foreign := contract.Each(msgs, s.current, func(e *entry) {
		s.release(e)
		n++
	})
	if n > 0 {
		t.unacked -= n
		t.stats.Acked += int64(n)
		t.wake.Broadcast()
	}
	t.mu.Unlock()
	return foreignErr("ack", foreign)
}

// Nack implements sources.Source. It ignores ctx, like Ack.
func (s *Source) Nack(_ context.Context, msgs []*sources.Message, delay time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	t := s.t
	now := time.Now()
	t.mu.Lock()
	if s.closed {
		t.mu.Unlock()
		return errClosed("nack")
	}
	foreign := contract.Each(msgs, s.current, func(e *entry) {
		s.release(e)
		switch {
		case t.opts.MaxDeliveries > 0 && e.attempts >= t.opts.MaxDeliveries:
			t.deadLetterLocked(e, now)
		case delay <= 0:
			t.ready.pushBack(e)
		default:
			t.delayed.Push(now.Add(delay).UnixNano(), e.seq, e)
		}
	})
	t.wake.Broadcast()
	t.mu.Unlock()
	return foreignErr("nack", foreign)
}

// deadLetterLocked moves e to the dead-letter list after too many
// deliveries. Caller holds t.mu.
func (t *Topic) deadLetterLocked(e *entry, now time.Time) {
	attrs := make(map[string]string, len(e.attrs)+5)
	maps.Copy(attrs, e.attrs)
	attrs[sources.AttrErrorClass] = string(ReasonMaxDeliveries)
	attrs[sources.AttrError] = fmt.Sprintf("nacked after %d deliveries", e.attempts)
	attrs[sources.AttrFailedAt] = "source"
	attrs[sources.AttrSourceMessageID] = strconv.FormatUint(e.seq, 10)
	attrs[sources.AttrDeliveryAttempt] = strconv.Itoa(e.attempts)
	t.dead = append(t.dead, DeadLettered{Body: e.body, Attributes: attrs, At: now})
	t.unacked--
	t.stats.DeadLettered++
}

// DeadLetter implements sources.Source: it appends to the topic's
// dead-letter list and does not ack the originals.
func (s *Source) DeadLetter(_ context.Context, dls []sources.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	now := time.Now()
	out := make([]DeadLettered, len(dls))
	for i, dl := range dls {
		body, attrs := dl.Payload()
		out[i] = DeadLettered{Body: body, Attributes: attrs, At: now}
	}
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return errClosed("dead-letter")
	}
	t.dead = append(t.dead, out...)
	t.stats.DeadLettered += int64(len(out))
	return nil
}

// Close implements sources.Source: outstanding messages go back to the
// topic at once. Closing twice is a no-op.
func (s *Source) Close(context.Context) error {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for e := s.out.next; e != &s.out; {
		next := e.next
		e.prev, e.next, e.owner = nil, nil, nil
		t.ready.pushBack(e)
		e = next
	}
	s.out.prev, s.out.next = &s.out, &s.out
	s.win.Reset()
	t.wake.Broadcast()
	return nil
}

func (s *Source) link(e *entry) {
	e.prev, e.next = s.out.prev, &s.out
	s.out.prev.next = e
	s.out.prev = e
}

func (s *Source) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func errClosed(op string) error { return contract.ErrClosed("memsource", op) }

func foreignErr(op string, n int) error {
	return contract.ErrForeign("memsource", op, n, "from this topic")
}

// size mirrors sources.Message.Size without building a Message.
func size(body []byte, attrs map[string]string) int {
	n := len(body)
	for k, v := range attrs {
		n += len(k) + len(v)
	}
	return n
}

// ring is a FIFO of entries that frees its slots as it goes, so acked
// messages are collectable and a drained backlog gives its memory back.
type ring struct {
	buf  []*entry // len is 0 or a power of two
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) *entry { return r.buf[(r.head+i)&(len(r.buf)-1)] }

func (r *ring) pushBack(e *entry) {
	if r.n == len(r.buf) {
		r.resize(max(16, 2*len(r.buf)))
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = e
	r.n++
}

func (r *ring) popFront() *entry {
	e := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	if len(r.buf) > 1024 && r.n < len(r.buf)/8 {
		r.resize(len(r.buf) / 4)
	}
	return e
}

func (r *ring) resize(size int) {
	buf := make([]*entry, size)
	for i := range r.n {
		buf[i] = r.at(i)
	}
	r.buf, r.head = buf, 0
}
