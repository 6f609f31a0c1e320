// Package sourcetest is the conformance suite every sources.Source driver
// runs, in the manner of Go CDK's pubsub/drivertest: a driver's test
// supplies a Harness that owns one queue, and Run checks the sources.Source
// contract against it. Behaviour a broker cannot offer is declared in
// Capabilities, or by the optional interfaces a Harness implements
// (LeaseHarness, KeyedHarness), and the matching cases are skipped, like
// Watermill's Features.
//
// The suite calls the HarnessMaker once per case, so every case starts on
// an empty queue, and runs cases in parallel. Every message it publishes
// has a single-line JSON body, so line-oriented sources can carry it. No
// case delivers a message more than three times, except max_deliveries.
//
// Where sources.Source leaves room, the suite pins these readings down:
//   - a message bigger than MaxOutstandingBytes is handed out alone, not
//     never;
//   - Receive on a cancelled context hands out nothing (the caller would
//     never ack it) and returns nil or an error wrapping ctx.Err();
//   - a redelivery keeps the message's ID; acking or nacking a delivery
//     that was nacked, acked or superseded by a redelivery is ignored;
//   - after Close, Receive, Ack, Nack and DeadLetter return an error
//     wrapping sources.ErrClosed, and an Ack then does not count;
//   - a dead letter carries the original attributes plus AttrErrorClass =
//     Reason, AttrError = Detail, AttrFailedAt = Stage,
//     AttrSourceMessageID = the message ID and, where the broker counts
//     deliveries, AttrDeliveryAttempt.
package sourcetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/testenv"
)

// RawMessage is a message as published to, or parked by, the underlying
// queue.
type RawMessage struct {
	Body       []byte
	Attributes map[string]string
}

// Capabilities says what the broker behind a driver can do; the suite skips
// the cases a driver cannot pass by design.
type Capabilities struct {
	// Attributes: messages carry attributes (a JSONL file does not).
	Attributes bool
	// DeliveryAttempt: Message.DeliveryAttempt is reported and grows by one
	// on each redelivery within a Source.
	DeliveryAttempt bool
	// NackDelay: a nacked message is not redelivered before its delay.
	NackDelay bool
	// Ordered: one receiver sees first deliveries in publish order.
	Ordered bool
	// LatePublish: a message published while a Source is open reaches it.
	// Without it the suite publishes before opening Sources.
	LatePublish bool
	// MayDuplicate: the broker is at-least-once and may deliver a message
	// again though it was neither nacked nor released; the suite then
	// tolerates duplicates where it would otherwise fail.
	MayDuplicate bool
	// MaxDeliveries, when > 0, is the broker-side limit after which a nacked
	// message is moved to the dead-letter queue (Pub/Sub dead-letter policy,
	// SQS maxReceiveCount, memsource.TopicOptions.MaxDeliveries). It must be
	// 4 or more, or 0 for none.
	MaxDeliveries int
	// Quiet is how long the suite waits to conclude that a message does not
	// come (back). Zero means 250ms; raise it for brokers that redeliver
	// slowly.
	Quiet time.Duration
	// CaseTimeout bounds each case; zero means 10s. Raise it for brokers
	// whose redelivery after a lost lease is bounded by a long deadline
	// (the Pub/Sub emulator's minimum ack extension is 10s).
	CaseTimeout time.Duration
}

// Harness adapts one driver and its queue to the suite.
type Harness interface {
	// NewSource opens a Source on the harness's queue. Sources opened by one
	// harness share the queue: what one acks, the next never sees. The suite
	// closes every Source it opens, and never has two open at once.
	NewSource(ctx context.Context, fc sources.FlowControl) (sources.Source, error)
	// Publish puts messages on the queue.
	Publish(ctx context.Context, msgs []RawMessage) error
	// DeadLetters returns everything dead-lettered so far, explicitly or by
	// the broker's redrive policy, oldest first.
	DeadLetters(ctx context.Context) ([]RawMessage, error)
	// Capabilities describes the broker.
	Capabilities() Capabilities
	// Close releases the queue.
	Close()
}

// HarnessMaker makes a Harness with a fresh, empty queue. The suite calls
// it from parallel cases.
type HarnessMaker func(ctx context.Context, t testing.TB) (Harness, error)

// caseTimeout bounds each case so a hang fails fast instead of stalling
// the whole test binary.
const caseTimeout = 10 * time.Second

// Run runs the whole suite against the driver newHarness makes: the base
// contract, the cases for drivers that hold messages for the broker
// (driver_held_cases.go), and, where the harness offers them, the lease
// cases (a LeaseHarness, lease_cases.go) and the ordering-key cases (a
// KeyedHarness, ordering_cases.go). A case a harness cannot run by design
// is skipped, saying why.
func Run(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	cases := slices.Concat(baseCases, driverHeldCases, leaseCases, orderingCases)
	testenv.RunCases(t, cases, func(t *testing.T) *env {
		h := testenv.NewHarness(t, caseTimeout, newHarness)
		caps := h.Capabilities()
		e := &env{t: t, h: h, caps: caps, timeout: cmp.Or(caps.CaseTimeout, caseTimeout)}
		e.ctx = e.deadline(e.timeout)
		if e.caps.Quiet <= 0 {
			e.caps.Quiet = 250 * time.Millisecond
		}
		return e
	})
}

// suiteCase is one case of the suite.
type suiteCase = testenv.Case[*env]

var baseCases = []suiteCase{
	{Name: "receive", Run: testReceive},
	{Name: "publish_while_open", Run: testPublishWhileOpen},
	{Name: "order", Run: testOrder},
	{Name: "empty_batches", Run: testEmptyBatches},
	{Name: "ack", Run: testAck},
	{Name: "double_ack_ignored", Run: testDoubleAck},
	{Name: "ack_after_nack_ignored", Run: testAckAfterNack},
	{Name: "nack_after_ack_ignored", Run: testNackAfterAck},
	{Name: "nack_redelivers", Run: testNackRedelivers},
	{Name: "nack_delay", Run: testNackDelay},
	{Name: "max_deliveries", Run: testMaxDeliveries},
	{Name: "dead_letter_carries_reason", Run: testDeadLetterReason},
	{Name: "dead_letter_does_not_ack", Run: testDeadLetterDoesNotAck},
	{Name: "cancelled_context", Run: testCancelledContext},
	{Name: "close_while_in_flight", Run: testCloseWhileInFlight},
	{Name: "use_after_close", Run: testUseAfterClose},
	{Name: "flow_control_messages", Run: testFlowControlMessages},
	{Name: "flow_control_bytes", Run: testFlowControlBytes},
	{Name: "flow_control_oversized_message", Run: testFlowControlOversized},
	{Name: "concurrent_receivers", Run: testConcurrentReceivers},
	{Name: "receive_blocks_about_a_second", Run: testReceiveBlocks},
}

// env is one case's harness plus helpers that fail the case on error.
type env struct {
	t    *testing.T
	ctx  context.Context
	h    Harness
	caps Capabilities
	// timeout is what bounds ctx: the harness's CaseTimeout or the
	// default.
	timeout time.Duration
}

// deadline returns a context that ends d from now or with the case,
// whichever comes first.
func (e *env) deadline(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// msg returns the i-th test message of a case: a single-line JSON job with
// attributes where the broker carries them.
func (e *env) msg(i int) RawMessage {
	m := RawMessage{Body: fmt.Appendf(nil, `{"response_id":"r-%d","tenant":"acme","text":"message %d — ünïcode ✓"}`, i, i)}
	if e.caps.Attributes {
		m.Attributes = map[string]string{"tenant": "acme", "index": strconv.Itoa(i), "note": "ü ✓"}
	}
	return m
}

func (e *env) publish(msgs ...RawMessage) {
	e.t.Helper()
	if err := e.h.Publish(e.ctx, msgs); err != nil {
		e.t.Fatalf("publish: %v", err)
	}
}

// publishN publishes messages 0..n-1 and returns them.
func (e *env) publishN(n int) []RawMessage {
	e.t.Helper()
	msgs := make([]RawMessage, n)
	for i := range msgs {
		msgs[i] = e.msg(i)
	}
	e.publish(msgs...)
	return msgs
}

// open opens a Source that is closed when the case ends.
func (e *env) open(fc sources.FlowControl) sources.Source {
	e.t.Helper()
	src, err := e.h.NewSource(e.ctx, fc)
	if err != nil {
		e.t.Fatalf("new source: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = src.Close(ctx) // a case may have closed it already
	})
	return src
}

func (e *env) close(src sources.Source) {
	e.t.Helper()
	if err := src.Close(e.ctx); err != nil {
		e.t.Fatalf("close: %v", err)
	}
}

func (e *env) ack(src sources.Source, msgs ...*sources.Message) {
	e.t.Helper()
	if err := src.Ack(e.ctx, msgs); err != nil {
		e.t.Fatalf("ack: %v", err)
	}
}

func (e *env) nack(src sources.Source, delay time.Duration, msgs ...*sources.Message) {
	e.t.Helper()
	if err := src.Nack(e.ctx, msgs, delay); err != nil {
		e.t.Fatalf("nack: %v", err)
	}
}

// receiveBatch is ReceiveRetrying in this case's context.
func (e *env) receiveBatch(ctx context.Context, src sources.Source, max int) ([]*sources.Message, error) {
	return ReceiveRetrying(ctx, e.t, src, max)
}

// ReceiveRetrying makes one Receive call as the worker does: a retryable
// error (a broker's transient 5xx, throttling, a poller's failed call) is
// logged and retried after a short pause, a few times in a row at most;
// any other error, ErrClosed, or a retryable one that keeps coming is
// returned for the test to fail on.
func ReceiveRetrying(ctx context.Context, t testing.TB, src sources.Source, max int) ([]*sources.Message, error) {
	const tries = 5
	for try := 1; ; try++ {
		batch, err := src.Receive(ctx, max)
		if err == nil || !errkind.IsRetryable(err) || errors.Is(err, sources.ErrClosed) || try == tries || ctx.Err() != nil {
			return batch, err
		}
		t.Logf("receive: retrying after %v", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// receive collects exactly n messages with Receive calls of at most max,
// failing the case if they do not come or if more come.
func (e *env) receive(src sources.Source, n, max int) []*sources.Message {
	e.t.Helper()
	var got []*sources.Message
	for len(got) < n {
		batch, err := e.receiveBatch(e.ctx, src, max)
		if err != nil {
			e.t.Fatalf("receive: got %d of %d messages: %v", len(got), n, err)
		}
		if len(batch) > max {
			e.t.Fatalf("receive(max=%d) returned %d messages", max, len(batch))
		}
		got = append(got, batch...)
	}
	if len(got) > n {
		e.t.Fatalf("received %d messages, want %d: %s", len(got), n, bodies(got))
	}
	return got
}

// receiveOne receives one message.
func (e *env) receiveOne(src sources.Source) *sources.Message {
	e.t.Helper()
	return e.receive(src, 1, 1)[0]
}

// expectNothing fails the case if src hands out a message within the
// quiet period.
func (e *env) expectNothing(src sources.Source, why string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, e.caps.Quiet)
	defer cancel()
	for ctx.Err() == nil {
		batch, err := src.Receive(ctx, 10)
		if len(batch) > 0 {
			e.t.Errorf("%s, but received %s", why, bodies(batch))
			return
		}
		if err != nil && ctx.Err() == nil {
			e.t.Fatalf("receive: %v", err)
		}
	}
}

// deadLetters polls the harness until it reports at least n dead letters.
func (e *env) deadLetters(n int) []RawMessage {
	e.t.Helper()
	for {
		dls, err := e.h.DeadLetters(e.ctx)
		if err != nil {
			e.t.Fatalf("dead letters: %v", err)
		}
		if len(dls) >= n {
			return dls
		}
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("dead letters: got %d, want %d", len(dls), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkSame fails unless got is a delivery of want.
func (e *env) checkSame(got *sources.Message, want RawMessage) {
	e.t.Helper()
	if string(got.Body) != string(want.Body) {
		e.t.Errorf("body = %q, want %q", got.Body, want.Body)
	}
	if !e.caps.Attributes {
		return
	}
	for k, v := range want.Attributes {
		if got.Attributes[k] != v {
			e.t.Errorf("message %s: attribute %q = %q, want %q", got.ID, k, got.Attributes[k], v)
		}
	}
}

// byBody maps want's bodies to themselves so cases can match deliveries
// in any order.
func byBody(want []RawMessage) map[string]RawMessage {
	m := make(map[string]RawMessage, len(want))
	for _, w := range want {
		m[string(w.Body)] = w
	}
	return m
}

func bodies(msgs []*sources.Message) string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = string(m.Body)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func testReceive(t *testing.T, e *env) {
	want := e.publishN(10)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 4)

	wantBy := byBody(want)
	ids := map[string]bool{}
	for _, m := range got {
		w, ok := wantBy[string(m.Body)]
		if !ok {
			t.Errorf("unexpected body %q", m.Body)
			continue
		}
		delete(wantBy, string(m.Body))
		e.checkSame(m, w)
		if m.ID == "" {
			t.Errorf("message %q has an empty ID", m.Body)
		}
		if ids[m.ID] {
			t.Errorf("ID %q handed out twice", m.ID)
		}
		ids[m.ID] = true
		// A broker that may duplicate can have delivered a message twice
		// before the source handed it out (moto's concurrent receives do);
		// its count then says so, and only a count under 1 is wrong.
		if e.caps.DeliveryAttempt && (m.DeliveryAttempt < 1 || m.DeliveryAttempt > 1 && !e.caps.MayDuplicate) {
			t.Errorf("message %s: DeliveryAttempt = %d on first delivery, want 1", m.ID, m.DeliveryAttempt)
		}
		if m.Size() < len(m.Body) {
			t.Errorf("message %s: Size %d < body length %d", m.ID, m.Size(), len(m.Body))
		}
	}
	if len(wantBy) > 0 && !e.caps.MayDuplicate {
		t.Errorf("%d messages never delivered", len(wantBy))
	}
	e.ack(src, got...)
}

func testPublishWhileOpen(t *testing.T, e *env) {
	if !e.caps.LatePublish {
		t.Skip("broker does not deliver messages published while a source is open")
	}
	src := e.open(sources.FlowControl{})
	type result struct {
		msgs []*sources.Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for len(r.msgs) == 0 && r.err == nil {
			var batch []*sources.Message
			batch, r.err = e.receiveBatch(e.ctx, src, 10)
			r.msgs = append(r.msgs, batch...)
		}
		done <- r
	}()
	want := e.msg(1)
	e.publish(want)
	r := <-done
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	e.checkSame(r.msgs[0], want)
	e.ack(src, r.msgs...)
}

func testOrder(t *testing.T, e *env) {
	if !e.caps.Ordered {
		t.Skip("broker does not preserve order")
	}
	want := e.publishN(20)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 7)
	for i := range got {
		if string(got[i].Body) != string(want[i].Body) {
			t.Fatalf("delivery %d = %q, want %q", i, got[i].Body, want[i].Body)
		}
	}
	e.ack(src, got...)
}

func testEmptyBatches(t *testing.T, e *env) {
	src := e.open(sources.FlowControl{})
	if err := src.Ack(e.ctx, nil); err != nil {
		t.Errorf("Ack(nil) = %v", err)
	}
	if err := src.Nack(e.ctx, nil, 0); err != nil {
		t.Errorf("Nack(nil) = %v", err)
	}
	if err := src.DeadLetter(e.ctx, nil); err != nil {
		t.Errorf("DeadLetter(nil) = %v", err)
	}
}

func testAck(t *testing.T, e *env) {
	want := e.publishN(5)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 10)
	e.ack(src, got...)
	e.expectNothing(src, "every message was acked")
	e.close(src)

	src = e.open(sources.FlowControl{})
	e.expectNothing(src, "every message was acked before the source was reopened")
}

func testDoubleAck(t *testing.T, e *env) {
	e.publishN(3)
	// With room for one message, a second ack that freed room again would
	// let two out at once.
	src := e.open(sources.FlowControl{MaxOutstandingMessages: 1, MaxOutstandingBytes: -1})
	m1 := e.receiveOne(src)
	e.ack(src, m1)
	e.ack(src, m1)
	m2 := e.receiveOne(src)
	if m2.ID == m1.ID {
		t.Fatalf("acked message %s delivered again", m1.ID)
	}
	e.expectNothing(src, "one message is outstanding and the limit is one")
	e.ack(src, m2)
	m3 := e.receiveOne(src)
	e.ack(src, m3, m3)
	e.expectNothing(src, "all three messages were acked")
}

func testAckAfterNack(t *testing.T, e *env) {
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	e.nack(src, 0, m)
	e.ack(src, m) // ignored: the nack stands

	again := e.receiveOne(src)
	if again.ID != m.ID {
		t.Fatalf("redelivered ID = %q, want %q", again.ID, m.ID)
	}
	e.checkSame(again, want)
	// The first delivery is stale now: acking it must not ack the second,
	// which Close then releases.
	e.ack(src, m)
	e.close(src)

	src = e.open(sources.FlowControl{})
	third := e.receiveOne(src)
	e.checkSame(third, want)
	e.ack(src, third)
	e.expectNothing(src, "the third delivery was acked")
}

func testNackAfterAck(t *testing.T, e *env) {
	e.publish(e.msg(1))
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	e.ack(src, m)
	e.nack(src, 0, m)
	e.expectNothing(src, "the message was acked before it was nacked")
}

func testNackRedelivers(t *testing.T, e *env) {
	want := e.publishN(2)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, 2, 2)
	byID := map[string]*sources.Message{}
	for _, m := range got {
		byID[m.ID] = m
	}
	e.nack(src, 0, got...)

	again := e.receive(src, 2, 2)
	wantBy := byBody(want)
	for _, m := range again {
		first, ok := byID[m.ID]
		if !ok {
			t.Errorf("redelivery has ID %q, not one of the first deliveries", m.ID)
			continue
		}
		e.checkSame(m, wantBy[string(first.Body)])
		if e.caps.DeliveryAttempt && m.DeliveryAttempt != first.DeliveryAttempt+1 {
			t.Errorf("message %s: DeliveryAttempt = %d after a nack, want %d", m.ID, m.DeliveryAttempt, first.DeliveryAttempt+1)
		}
	}
	e.ack(src, again...)
	e.expectNothing(src, "the redeliveries were acked")
}

func testNackDelay(t *testing.T, e *env) {
	if !e.caps.NackDelay {
		t.Skip("broker does not honour nack delays")
	}
	const delay = 400 * time.Millisecond
	e.publishN(2)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, 2, 2)
	slow, fast := got[0], got[1]
	// Measured from before the nack, so a slow machine can only make the
	// observed wait longer, never shorter.
	nackedAt := time.Now()
	e.nack(src, delay, slow)
	e.nack(src, 0, fast)

	for seen := 0; seen < 2; {
		batch, err := e.receiveBatch(e.ctx, src, 2)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range batch {
			seen++
			if m.ID == slow.ID {
				if waited := time.Since(nackedAt); waited < delay {
					t.Errorf("message nacked with delay %v came back after %v", delay, waited)
				}
			}
		}
		e.ack(src, batch...)
	}
}

func testMaxDeliveries(t *testing.T, e *env) {
	n := e.caps.MaxDeliveries
	if n <= 0 {
		t.Skip("broker has no delivery limit")
	}
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	for i := 1; i <= n; i++ {
		m := e.receiveOne(src)
		if e.caps.DeliveryAttempt && m.DeliveryAttempt != i {
			t.Errorf("DeliveryAttempt = %d, want %d", m.DeliveryAttempt, i)
		}
		e.nack(src, 0, m)
	}
	dls := e.deadLetters(1)
	if string(dls[0].Body) != string(want.Body) {
		t.Errorf("dead-lettered body = %q, want %q", dls[0].Body, want.Body)
	}
	e.expectNothing(src, fmt.Sprintf("the message was dead-lettered after %d deliveries", n))
}

func testDeadLetterReason(t *testing.T, e *env) {
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	job := []byte(`{"response_id":"r-1","tenant":"acme","text":"` + strings.Repeat("x", 40) + `"}`)
	dls := []sources.DeadLetter{
		{Message: m, Body: m.Body, Reason: "bad_json", Detail: "invalid character 'x' at offset 3", Stage: "decode"},
		{Message: m, Body: job, Reason: "text_too_long", Detail: "text is 40 bytes, limit 10", Stage: "route"},
	}
	if err := src.DeadLetter(e.ctx, dls); err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	e.ack(src, m)

	got := e.deadLetters(len(dls))
	if len(got) != len(dls) {
		t.Fatalf("got %d dead letters, want %d", len(got), len(dls))
	}
	for i, dl := range dls {
		g := got[i]
		if string(g.Body) != string(dl.Body) {
			t.Errorf("dead letter %d: body = %q, want %q", i, g.Body, dl.Body)
		}
		wantAttrs := map[string]string{
			sources.AttrErrorClass:      dl.Reason,
			sources.AttrError:           dl.Detail,
			sources.AttrFailedAt:        dl.Stage,
			sources.AttrSourceMessageID: m.ID,
		}
		if e.caps.DeliveryAttempt {
			wantAttrs[sources.AttrDeliveryAttempt] = strconv.Itoa(m.DeliveryAttempt)
		}
		if e.caps.Attributes {
			maps.Copy(wantAttrs, want.Attributes)
		}
		for _, k := range slices.Sorted(maps.Keys(wantAttrs)) {
			if g.Attributes[k] != wantAttrs[k] {
				t.Errorf("dead letter %d: attribute %q = %q, want %q", i, k, g.Attributes[k], wantAttrs[k])
			}
		}
	}
	e.expectNothing(src, "the dead-lettered message was acked")
}

func testDeadLetterDoesNotAck(t *testing.T, e *env) {
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	err := src.DeadLetter(e.ctx, []sources.DeadLetter{{Message: m, Body: m.Body, Reason: "r", Stage: "decode"}})
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	e.nack(src, 0, m)
	again := e.receiveOne(src)
	e.checkSame(again, want)
	e.ack(src, again)
}

func testCancelledContext(t *testing.T, e *env) {
	want := e.publishN(3)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 10)

	// Everything is handed out, so this Receive has to wait.
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		batch, err := src.Receive(ctx, 10)
		if len(batch) > 0 {
			err = fmt.Errorf("handed out %s with every message outstanding", bodies(batch))
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Receive cancelled while waiting = %v, want nil or context.Canceled", err)
		}
	case <-e.ctx.Done():
		t.Fatal("Receive did not return after its context was cancelled")
	}

	// Messages are ready now, but a cancelled caller must not be handed
	// any: it would never ack them.
	e.nack(src, 0, got...)
	batch, err := src.Receive(ctx, 10)
	if len(batch) > 0 {
		t.Errorf("Receive on a cancelled context handed out %s", bodies(batch))
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Receive on a cancelled context = %v, want nil or context.Canceled", err)
	}

	// Cancellation lost nothing.
	got = e.receive(src, len(want), 10)
	e.ack(src, got...)
}

func testCloseWhileInFlight(t *testing.T, e *env) {
	want := e.publishN(6)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 10)
	// Ack every other message so the acked set has holes, not just a prefix.
	var unacked []*sources.Message
	for i, m := range got {
		if i%2 == 0 {
			e.ack(src, m)
		} else {
			unacked = append(unacked, m)
		}
	}
	e.close(src)

	src = e.open(sources.FlowControl{})
	again := e.receive(src, len(unacked), 10)
	wantBy := byBody(want)
	ids := map[string]bool{}
	for _, m := range unacked {
		ids[m.ID] = true
	}
	for _, m := range again {
		if !ids[m.ID] {
			t.Errorf("after reopening, got %s (%q), which was acked or never handed out", m.ID, m.Body)
		}
		e.checkSame(m, wantBy[string(m.Body)])
		if e.caps.DeliveryAttempt && m.DeliveryAttempt < 1 {
			t.Errorf("message %s: DeliveryAttempt = %d, want >= 1", m.ID, m.DeliveryAttempt)
		}
	}
	e.ack(src, again...)
	e.expectNothing(src, "every message was acked")
}

func testUseAfterClose(t *testing.T, e *env) {
	e.publishN(2)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	e.close(src)

	if _, err := e.receiveBatch(e.ctx, src, 1); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("Receive after Close = %v, want ErrClosed", err)
	}
	if err := src.Ack(e.ctx, []*sources.Message{m}); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("Ack after Close = %v, want ErrClosed", err)
	}
	if err := src.Nack(e.ctx, []*sources.Message{m}, 0); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("Nack after Close = %v, want ErrClosed", err)
	}
	err := src.DeadLetter(e.ctx, []sources.DeadLetter{{Message: m, Body: m.Body, Reason: "r", Stage: "decode"}})
	if !errors.Is(err, sources.ErrClosed) {
		t.Errorf("DeadLetter after Close = %v, want ErrClosed", err)
	}
	// A second Close may return ErrClosed or nil, but must not hang or
	// panic.
	_ = src.Close(e.ctx)

	// The ack after Close did not count: both messages come back.
	src = e.open(sources.FlowControl{})
	got := e.receive(src, 2, 10)
	e.ack(src, got...)
}

// outstanding tracks what a case holds and checks it against flow control
// after every Receive.
type outstanding struct {
	maxMsgs, maxBytes int
	held              map[string]*sources.Message
	bytes             int
}

func (o *outstanding) add(t *testing.T, batch []*sources.Message) {
	t.Helper()
	for _, m := range batch {
		o.held[m.ID] = m
		o.bytes += m.Size()
	}
	if o.maxMsgs > 0 && len(o.held) > o.maxMsgs {
		t.Fatalf("%d messages outstanding, limit %d", len(o.held), o.maxMsgs)
	}
	if o.maxBytes > 0 && o.bytes > o.maxBytes {
		t.Fatalf("%d bytes outstanding, limit %d", o.bytes, o.maxBytes)
	}
}

func (o *outstanding) remove(msgs ...*sources.Message) {
	for _, m := range msgs {
		if _, ok := o.held[m.ID]; ok {
			delete(o.held, m.ID)
			o.bytes -= m.Size()
		}
	}
}

// fill receives until the window holds n messages.
func (e *env) fill(src sources.Source, o *outstanding, n int) []*sources.Message {
	e.t.Helper()
	var got []*sources.Message
	for len(o.held) < n {
		batch, err := e.receiveBatch(e.ctx, src, 10)
		if err != nil {
			e.t.Fatalf("receive: %d outstanding, want %d: %v", len(o.held), n, err)
		}
		o.add(e.t, batch)
		got = append(got, batch...)
	}
	return got
}

// drain receives and acks until every message of want was acked once.
func (e *env) drain(src sources.Source, o *outstanding, want []RawMessage, acked map[string]bool) {
	e.t.Helper()
	for len(acked) < len(want) {
		batch, err := e.receiveBatch(e.ctx, src, 10)
		if err != nil {
			e.t.Fatalf("receive: %d of %d acked: %v", len(acked), len(want), err)
		}
		o.add(e.t, batch)
		e.ack(src, batch...)
		o.remove(batch...)
		for _, m := range batch {
			acked[string(m.Body)] = true
		}
	}
}

func testFlowControlMessages(t *testing.T, e *env) {
	const limit = 3
	want := e.publishN(10)
	src := e.open(sources.FlowControl{MaxOutstandingMessages: limit, MaxOutstandingBytes: -1})
	o := &outstanding{maxMsgs: limit, held: map[string]*sources.Message{}}
	acked := map[string]bool{}

	held := e.fill(src, o, limit)
	e.expectNothing(src, fmt.Sprintf("%d messages are outstanding and the limit is %d", limit, limit))

	// An ack frees room for exactly one more.
	e.ack(src, held[0])
	o.remove(held[0])
	acked[string(held[0].Body)] = true
	e.fill(src, o, limit)
	e.expectNothing(src, "the window is full again after one ack")

	// So does a nack.
	e.nack(src, 0, held[1])
	o.remove(held[1])
	e.fill(src, o, limit)

	// Then everything flows through the window.
	rest := slices.Collect(maps.Values(o.held))
	e.ack(src, rest...)
	o.remove(rest...)
	for _, m := range rest {
		acked[string(m.Body)] = true
	}
	e.drain(src, o, want, acked)
}

// padded returns test message i with its body padded to n bytes and no
// attributes, so that Size is exactly n.
func (e *env) padded(i, n int) RawMessage {
	body := fmt.Appendf(nil, `{"response_id":"r-%d","tenant":"acme","text":"`, i)
	body = append(body, strings.Repeat("x", n-len(body)-2)...)
	body = append(body, `"}`...)
	return RawMessage{Body: body}
}

func testFlowControlBytes(t *testing.T, e *env) {
	const size, limit = 100, 250 // room for two messages
	want := make([]RawMessage, 6)
	for i := range want {
		want[i] = e.padded(i, size)
	}
	e.publish(want...)
	src := e.open(sources.FlowControl{MaxOutstandingMessages: -1, MaxOutstandingBytes: limit})
	o := &outstanding{maxBytes: limit, held: map[string]*sources.Message{}}
	acked := map[string]bool{}

	held := e.fill(src, o, 2)
	e.expectNothing(src, fmt.Sprintf("%d bytes are outstanding and the limit is %d", o.bytes, limit))
	e.ack(src, held[0])
	o.remove(held[0])
	acked[string(held[0].Body)] = true
	e.fill(src, o, 2)

	rest := slices.Collect(maps.Values(o.held))
	e.ack(src, rest...)
	o.remove(rest...)
	for _, m := range rest {
		acked[string(m.Body)] = true
	}
	e.drain(src, o, want, acked)
}

func testFlowControlOversized(t *testing.T, e *env) {
	// A message bigger than the byte limit must still go out, alone;
	// otherwise it would block the source forever.
	big, small := e.padded(1, 400), e.padded(2, 100)
	e.publish(big, small)
	src := e.open(sources.FlowControl{MaxOutstandingMessages: -1, MaxOutstandingBytes: 250})
	got := map[string]bool{}
	for len(got) < 2 {
		batch, err := e.receiveBatch(e.ctx, src, 10)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(batch) > 1 {
			var n int
			for _, m := range batch {
				n += m.Size()
			}
			if n > 250 {
				t.Errorf("handed out %d bytes at once, limit 250", n)
			}
		}
		for _, m := range batch {
			got[string(m.Body)] = true
		}
		e.ack(src, batch...)
	}
	if !got[string(big.Body)] {
		t.Error("the oversized message was never delivered")
	}
}

func testConcurrentReceivers(t *testing.T, e *env) {
	const n, receivers = 300, 4
	want := e.publishN(n)
	src := e.open(sources.FlowControl{MaxOutstandingMessages: 50})

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		count = map[string]int{}
		wg    sync.WaitGroup
	)
	for range receivers {
		wg.Go(func() {
			for ctx.Err() == nil {
				batch, err := e.receiveBatch(ctx, src, 7)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					t.Errorf("receive: %v", err)
					return
				}
				if err := src.Ack(e.ctx, batch); err != nil {
					t.Errorf("ack: %v", err)
					return
				}
				mu.Lock()
				for _, m := range batch {
					count[string(m.Body)]++
				}
				if len(count) == n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if len(count) != n {
		t.Errorf("received %d distinct messages, want %d", len(count), n)
	}
	for _, w := range want {
		if c := count[string(w.Body)]; c > 1 && !e.caps.MayDuplicate {
			t.Errorf("message %q delivered %d times", w.Body, c)
		}
	}
}

// minBlock is the least an empty Receive must wait: the contract's "about a
// second", halved for timer slack. A driver that returns at once with
// nothing would have its caller spin.
const minBlock = 500 * time.Millisecond

func testReceiveBlocks(t *testing.T, e *env) {
	src := e.open(sources.FlowControl{})
	// The contract says about a second; three leaves room for a slow
	// machine while still catching a Receive that waits for its context.
	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	got, err := src.Receive(ctx, 10)
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("Receive on an empty source = %v, want an empty batch within about a second", err)
	}
	if len(got) > 0 {
		t.Fatalf("Receive on an empty source returned %s", bodies(got))
	}
	if waited < minBlock {
		t.Errorf("Receive on an empty source returned after %v; it must block about a second (at least %v)", waited, minBlock)
	}

	if !e.caps.LatePublish {
		return // a message published now would not reach src
	}
	// A message published while Receive waits ends the wait: the Receive
	// that was waiting hands it out, rather than returning empty when its
	// second is up.
	type result struct {
		msgs []*sources.Message
		err  error
		took time.Duration
	}
	entering, done := make(chan struct{}), make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
		defer cancel()
		close(entering)
		start := time.Now()
		msgs, err := e.receiveBatch(ctx, src, 10)
		done <- result{msgs, err, time.Since(start)}
	}()
	<-entering
	want := e.msg(1)
	e.publish(want)
	r := <-done
	if r.err != nil {
		t.Fatalf("Receive waiting for a message published meanwhile = %v", r.err)
	}
	if len(r.msgs) == 0 {
		t.Fatalf("Receive waiting while a message was published returned empty after %v; the message should have ended the wait", r.took)
	}
	e.checkSame(r.msgs[0], want)
	e.ack(src, r.msgs...)
}
