package sourcetest

// Cases about messages a driver holds on the broker's behalf (Pub/Sub
// holds a nacked message until its delay has passed, and every driver
// holds what it has handed out): a delayed nack across Close, a delayed
// nack beside other work, a stale delivery in an ack batch, a dead letter
// of the whole body, Close under waiting receivers. Every driver runs
// them: they only use the Source contract, and anything broker-specific
// is gated by Capabilities.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
)

var driverHeldCases = []suiteCase{
	{Name: "nack_delay_survives_close", Run: testNackDelaySurvivesClose},
	{Name: "nack_delay_does_not_block", Run: testNackDelayDoesNotBlock},
	{Name: "ack_batch_with_stale_delivery", Run: testAckBatchWithStale},
	{Name: "dead_letter_without_body", Run: testDeadLetterWithoutBody},
	{Name: "close_while_receiving", Run: testCloseWhileReceiving},
}

// testNackDelaySurvivesClose: a message nacked with a delay and not yet
// redelivered when its Source closes is not lost. A driver that holds it
// (Pub/Sub) must release it on Close; a broker that keeps the delay (the
// in-memory topic) hands it out once the delay has passed.
func testNackDelaySurvivesClose(t *testing.T, e *env) {
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	e.nack(src, time.Second, m)
	e.close(src)

	src = e.open(sources.FlowControl{})
	again := e.receiveOne(src)
	if again.ID != m.ID {
		t.Errorf("after reopening, got ID %q, want %q", again.ID, m.ID)
	}
	e.checkSame(again, want)
	e.ack(src, again)
}

// testNackDelayDoesNotBlock: Nack with a delay returns at once, and while
// the nacked message waits the source keeps handing out the others.
func testNackDelayDoesNotBlock(t *testing.T, e *env) {
	const delay = 2 * time.Second
	e.publishN(3)
	src := e.open(sources.FlowControl{})
	first := e.receiveOne(src)
	start := time.Now()
	e.nack(src, delay, first)
	if took := time.Since(start); took >= delay/2 {
		t.Errorf("Nack with delay %v took %v; it should not wait out the delay", delay, took)
	}
	for range 3 {
		m := e.receiveOne(src)
		if m.ID == first.ID && e.caps.NackDelay && time.Since(start) < delay {
			t.Errorf("message %s nacked with delay %v came back after %v", m.ID, delay, time.Since(start))
		}
		e.ack(src, m)
	}
}

// testAckBatchWithStale: one Ack call with a stale delivery and current
// ones acks the current ones; the stale one does not spoil the batch.
func testAckBatchWithStale(t *testing.T, e *env) {
	e.publishN(2)
	src := e.open(sources.FlowControl{})
	got := e.receive(src, 2, 2)
	stale := got[0]
	e.nack(src, 0, stale)
	again := e.receiveOne(src)
	if again.ID != stale.ID {
		t.Fatalf("redelivered ID = %q, want %q", again.ID, stale.ID)
	}
	e.ack(src, stale, again, got[1])
	e.expectNothing(src, "both messages were acked, one of them next to a stale delivery")
	e.close(src)

	src = e.open(sources.FlowControl{})
	e.expectNothing(src, "both messages were acked before the source was reopened")
}

// testDeadLetterWithoutBody: a DeadLetter with a nil Body parks the whole
// message body (sources.DeadLetter.Payload).
func testDeadLetterWithoutBody(t *testing.T, e *env) {
	want := e.msg(1)
	e.publish(want)
	src := e.open(sources.FlowControl{})
	m := e.receiveOne(src)
	err := src.DeadLetter(e.ctx, []sources.DeadLetter{{Message: m, Reason: "malformed_json", Detail: "unexpected end", Stage: "decode"}})
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	e.ack(src, m)
	dls := e.deadLetters(1)
	if string(dls[0].Body) != string(want.Body) {
		t.Errorf("dead-lettered body = %q, want the message body %q", dls[0].Body, want.Body)
	}
	if got := dls[0].Attributes[sources.AttrErrorClass]; e.caps.Attributes && got != "malformed_json" {
		t.Errorf("dead letter %s = %q, want %q", sources.AttrErrorClass, got, "malformed_json")
	}
}

// testCloseWhileReceiving: Close while other goroutines wait in Receive
// and ack: they return promptly, with nothing or ErrClosed, and what was
// handed out and not acked comes back after reopening.
func testCloseWhileReceiving(t *testing.T, e *env) {
	const n = 4
	want := e.publishN(n)
	src := e.open(sources.FlowControl{})
	held := e.receive(src, n, n) // everything is out, so Receive waits
	e.ack(src, held[0])

	// Each receiver signals once its first Receive has come back empty,
	// having blocked for its second, and goes straight into the next: Close
	// then finds them waiting, or about to.
	const receivers = 3
	errc := make(chan error, receivers)
	var waited sync.WaitGroup
	waited.Add(receivers)
	for range receivers {
		go func() {
			for first := true; ; first = false {
				batch, err := e.receiveBatch(e.ctx, src, 10)
				if first {
					waited.Done()
				}
				switch {
				case len(batch) > 0:
					errc <- fmt.Errorf("handed out %s with every message outstanding", bodies(batch))
					return
				case errors.Is(err, sources.ErrClosed):
					errc <- nil
					return
				case err != nil:
					errc <- fmt.Errorf("receive: %w", err)
					return
				}
			}
		}()
	}
	waited.Wait()
	e.close(src)
	for range receivers {
		select {
		case err := <-errc:
			if err != nil {
				t.Error(err)
			}
		case <-e.ctx.Done():
			t.Fatal("Receive did not return after Close")
		}
	}

	src = e.open(sources.FlowControl{})
	again := e.receive(src, n-1, 10)
	wantBy := byBody(want)
	for _, m := range again {
		if m.ID == held[0].ID {
			t.Errorf("acked message %s came back", m.ID)
		}
		e.checkSame(m, wantBy[string(m.Body)])
	}
	e.ack(src, again...)
}
