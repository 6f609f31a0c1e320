package memsource_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker/errkind"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMaxDeliveriesReason(t *testing.T) {
	ctx := testCtx(t)
	topic := memsource.NewTopic(memsource.TopicOptions{MaxDeliveries: 2})
	if err := topic.Publish(ctx, memsource.Message{Body: []byte("b"), Attributes: map[string]string{"tenant": "acme"}}); err != nil {
		t.Fatal(err)
	}
	src := memsource.NewSource(topic, sources.FlowControl{})
	defer src.Close(ctx)
	var id string
	for range 2 {
		msgs, err := src.Receive(ctx, 1)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("receive = %d messages, %v", len(msgs), err)
		}
		id = msgs[0].ID
		if err := src.Nack(ctx, msgs, 0); err != nil {
			t.Fatal(err)
		}
	}
	dls := topic.DeadLetters()
	if len(dls) != 1 {
		t.Fatalf("got %d dead letters, want 1", len(dls))
	}
	want := map[string]string{
		"tenant":                    "acme",
		sources.AttrErrorClass:      string(memsource.ReasonMaxDeliveries),
		sources.AttrFailedAt:        "source",
		sources.AttrSourceMessageID: id,
		sources.AttrDeliveryAttempt: "2",
	}
	for k, v := range want {
		if got := dls[0].Attributes[k]; got != v {
			t.Errorf("attribute %q = %q, want %q", k, got, v)
		}
	}
	if s := topic.Stats(); s.Ready+s.Delayed+s.Outstanding != 0 || s.DeadLettered != 1 {
		t.Errorf("stats = %+v, want nothing left and one dead letter", s)
	}
}

func TestMaxBacklogBlocksPublish(t *testing.T) {
	ctx := testCtx(t)
	topic := memsource.NewTopic(memsource.TopicOptions{MaxBacklog: 2})
	msg := memsource.Message{Body: []byte("b")}
	if err := topic.Publish(ctx, msg, msg); err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := topic.Publish(short, msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish into a full backlog = %v, want a context error", err)
	}

	published := make(chan error, 1)
	go func() { published <- topic.Publish(ctx, msg) }()
	src := memsource.NewSource(topic, sources.FlowControl{})
	defer src.Close(ctx)
	msgs, err := src.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := <-published; err != nil {
		t.Fatalf("publish after an ack made room = %v", err)
	}
	if got := topic.Stats().Published; got != 3 {
		t.Errorf("published = %d, want 3", got)
	}
}

func TestForeignMessage(t *testing.T) {
	ctx := testCtx(t)
	a, b := memsource.NewTopic(memsource.TopicOptions{}), memsource.NewTopic(memsource.TopicOptions{})
	if err := a.Publish(ctx, memsource.Message{Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	srcA, srcB := memsource.NewSource(a, sources.FlowControl{}), memsource.NewSource(b, sources.FlowControl{})
	defer srcA.Close(ctx)
	defer srcB.Close(ctx)
	msgs, err := srcA.Receive(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"ack", func() error { return srcB.Ack(ctx, msgs) }},
		{"nack", func() error { return srcB.Nack(ctx, msgs, 0) }},
		{"made_up", func() error { return srcB.Ack(ctx, []*sources.Message{{ID: "1"}}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); errkind.KindOf(err) != errkind.InvalidInput {
				t.Errorf("err = %v, want an InvalidInput error", err)
			}
		})
	}
	if s := a.Stats(); s.Outstanding != 1 {
		t.Errorf("outstanding on the real topic = %d, want 1", s.Outstanding)
	}
}

func TestBadMax(t *testing.T) {
	src := memsource.NewSource(memsource.NewTopic(memsource.TopicOptions{}), sources.FlowControl{})
	if _, err := src.Receive(testCtx(t), 0); errkind.KindOf(err) != errkind.InvalidInput {
		t.Errorf("Receive(max=0) = %v, want an InvalidInput error", err)
	}
}

// Acked messages must not stay reachable from the topic: a long run would
// otherwise grow without bound.
func TestAckedMessagesReleased(t *testing.T) {
	ctx := testCtx(t)
	topic := memsource.NewTopic(memsource.TopicOptions{})
	var freed atomic.Int32
	const n = 100
	for range n {
		body := make([]byte, 1024)
		runtime.AddCleanup(&body[0], func(*atomic.Int32) { freed.Add(1) }, &freed)
		if err := topic.Publish(ctx, memsource.Message{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	src := memsource.NewSource(topic, sources.FlowControl{})
	defer src.Close(ctx)
	for got := 0; got < n; {
		msgs, err := src.Receive(ctx, 32)
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Ack(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		got += len(msgs)
	}
	for freed.Load() < n {
		runtime.GC()
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d acked bodies freed", freed.Load(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	runtime.KeepAlive(topic)
}
