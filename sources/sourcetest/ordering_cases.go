package sourcetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/chorusml/chorus/sources"
)

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

// orderingCases run for harnesses that publish with ordering keys
// (KeyedHarness) and are skipped for other harnesses.
var orderingCases = []suiteCase{
	{Name: "key_order", Run: testKeyOrder},
	{Name: "key_order_after_nack", Run: testKeyOrderAfterNack},
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
