package backfill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/dlq"
	"github.com/chorusml/chorus/sources"
)

// fakeDLQ hands out its messages over a few receives and records what
// was acked and released.
type fakeDLQ struct {
	msgs     []*dlq.Message
	next     int
	released int
	acked    int
	err      error
}

func (f *fakeDLQ) Receive(_ context.Context, max int, _ time.Duration) ([]*dlq.Message, error) {
	if f.err != nil {
		return nil, f.err
	}
	n := min(max, 2, len(f.msgs)-f.next)
	out := f.msgs[f.next : f.next+n]
	f.next += n
	return out, nil
}

func (f *fakeDLQ) Ack(_ context.Context, msgs []*dlq.Message) error { f.acked += len(msgs); return nil }
func (f *fakeDLQ) Release(_ context.Context, msgs []*dlq.Message) error {
	f.released += len(msgs)
	return nil
}
func (f *fakeDLQ) Name() string { return "projects/p/subscriptions/chorus-dead-sub" }
func (f *fakeDLQ) Close() error { return nil }

type fixedCount int64

func (n fixedCount) CountRun(context.Context, string) (int64, error) { return int64(n), nil }

// deadLetter is a dead letter as the sources write one: the original
// attributes plus the reason attributes.
func deadLetter(id, body string, attrs map[string]string) *dlq.Message {
	a := map[string]string{sources.AttrErrorClass: "empty_text", sources.AttrFailedAt: "decode"}
	for k, v := range attrs {
		a[k] = v
	}
	return &dlq.Message{ID: id, Body: []byte(body), Attributes: a}
}

// The run's dead letters are counted as distinct jobs, whatever their
// shape, and nothing is consumed.
func TestRunStatusDeadLetters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run := map[string]string{"run_id": "bf-1", "tenant": "acme"}
	packed, _ := json.Marshal(map[string]string{"run_id": "bf-1", "tenant": "globex"})
	f := &fakeDLQ{msgs: []*dlq.Message{
		// One failed job of a message of several.
		deadLetter("d1", `{"response_id":"r-1","tenant":"acme","text":"  "}`, run),
		// The same job dead-lettered again on a redelivery.
		deadLetter("d2", `{"response_id":"r-1","tenant":"acme","text":"  "}`, run),
		// Its tenant from the message's attribute.
		deadLetter("d3", `{"response_id":"r-2","text":"  "}`, run),
		// A whole message the broker moved (no reason attributes).
		{ID: "d4", Body: []byte(`[{"response_id":"r-3","tenant":"acme","text":"a"},{"response_id":"r-4","tenant":"acme","text":"b"}]`), Attributes: run},
		// SQS: run_id and tenant packed into chorus_original_attributes.
		deadLetter("d5", `{"response_id":"r-5","text":"  "}`, map[string]string{"chorus_original_attributes": string(packed)}),
		// A body that is not JSON, and a job whose id is not a string:
		// each counts once.
		deadLetter("d6", `not json`, run),
		deadLetter("d7", `{"response_id":7,"tenant":"acme","text":"x"}`, run),
		// Another run's, and one without a run.
		deadLetter("d8", `{"response_id":"r-1","tenant":"acme","text":"  "}`, map[string]string{"run_id": "bf-2"}),
		deadLetter("d9", `{"response_id":"r-9","tenant":"acme","text":"  "}`, nil),
	}}
	cp := &Checkpoint{RunID: "bf-1", Confirmed: 20, Total: 20, Done: true}
	cp.Counts.Published = 20
	st, err := RunStatus(ctx, cp, fixedCount(10), DLQCounter{Reader: f, Read: dlq.ReadOptions{Wait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// r-1, acme/r-2, r-3, r-4, globex/r-5, d6, d7.
	if st.DeadLettered == nil || *st.DeadLettered != 7 || st.Pending != 3 || st.DeadLetterSource != f.Name() || st.DeadLetterTruncated {
		t.Fatalf("status %+v (dead-lettered %v)", st, st.DeadLettered)
	}
	if f.released != len(f.msgs) || f.acked != 0 {
		t.Fatalf("released %d, acked %d of %d: want all released, none acked", f.released, f.acked, len(f.msgs))
	}
	var text bytes.Buffer
	if err := WriteStatus(&text, st, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "dead-lettered  7 in projects/p/subscriptions/chorus-dead-sub") || !strings.Contains(text.String(), "pending        3") {
		t.Fatalf("text:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := WriteStatus(&js, st, true); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js.Bytes(), &m); err != nil || m["dead_lettered"] != 7.0 || m["pending"] != 3.0 {
		t.Fatalf("JSON %s (%v)", js.String(), err)
	}

	t.Run("stopped at the maximum", func(t *testing.T) {
		f := &fakeDLQ{msgs: f.msgs}
		st, err := RunStatus(ctx, cp, fixedCount(10), DLQCounter{Reader: f, Read: dlq.ReadOptions{Max: 3, Wait: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		if st.DeadLettered == nil || *st.DeadLettered != 2 || !st.DeadLetterTruncated || f.released != 3 {
			t.Fatalf("status %+v, released %d", st, f.released)
		}
		var text bytes.Buffer
		_ = WriteStatus(&text, st, false)
		if !strings.Contains(text.String(), "at least 2") {
			t.Fatalf("text:\n%s", text.String())
		}
	})
	t.Run("not read", func(t *testing.T) {
		st, err := RunStatus(ctx, cp, fixedCount(10), nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.DeadLettered != nil || st.Pending != 10 {
			t.Fatalf("status %+v", st)
		}
		var text, js bytes.Buffer
		_ = WriteStatus(&text, st, false)
		_ = WriteStatus(&js, st, true)
		if !strings.Contains(text.String(), "dead-lettered  unknown") || !strings.Contains(js.String(), `"dead_lettered": null`) {
			t.Fatalf("text:\n%s\nJSON:\n%s", text.String(), js.String())
		}
	})
	t.Run("a failed read is an error", func(t *testing.T) {
		boom := errors.New("permission denied")
		_, err := RunStatus(ctx, cp, fixedCount(10), DLQCounter{Reader: &fakeDLQ{err: boom}})
		if !errors.Is(err, boom) {
			t.Fatalf("error %v", err)
		}
	})
}
