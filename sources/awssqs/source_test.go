package awssqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/sources/sourcetest"
	"github.com/chorusml/chorus/worker/errkind"
)

// faultAPI wraps a real client (on moto) and injects failures per call or
// per batch entry, recording what it was asked, like pstest's Reactor.
type faultAPI struct {
	api

	mu sync.Mutex
	// onDelete returns codes to fail entries with (by entry Id) instead of
	// sending them, or an error to fail the whole call.
	onDelete func([]types.DeleteMessageBatchRequestEntry) (map[string]string, error)
	// onReceive, if it returns an error, fails the call.
	onReceive func() error
	// onSendBatch returns codes to fail entries with (by entry Id).
	onSendBatch func([]types.SendMessageBatchRequestEntry) map[string]string
	changes     []change
	sendBatches []int
}

type change struct {
	at      time.Time
	receipt string
	timeout int32
}

func (f *faultAPI) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	hook := f.onDelete
	f.mu.Unlock()
	var fail map[string]string
	if hook != nil {
		var err error
		if fail, err = hook(in.Entries); err != nil {
			return nil, err
		}
	}
	fwd := *in
	fwd.Entries = nil
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		if code, ok := fail[aws.ToString(e.Id)]; ok {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{
				Id: e.Id, Code: aws.String(code), Message: aws.String("injected"), SenderFault: code == "ReceiptHandleIsInvalid",
			})
			continue
		}
		fwd.Entries = append(fwd.Entries, e)
	}
	if len(fwd.Entries) > 0 {
		real, err := f.api.DeleteMessageBatch(ctx, &fwd, opts...)
		if err != nil {
			return nil, err
		}
		out.Successful = append(out.Successful, real.Successful...)
		out.Failed = append(out.Failed, real.Failed...)
	}
	return out, nil
}

func (f *faultAPI) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	hook := f.onReceive
	f.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return nil, err
		}
	}
	return f.api.ReceiveMessage(ctx, in, opts...)
}

func (f *faultAPI) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	now := time.Now()
	f.mu.Lock()
	for _, e := range in.Entries {
		f.changes = append(f.changes, change{at: now, receipt: aws.ToString(e.ReceiptHandle), timeout: e.VisibilityTimeout})
	}
	f.mu.Unlock()
	return f.api.ChangeMessageVisibilityBatch(ctx, in, opts...)
}

func (f *faultAPI) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	f.sendBatches = append(f.sendBatches, len(in.Entries))
	hook := f.onSendBatch
	f.mu.Unlock()
	var fail map[string]string
	if hook != nil {
		fail = hook(in.Entries)
	}
	fwd := *in
	fwd.Entries = nil
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if code, ok := fail[aws.ToString(e.Id)]; ok {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String(code), Message: aws.String("injected")})
			continue
		}
		fwd.Entries = append(fwd.Entries, e)
	}
	if len(fwd.Entries) > 0 {
		real, err := f.api.SendMessageBatch(ctx, &fwd, opts...)
		if err != nil {
			return nil, err
		}
		out.Successful = append(out.Successful, real.Successful...)
		out.Failed = append(out.Failed, real.Failed...)
	}
	return out, nil
}

func (f *faultAPI) changesFor(receipt string) []change {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []change
	for _, c := range f.changes {
		if c.receipt == receipt {
			out = append(out, c)
		}
	}
	return out
}

var fixtureSeq atomic.Int64

// fixture is a queue, its dead-letter queue and a fault-injecting client.
type fixture struct {
	srv    *sqstest.Server
	fault  *faultAPI
	q, dlq string
	fifo   bool
}

func newFixture(t *testing.T, ctx context.Context, srv *sqstest.Server, fifo bool) *fixture {
	t.Helper()
	n := fixtureSeq.Add(1)
	dlq, err := srv.CreateQueue(ctx, fmt.Sprintf("fx-dlq-%d", n), sqstest.QueueOpts{FIFO: fifo})
	if err != nil {
		t.Fatal(err)
	}
	q, err := srv.CreateQueue(ctx, fmt.Sprintf("fx-%d", n), sqstest.QueueOpts{FIFO: fifo})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, fault: &faultAPI{api: srv.Client(t)}, q: q, dlq: dlq, fifo: fifo}
}

// source opens a Source on the fixture's queue, closed when t ends.
func (f *fixture) source(t *testing.T, o Options) *Source {
	t.Helper()
	o.QueueURL, o.DeadLetterQueueURL = f.q, f.dlq
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	s, err := newSource(f.fault, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

// publish sends n messages (bodies "m-0"…), all in group g on FIFO.
func (f *fixture) publish(t *testing.T, ctx context.Context, n int, group string) []string {
	t.Helper()
	p, err := newPublisher(f.srv.Client(t), f.q, PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]sources.OutMessage, n)
	bodies := make([]string, n)
	for i := range msgs {
		bodies[i] = fmt.Sprintf(`{"response_id":"%s-%d","tenant":"acme","text":"t"}`, group, i)
		msgs[i] = sources.OutMessage{Body: []byte(bodies[i]), Attributes: map[string]string{"tenant": "acme"}, OrderingKey: group}
	}
	if _, err := p.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	return bodies
}

// receive collects exactly n messages.
// receive takes n messages, retrying retryable receive errors as the
// worker does (moto under load sometimes answers a receive with a 500, and
// another poller's failed call may still be reported).
func receive(t *testing.T, ctx context.Context, s *Source, n int) []*sources.Message {
	t.Helper()
	var got []*sources.Message
	for len(got) < n {
		batch, err := sourcetest.ReceiveRetrying(ctx, t, s, n-len(got))
		if err != nil {
			t.Fatalf("receive: %d of %d: %v", len(got), n, err)
		}
		got = append(got, batch...)
	}
	return got
}

func receiptOf(s *Source, m *sources.Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.Handle.(*delivery).receipt
}

func depth(t *testing.T, ctx context.Context, f *fixture) sqstest.Depth {
	t.Helper()
	d, err := f.srv.Depth(ctx, f.q)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeClock is a clock the test moves by hand. Its tickers never tick:
// the heartbeat beats only when the test calls hold.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) NewTicker(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }

// hold moves clk on by d, one heartbeat tick at a time, beating after
// each tick: what the heartbeat does while a message is held for d, with
// no waiting. Each beat returns once SQS has answered its visibility
// changes, so the changes are in f.fault's log when hold returns. Real
// time barely passes, so moto's visibility timeouts, restarted by each
// extension, do not run out meanwhile.
func hold(s *Source, clk *fakeClock, d time.Duration) {
	for end := clk.Now().Add(d); clk.Now().Before(end); {
		clk.advance(min(s.tick, end.Sub(clk.Now())))
		s.beat()
	}
}

// waitForSource waits until cond, read under the Source's lock, holds:
// it looks again at each change the Source broadcasts (a poller's
// receive, an ack), never on a timer.
func waitForSource(ctx context.Context, s *Source, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		woken := s.wake.Chan()
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-woken:
		}
	}
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestSource runs the driver's own behaviour cases against moto, with
// faults injected where moto cannot produce them.
func TestSource(t *testing.T) {
	srv := sqstest.StartMoto(t)
	tests := []struct {
		name string
		run  func(*testing.T, context.Context, *sqstest.Server)
	}{
		{"ack_entry_failure_is_named_and_retryable", testAckEntryFailure},
		{"ack_receipt_handle_invalid_is_counted", testAckHandleInvalid},
		{"ack_resends_delete_after_redelivery", testAckRedeliveredDuringDelete},
		{"ack_call_failure_keeps_messages", testAckCallFailure},
		{"receive_error_surfaces", testReceiveError},
		{"missing_queue_is_permanent", testMissingQueue},
		{"flow_control_bounds_receives", testFlowControlBoundsReceives},
		{"close_releases_at_once", testCloseReleases},
		{"close_is_prompt_during_a_long_poll", testClosePrompt},
		{"nack_delay_capped_at_12h", testNackCap},
		{"visibility_heartbeat", testVisibilityHeartbeat},
		{"extension_sized_from_processing_time", testExtensionSizing},
		{"max_extension_bounds_the_total", testMaxExtension},
		{"fifo_one_per_group", testFIFOOnePerGroup},
		{"dead_letter_attributes", testDeadLetterAttributes},
		{"dead_letter_fifo", testDeadLetterFIFO},
		{"options", testOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, testCtx(t, 20*time.Second), srv)
		})
	}
}

func testAckEntryFailure(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 15, "a")
	s := f.source(t, Options{})
	msgs := receive(t, ctx, s, 15)
	bad := receiptOf(s, msgs[3])
	f.fault.mu.Lock()
	f.fault.onDelete = func(es []types.DeleteMessageBatchRequestEntry) (map[string]string, error) {
		for _, e := range es {
			if aws.ToString(e.ReceiptHandle) == bad {
				return map[string]string{aws.ToString(e.Id): "InternalError"}, nil
			}
		}
		return nil, nil
	}
	f.fault.mu.Unlock()

	err := s.Ack(ctx, msgs)
	if errkind.KindOf(err) != errkind.Retryable || !strings.Contains(fmt.Sprint(err), msgs[3].ID) {
		t.Fatalf("Ack = %v, want a retryable error naming %s", err, msgs[3].ID)
	}
	if got := s.Stats().Acked; got != 14 {
		t.Errorf("Acked = %d, want 14", got)
	}
	f.fault.mu.Lock()
	f.fault.onDelete = nil
	f.fault.mu.Unlock()
	// The worker retries the whole Ack: the 14 are stale now, the failed
	// one goes.
	if err := s.Ack(ctx, msgs); err != nil {
		t.Fatalf("retried Ack = %v", err)
	}
	if got := s.Stats().Acked; got != 15 {
		t.Errorf("Acked = %d after the retry, want 15", got)
	}
	if d := depth(t, ctx, f); !d.Empty() {
		t.Errorf("queue not empty after the acks: %+v", d)
	}
}

// A message received again while its delete is in flight has a newer
// receipt handle; the delete that named the older one may leave it in the
// queue, so Ack deletes again with the newest.
func testAckRedeliveredDuringDelete(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 1, "a")
	s := f.source(t, Options{})
	m := receive(t, ctx, s, 1)[0]
	first := receiptOf(s, m)
	client := srv.Client(t)
	var deleted []string
	f.fault.mu.Lock()
	f.fault.onDelete = func(es []types.DeleteMessageBatchRequestEntry) (map[string]string, error) {
		for _, e := range es {
			deleted = append(deleted, aws.ToString(e.ReceiptHandle))
		}
		if len(deleted) > 1 {
			return nil, nil
		}
		// Make the message visible and wait for a poller to take it back.
		if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &f.q, ReceiptHandle: &first, VisibilityTimeout: 0,
		}); err != nil {
			return nil, err
		}
		if err := waitForSource(ctx, s, func() bool { return s.stats.Duplicates > 0 }); err != nil {
			return nil, err
		}
		return nil, nil
	}
	f.fault.mu.Unlock()

	if err := s.Ack(ctx, []*sources.Message{m}); err != nil {
		t.Fatalf("Ack = %v", err)
	}
	if len(deleted) != 2 || deleted[0] != first || deleted[1] == first {
		t.Fatalf("deletes named receipts %q, want the first and then the newer one", deleted)
	}
	if st := s.Stats(); st.Acked != 1 || st.HandedOut != 1 {
		t.Errorf("stats %+v, want one message handed out and acked once", st)
	}
	if d := depth(t, ctx, f); !d.Empty() {
		t.Errorf("queue not empty after the ack: %+v", d)
	}
}

func testAckHandleInvalid(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 2, "a")
	s := f.source(t, Options{FlowControl: sources.FlowControl{MaxOutstandingMessages: 1}})
	m := receive(t, ctx, s, 1)[0]
	f.fault.mu.Lock()
	f.fault.onDelete = func(es []types.DeleteMessageBatchRequestEntry) (map[string]string, error) {
		return map[string]string{aws.ToString(es[0].Id): "ReceiptHandleIsInvalid"}, nil
	}
	f.fault.mu.Unlock()
	if err := s.Ack(ctx, []*sources.Message{m}); err != nil {
		t.Fatalf("Ack with a receipt handle SQS no longer accepts = %v, want nil", err)
	}
	if got := s.Stats().HandleInvalid; got != 1 {
		t.Errorf("HandleInvalid = %d, want 1", got)
	}
	// The slot is free again.
	if next := receive(t, ctx, s, 1)[0]; next.ID == m.ID {
		t.Errorf("got %s again", m.ID)
	}
}

func testAckCallFailure(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 12, "a")
	s := f.source(t, Options{})
	msgs := receive(t, ctx, s, 12)
	var calls atomic.Int32
	f.fault.mu.Lock()
	f.fault.onDelete = func([]types.DeleteMessageBatchRequestEntry) (map[string]string, error) {
		if calls.Add(1) == 1 {
			return nil, &types.RequestThrottled{Message: aws.String("slow down")}
		}
		return nil, nil
	}
	f.fault.mu.Unlock()
	err := s.Ack(ctx, msgs)
	if errkind.KindOf(err) != errkind.Retryable || errkind.ReasonOf(err) != ReasonThrottled {
		t.Fatalf("Ack = %v (%v, %s), want retryable %s", err, errkind.KindOf(err), errkind.ReasonOf(err), ReasonThrottled)
	}
	if err := s.Ack(ctx, msgs); err != nil {
		t.Fatalf("retried Ack = %v", err)
	}
	if got := s.Stats().Acked; got != 12 {
		t.Errorf("Acked = %d, want 12", got)
	}
	if d := depth(t, ctx, f); !d.Empty() {
		t.Errorf("queue not empty after the acks: %+v", d)
	}
}

func testReceiveError(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	var fail atomic.Bool
	fail.Store(true)
	f.fault.onReceive = func() error {
		if fail.Load() {
			return &types.OverLimit{Message: aws.String("too many in flight")}
		}
		return nil
	}
	s := f.source(t, Options{Pollers: 2})
	_, err := s.Receive(ctx, 10)
	if errkind.KindOf(err) != errkind.Retryable {
		t.Fatalf("Receive = %v, want a retryable error", err)
	}
	// Reporting the error resumes the pollers. The other poller's call may
	// have failed before the fault was lifted; receive retries that error.
	fail.Store(false)
	f.publish(t, ctx, 3, "a")
	got := receive(t, ctx, s, 3)
	if err := s.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
}

func testMissingQueue(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.q += "-missing"
	s := f.source(t, Options{})
	_, err := s.Receive(ctx, 10)
	if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != ReasonQueueNotFound {
		t.Fatalf("Receive on a missing queue = %v (%v, %s), want permanent %s", err, errkind.KindOf(err), errkind.ReasonOf(err), ReasonQueueNotFound)
	}
}

func testFlowControlBoundsReceives(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 20, "a")
	s := f.source(t, Options{FlowControl: sources.FlowControl{MaxOutstandingMessages: 3}})
	held := receive(t, ctx, s, 3)
	// With the window full, the pollers must not take more from SQS: what
	// they took would sit invisible to other workers. Rather than wait to
	// see nothing more come, check that nothing more can: with no receive
	// in flight (none reserved) and no room, a poller asks again only
	// after a broadcast that makes room, which here only the Ack below
	// does.
	s.mu.Lock()
	reserved, room := s.reserved, s.roomLocked()
	s.mu.Unlock()
	if reserved != 0 || room != 0 {
		t.Errorf("with the window of 3 full, %d messages asked for in flight and room for %d more", reserved, room)
	}
	if got := s.Stats().Received; got != 3 {
		t.Errorf("received %d messages from SQS with a window of 3", got)
	}
	if d := depth(t, ctx, f); d.NotVisible != 3 {
		t.Errorf("depth %+v, want 3 in flight", d)
	}
	if err := s.Ack(ctx, held); err != nil {
		t.Fatal(err)
	}
}

func testCloseReleases(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 5, "a")
	s := f.source(t, Options{VisibilityTimeout: 30 * time.Second})
	receive(t, ctx, s, 5)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if d := depth(t, ctx, f); d.Visible != 5 || d.NotVisible != 0 {
		t.Errorf("depth after Close = %+v, want all 5 visible at once", d)
	}
	if got := s.Stats().Released; got != 5 {
		t.Errorf("Released = %d, want 5", got)
	}
}

// An idle worker's SIGTERM must not wait out the long poll: Close ends
// within its grace, well inside a small close budget, at the default 20s
// wait_time.
func testClosePrompt(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	s := f.source(t, Options{WaitTime: DefaultWaitTime})
	// The pollers long-poll the empty queue from the start; a receive that
	// gives up finds nothing and leaves them polling.
	rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if msgs, _ := s.Receive(rctx, 10); len(msgs) != 0 {
		t.Fatalf("received %d messages from an empty queue", len(msgs))
	}
	rcancel()
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close during a 20s long poll: %v", err)
	}
	if closeCtx.Err() != nil {
		t.Fatal("Close used up its 5s budget waiting for the long poll")
	}
}

func testNackCap(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 1, "a")
	s := f.source(t, Options{})
	m := receive(t, ctx, s, 1)[0]
	receipt := receiptOf(s, m)
	if err := s.Nack(ctx, []*sources.Message{m}, 24*time.Hour); err != nil {
		t.Fatalf("Nack(24h) = %v", err)
	}
	cs := f.fault.changesFor(receipt)
	if len(cs) != 1 || cs[0].timeout > 43200 || cs[0].timeout < 43000 {
		t.Errorf("visibility changes %+v, want one just under 12h", cs)
	}
	if d := depth(t, ctx, f); d.NotVisible != 1 {
		t.Errorf("depth %+v, want the nacked message invisible", d)
	}
}

// testVisibilityHeartbeat holds 25 messages for 5s with a 2s visibility
// timeout: none may come back, every ack must count, and no receipt handle
// may be refused. One poller, so that moto's own receive race (two
// concurrent receives can both take a message) cannot muddy the count.
func testVisibilityHeartbeat(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	f.publish(t, ctx, 25, "a")
	s := f.source(t, Options{VisibilityTimeout: 2 * time.Second, Pollers: 1})
	msgs := receive(t, ctx, s, 25)
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		got, err := sourcetest.ReceiveRetrying(ctx, t, s, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			t.Fatalf("%s delivered again after %v while held", got[0].ID, time.Since(start))
		}
	}
	if err := s.Ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.HandleInvalid != 0 || st.Duplicates != 0 || st.Received != 25 || st.Acked != 25 {
		t.Errorf("stats %+v: want 25 received and acked, no duplicates, no refused receipt handles", st)
	}
	// Extended every second or so: at least twice each in 5s.
	if st.Extended < 50 {
		t.Errorf("%d extensions for 25 messages held 5s with a 2s timeout, want >= 50", st.Extended)
	}
	if d := depth(t, ctx, f); !d.Empty() {
		t.Errorf("queue not empty after the acks: %+v", d)
	}
}

func testExtensionSizing(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	clk := newFakeClock()
	s := f.source(t, Options{VisibilityTimeout: time.Second, Pollers: 1, clock: clk})
	f.publish(t, ctx, 1, "a")
	a := receive(t, ctx, s, 1)[0]
	aReceipt := receiptOf(s, a)
	hold(s, clk, 1600*time.Millisecond) // processing takes 1.6s
	if err := s.Ack(ctx, []*sources.Message{a}); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.fault.changesFor(aReceipt) {
		if c.timeout != 1 {
			t.Errorf("extension of the first message to %ds, want VisibilityTimeout (1s) with nothing measured yet", c.timeout)
		}
	}
	if len(f.fault.changesFor(aReceipt)) == 0 {
		t.Error("a message held past its visibility timeout was never extended")
	}

	f.publish(t, ctx, 1, "b")
	b := receive(t, ctx, s, 1)[0]
	bReceipt := receiptOf(s, b)
	hold(s, clk, 1200*time.Millisecond)
	if err := s.Ack(ctx, []*sources.Message{b}); err != nil {
		t.Fatal(err)
	}
	// p99 of one 1.6s sample: 2 × 1.6s, rounded up to 4s.
	cs := f.fault.changesFor(bReceipt)
	if len(cs) == 0 || cs[0].timeout != 4 {
		t.Errorf("extensions of the second message %+v, want the first to 4s (2 × p99 of 1.6s, rounded up)", cs)
	}
	if st := s.Stats(); st.HandleInvalid != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v: want no invalid handles and no duplicates", st)
	}
}

func testMaxExtension(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	s := f.source(t, Options{VisibilityTimeout: time.Second, MaxExtension: 2 * time.Second, Pollers: 1})
	f.publish(t, ctx, 1, "a")
	start := time.Now()
	m := receive(t, ctx, s, 1)[0]
	receipt := receiptOf(s, m)
	// Hold past MaxExtension: SQS gives the message back, and the source,
	// still holding it, takes the new receipt instead of handing it out
	// again. The lapse runs on moto's own clock, so rather than for a
	// fixed time this receives until moto's redelivery has reached the
	// Source, and for one round after it (bounded by ctx: Receive fails
	// once it ends).
	for redelivered := false; ; {
		got, err := sourcetest.ReceiveRetrying(ctx, t, s, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			t.Fatalf("got %s again while it was held", got[0].ID)
		}
		if redelivered {
			break
		}
		redelivered = s.Stats().Duplicates > 0
	}
	for _, c := range f.fault.changesFor(receipt) {
		if end := c.at.Add(time.Duration(c.timeout) * time.Second); end.Sub(start) > 2*time.Second+500*time.Millisecond {
			t.Errorf("extended to %v after receipt, past MaxExtension 2s", end.Sub(start))
		}
	}
	if st := s.Stats(); st.Duplicates < 1 {
		t.Errorf("stats %+v: want the lapsed message received again", st)
	}
	if err := s.Ack(ctx, []*sources.Message{m}); err != nil {
		t.Fatal(err)
	}
	if d := depth(t, ctx, f); !d.Empty() {
		t.Errorf("depth after the ack %+v: the ack used a stale receipt handle", d)
	}
}

func testFIFOOnePerGroup(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, true)
	a := f.publish(t, ctx, 3, "ga")
	b := f.publish(t, ctx, 1, "gb")
	s := f.source(t, Options{})
	bodies := func(ms []*sources.Message) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = string(m.Body)
		}
		return out
	}
	first := receive(t, ctx, s, 2)
	// Groups are independent: which head comes first is not defined.
	if string(first[0].Body) == b[0] {
		first[0], first[1] = first[1], first[0]
	}
	if got := strings.Join(bodies(first), " "); got != a[0]+" "+b[0] {
		t.Fatalf("first deliveries %s, want the head of each group", got)
	}
	for i := 1; i < len(a); i++ {
		quiet, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		more, err := s.Receive(quiet, 10)
		cancel()
		if len(more) > 0 || (err != nil && !errors.Is(err, context.DeadlineExceeded)) {
			t.Fatalf("with %s outstanding, Receive = %v, %v; want nothing", first[0].Body, bodies(more), err)
		}
		if err := s.Ack(ctx, first[:1]); err != nil {
			t.Fatal(err)
		}
		first = receive(t, ctx, s, 1)
		if string(first[0].Body) != a[i] {
			t.Fatalf("next delivery of the group %s, want %s", first[0].Body, a[i])
		}
		if first[0].OrderingKey != "ga" {
			t.Errorf("OrderingKey = %q, want ga", first[0].OrderingKey)
		}
	}
}

func testDeadLetterAttributes(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, false)
	p, err := newPublisher(f.srv.Client(t), f.q, PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Nine original attributes and five reasons: four originals fit
	// beside the reasons and the JSON of the other five.
	attrs := map[string]string{"tenant": "acme", "run_id": "bf-1"}
	for i := range 7 {
		attrs["x"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	if _, err := p.Publish(ctx, []sources.OutMessage{{Body: []byte("{bad"), Attributes: attrs}}); err != nil {
		t.Fatal(err)
	}
	s := f.source(t, Options{})
	m := receive(t, ctx, s, 1)[0]
	if err := s.DeadLetter(ctx, []sources.DeadLetter{{Message: m, Reason: "malformed_json", Detail: "unexpected end of JSON input", Stage: "decode"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, []*sources.Message{m}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.ReceiveAll(ctx, f.dlq)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Body != "{bad" {
		t.Fatalf("dead letters %+v, want the one body", got)
	}
	a := got[0].Attributes
	want := map[string]string{
		sources.AttrErrorClass: "malformed_json", sources.AttrError: "unexpected end of JSON input",
		sources.AttrFailedAt: "decode", sources.AttrSourceMessageID: m.ID, sources.AttrDeliveryAttempt: "1",
		"tenant": "acme", "run_id": "bf-1", "x0": "0", "x1": "1",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a[k], v)
		}
	}
	var rest map[string]string
	if err := json.Unmarshal([]byte(a[AttrOriginalAttributes]), &rest); err != nil {
		t.Fatalf("%s = %q: %v", AttrOriginalAttributes, a[AttrOriginalAttributes], err)
	}
	if len(rest) != 5 || rest["x6"] != "6" {
		t.Errorf("%s = %v, want x2…x6", AttrOriginalAttributes, rest)
	}
	if len(a) != MaxAttributes {
		t.Errorf("%d attributes, want %d", len(a), MaxAttributes)
	}
}

func testDeadLetterFIFO(t *testing.T, ctx context.Context, srv *sqstest.Server) {
	f := newFixture(t, ctx, srv, true)
	f.publish(t, ctx, 1, "g1")
	s := f.source(t, Options{})
	m := receive(t, ctx, s, 1)[0]
	dl := sources.DeadLetter{Message: m, Reason: "text_too_long", Detail: strings.Repeat("d", 3000), Stage: "decode"}
	// Twice, as a redelivered message would be: the DLQ deduplicates.
	for range 2 {
		if err := s.DeadLetter(ctx, []sources.DeadLetter{dl}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := srv.ReceiveAll(ctx, f.dlq)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d dead letters, want 1 (deduplicated)", len(got))
	}
	d := got[0]
	if d.GroupID != "g1" || d.Body != string(m.Body) {
		t.Errorf("dead letter group %q body %q, want g1 %q", d.GroupID, d.Body, m.Body)
	}
	if d.Attributes[sources.AttrErrorClass] != "text_too_long" || len(d.Attributes[sources.AttrError]) > maxErrorDetail ||
		d.Attributes[sources.AttrSourceMessageID] != m.ID || d.Attributes["tenant"] != "acme" {
		t.Errorf("dead letter attributes %v", d.Attributes)
	}
	if err := s.Ack(ctx, []*sources.Message{m}); err != nil {
		t.Fatal(err)
	}
}

func testOptions(t *testing.T, _ context.Context, _ *sqstest.Server) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{QueueURL: "q", DeadLetterQueueURL: "d"}, true},
		{"no queue", Options{DeadLetterQueueURL: "d"}, false},
		{"no dead-letter queue", Options{QueueURL: "q"}, false},
		{"wait too long", Options{QueueURL: "q", DeadLetterQueueURL: "d", WaitTime: 21 * time.Second}, false},
		{"visibility too long", Options{QueueURL: "q", DeadLetterQueueURL: "d", VisibilityTimeout: 13 * time.Hour}, false},
		{"negative pollers", Options{QueueURL: "q", DeadLetterQueueURL: "d", Pollers: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			err := o.defaults()
			if (err == nil) != tt.ok {
				t.Fatalf("defaults() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && errkind.KindOf(err) != errkind.Permanent {
				t.Errorf("kind = %v, want permanent", errkind.KindOf(err))
			}
		})
	}
}
