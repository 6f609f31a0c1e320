package sourcetest

import (
	"context"
	"fmt"
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

// LeaseAuditor is a LeaseHarness whose driver counts its renewals. After
// each lease case the suite asks it whether the Sources the case opened
// renewed their loans and had none refused, which the case alone cannot
// see when a late renewal happens not to lose a message.
type LeaseAuditor interface {
	LeaseHarness
	CheckLeases() error
}

// leaseCases run for brokers that lend messages for a time (LeaseHarness)
// and are skipped for other harnesses. Each holds messages for more than
// two leases, so it runs longer than the base cases.
var leaseCases = []suiteCase{
	{Name: "hold_past_lease", Run: testHoldPastLease},
	{Name: "nack_after_long_hold", Run: testNackAfterLongHold},
}

// lease returns the harness's lease, skipping the case if it has none, and
// gives the case room for its holds.
func (e *env) lease() time.Duration {
	e.t.Helper()
	lh, ok := e.h.(LeaseHarness)
	if !ok {
		e.t.Skip("broker does not lease messages")
	}
	e.ctx = e.deadline(e.timeout + 3*holdFor(lh.Lease()))
	return lh.Lease()
}

// auditLeases fails the case if the harness's driver saw a loan lapse.
func (e *env) auditLeases() {
	e.t.Helper()
	if la, ok := e.h.(LeaseAuditor); ok {
		if err := la.CheckLeases(); err != nil {
			e.t.Errorf("leases: %v", err)
		}
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
	lease := e.lease()
	hold := holdFor(lease)
	want := e.publishN(3)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, len(want), 10)
	e.hold(src, hold, fmt.Sprintf("messages are held for %v, past their %v lease, which the source renews", hold, lease))
	// The acks count: nothing comes back now, nor to the next source.
	e.ack(src, got...)
	e.expectNothing(src, "every message was acked after a long hold")
	e.close(src)
	src = e.open(sources.FlowControl{})
	e.expectNothing(src, "every message was acked after a long hold, before the source was reopened")
	e.auditLeases()
}

func testNackAfterLongHold(t *testing.T, e *env) {
	lease := e.lease()
	hold := holdFor(lease)
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
	e.auditLeases()
}
