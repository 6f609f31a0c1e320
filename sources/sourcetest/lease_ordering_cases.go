package sourcetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
)

// LeaseHarness is a Harness whose broker lends a received message for a
// limited time (an SQS visibility timeout, a Pub/Sub ack deadline) and
// whose Source must renew the loan while the message is held, however long
// the worker takes.
type LeaseHarness interface {
	Harness
	// Lease is the loan the harness's Sources ask for: short, so that a
	// case can hold messages for more than two of them.
	Lease() time.Duration
}

// KeyedMessage is a message with an ordering key: a Pub/Sub ordering key,
// an SQS FIFO message group.
type KeyedMessage struct {
	RawMessage
	Key string
}

// KeyedHarness is a Harness that publishes with ordering keys, and whose
// Sources hand out the messages of one key in publish order.
type KeyedHarness interface {
	Harness
	PublishKeyed(ctx context.Context, msgs []KeyedMessage) error
}

// RunLeaseTests runs the cases for brokers that lend messages for a time
// (LeaseHarness); they are skipped for other harnesses. Each case holds
// messages for more than two leases, so it runs longer than the base
// suite's cases.
func RunLeaseTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	runExtraCases(t, newHarness, []extraCase{
		{"hold_past_lease", testHoldPastLease},
		{"nack_after_long_hold", testNackAfterLongHold},
	})
}

// RunKeyOrderTests runs the ordering-key cases (KeyedHarness); they are
// skipped for other harnesses.
func RunKeyOrderTests(t *testing.T, newHarness HarnessMaker) {
	t.Helper()
	runExtraCases(t, newHarness, []extraCase{
		{"key_order", testKeyOrder},
		{"key_order_after_nack", testKeyOrderAfterNack},
	})
}

type extraCase struct {
	name string
	run  func(*testing.T, *env)
}

func runExtraCases(t *testing.T, newHarness HarnessMaker, cases []extraCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Build the harness under a short context, then give the case
			// room for its holds.
			ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
			defer cancel()
			h, err := newHarness(ctx, t)
			if err != nil {
				t.Fatalf("new harness: %v", err)
			}
			defer h.Close()
			timeout := caseTimeout
			if lh, ok := h.(LeaseHarness); ok {
				timeout += 3 * holdFor(lh.Lease())
			}
			ctx, cancel = context.WithTimeout(context.Background(), timeout)
			defer cancel()
			e := &env{t: t, ctx: ctx, h: h, caps: h.Capabilities()}
			if e.caps.Quiet <= 0 {
				e.caps.Quiet = 250 * time.Millisecond
			}
			tc.run(t, e)
		})
	}
}

// holdFor is how long the lease cases hold messages: more than two leases,
// so that a Source that renews once, or renews late, is caught.
func holdFor(lease time.Duration) time.Duration {
	return 2*lease + lease/2
}

// hold keeps calling Receive on src for d, failing the case if anything is
// handed out: the messages held must not come back while their leases are
// renewed.
func (e *env) hold(src sources.Source, d time.Duration, why string) {
	e.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	for ctx.Err() == nil {
		batch, err := e.receiveBatch(ctx, src, 10)
		if len(batch) > 0 {
			e.t.Fatalf("%s, but received %s after %v", why, bodies(batch), time.Since(start).Round(time.Millisecond))
		}
		if err != nil && ctx.Err() == nil {
			e.t.Fatalf("receive: %v", err)
		}
	}
}

func testHoldPastLease(t *testing.T, e *env) {
	lh, ok := e.h.(LeaseHarness)
	if !ok {
		t.Skip("broker does not lease messages")
	}
	hold := holdFor(lh.Lease())
	want := e.publishN(3)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 10)
	e.hold(src, hold, fmt.Sprintf("messages are held for %v, past their %v lease, which the source renews", hold, lh.Lease()))
	// The acks count: nothing comes back now, nor to the next source.
	e.ack(src, got...)
	e.expectNothing(src, "every message was acked after a long hold")
	e.close(src)
	src = e.open(sources.FlowControl{})
	e.expectNothing(src, "every message was acked after a long hold, before the source was reopened")
}

func testNackAfterLongHold(t *testing.T, e *env) {
	lh, ok := e.h.(LeaseHarness)
	if !ok {
		t.Skip("broker does not lease messages")
	}
	hold := holdFor(lh.Lease())
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	e.hold(src, hold, "the message is held past its lease")
	// The renewed delivery is still the live one: a nack brings it back
	// at once, as the next delivery of the same message.
	e.nack(src, 0, m)
	again := e.receiveOne(src)
	if again.ID != m.ID {
		t.Fatalf("redelivered ID = %q, want %q", again.ID, m.ID)
	}
	e.checkSame(again, want)
	if e.caps.DeliveryAttempt && again.DeliveryAttempt != m.DeliveryAttempt+1 {
		t.Errorf("DeliveryAttempt = %d after a long hold and a nack, want %d", again.DeliveryAttempt, m.DeliveryAttempt+1)
	}
	e.ack(src, again)
}

// keyed publishes n messages on each of keys, interleaved (k0-0, k1-0, …,
// k0-1, …), and returns each key's bodies in publish order.
func (e *env) keyed(keys []string, n int) map[string][]string {
	e.t.Helper()
	kh := e.h.(KeyedHarness)
	want := map[string][]string{}
	var msgs []KeyedMessage
	for i := range n {
		for _, k := range keys {
			m := e.msg(len(msgs))
			if e.caps.Attributes {
				m.Attributes["key"] = k
				m.Attributes["seq"] = strconv.Itoa(i)
			}
			msgs = append(msgs, KeyedMessage{RawMessage: m, Key: k})
			want[k] = append(want[k], string(m.Body))
		}
	}
	if err := kh.PublishKeyed(e.ctx, msgs); err != nil {
		e.t.Fatalf("publish keyed: %v", err)
	}
	return want
}

func testKeyOrder(t *testing.T, e *env) {
	if _, ok := e.h.(KeyedHarness); !ok {
		t.Skip("broker has no ordering keys")
	}
	keys := []string{"k0", "k1", "k2"}
	want := e.keyed(keys, 6)
	keyOf := map[string]string{}
	for k, bs := range want {
		for _, b := range bs {
			keyOf[b] = k
		}
	}
	src := e.open(sources.FlowControl{})
	got := map[string][]string{}
	for n := 0; n < len(keyOf); {
		batch, err := e.receiveBatch(e.ctx, src, 10)
		if err != nil {
			t.Fatalf("receive: %d of %d: %v", n, len(keyOf), err)
		}
		for _, m := range batch {
			k, ok := keyOf[string(m.Body)]
			if !ok {
				t.Fatalf("unexpected body %q", m.Body)
			}
			if m.OrderingKey != "" && m.OrderingKey != k {
				t.Errorf("message %q: OrderingKey = %q, want %q", m.Body, m.OrderingKey, k)
			}
			got[k] = append(got[k], string(m.Body))
			n++
		}
		e.ack(src, batch...)
	}
	for _, k := range keys {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
			t.Errorf("key %s: delivered\n  %q\nwant publish order\n  %q", k, got[k], want[k])
		}
	}
	e.expectNothing(src, "every message was acked")
}

func testKeyOrderAfterNack(t *testing.T, e *env) {
	if _, ok := e.h.(KeyedHarness); !ok {
		t.Skip("broker has no ordering keys")
	}
	want := e.keyed([]string{"k"}, 4)["k"]
	src := e.open(sources.FlowControl{})
	first := e.receiveOne(src)
	if string(first.Body) != want[0] {
		t.Fatalf("first delivery = %q, want %q", first.Body, want[0])
	}
	// A nacked message comes back before anything after it on its key,
	// and the key's order holds from there.
	e.nack(src, 0, first)
	var got []string
	for len(got) < len(want) {
		batch, err := e.receiveBatch(e.ctx, src, 10)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range batch {
			got = append(got, string(m.Body))
		}
		e.ack(src, batch...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a nack of the first, delivered\n  %q\nwant\n  %q", got, want)
	}
	e.expectNothing(src, "every message was acked")
}
