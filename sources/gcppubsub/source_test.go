package gcppubsub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/worker/errkind"
)

// queue is a topic with one subscription and a dead-letter topic with a
// subscription to read it, on one server.
type queue struct {
	srv                    *pubsubtest.Server
	topic, sub, dlq, dlSub string
}

// newQueue creates a queue named name whose subscription has o; a
// non-empty o.DeadLetterTopic becomes the queue's dead-letter topic.
func newQueue(ctx context.Context, t *testing.T, srv *pubsubtest.Server, name string, o pubsubtest.SubOpts) *queue {
	t.Helper()
	q := &queue{srv: srv, topic: name, sub: name + "-sub", dlq: name + "-dlq", dlSub: name + "-dlq-sub"}
	for _, id := range []string{q.topic, q.dlq} {
		if err := srv.CreateTopic(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.CreateSubscription(ctx, q.dlSub, q.dlq, pubsubtest.SubOpts{}); err != nil {
		t.Fatal(err)
	}
	if o.DeadLetterTopic != "" {
		o.DeadLetterTopic = q.dlq
	}
	if err := srv.CreateSubscription(ctx, q.sub, q.topic, o); err != nil {
		t.Fatal(err)
	}
	return q
}

func (q *queue) open(ctx context.Context, t *testing.T, fc sources.FlowControl) *gcppubsub.Source {
	t.Helper()
	src, err := gcppubsub.Open(ctx, gcppubsub.Options{
		Project:         q.srv.Project(),
		Subscription:    q.sub,
		DeadLetterTopic: q.dlq,
		FlowControl:     fc,
		ClientOptions:   q.srv.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = src.Close(ctx)
	})
	return src
}

func (q *queue) publish(ctx context.Context, t *testing.T, msgs ...pubsubtest.Message) {
	t.Helper()
	if _, err := q.srv.Publish(ctx, q.topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// receiveN receives exactly n messages or fails.
func receiveN(ctx context.Context, t *testing.T, src sources.Source, n int) []*sources.Message {
	t.Helper()
	var got []*sources.Message
	for len(got) < n {
		batch, err := src.Receive(ctx, n-len(got))
		if err != nil {
			t.Fatalf("receive: got %d of %d: %v", len(got), n, err)
		}
		got = append(got, batch...)
	}
	return got
}

// servers runs f against pstest and, where gcloud has it, the emulator.
func servers(t *testing.T, f func(t *testing.T, srv *pubsubtest.Server)) {
	t.Run("pstest", func(t *testing.T) {
		t.Parallel()
		f(t, pubsubtest.NewFake(t))
	})
	t.Run("emulator", func(t *testing.T) {
		t.Parallel()
		f(t, pubsubtest.StartEmulator(t))
	})
}

func TestOrderingKeys(t *testing.T) {
	cases := []struct {
		name     string
		ordering bool // the subscription's message ordering
		nack     bool // nack a1 and b2 once each, on their first delivery
	}{
		{"ordered_subscription", true, false},
		{"ordered_subscription_with_nacks", true, true},
		{"unordered_subscription", false, false},
		{"unordered_subscription_with_nacks", false, true},
	}
	servers(t, func(t *testing.T, srv *pubsubtest.Server) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				q := newQueue(ctx, t, srv, strings.ReplaceAll(tc.name, "_", "-"), pubsubtest.SubOpts{Ordering: tc.ordering})
				const perKey = 5
				var msgs []pubsubtest.Message
				for i := range perKey {
					for _, k := range []string{"a", "b"} {
						msgs = append(msgs, pubsubtest.Message{Data: fmt.Appendf(nil, "%s%d", k, i), OrderingKey: k})
					}
					msgs = append(msgs, pubsubtest.Message{Data: fmt.Appendf(nil, "n%d", i)})
				}
				q.publish(ctx, t, msgs...)
				toNack := map[string]bool{}
				if tc.nack {
					toNack = map[string]bool{"a1": true, "b2": true}
				}

				src := q.open(ctx, t, sources.FlowControl{})
				out := map[string]*sources.Message{} // key → message out
				acked := map[string][]string{}       // key → bodies in ack order
				done := 0
				for done < len(msgs) {
					batch, err := src.Receive(ctx, 10)
					if err != nil {
						t.Fatalf("receive after %d acks: %v", done, err)
					}
					for _, m := range batch {
						if prev, busy := out[m.OrderingKey]; busy && m.OrderingKey != "" {
							t.Fatalf("key %q: %s handed out while %s is out", m.OrderingKey, m.Body, prev.Body)
						}
						out[m.OrderingKey] = m
						if m.OrderingKey == "" {
							delete(out, "")
							if err := src.Ack(ctx, []*sources.Message{m}); err != nil {
								t.Fatal(err)
							}
							done++
						}
					}
					// Settle the keyed messages out now, after the next
					// Receive had its chance to break the one-per-key rule.
					for k, m := range out {
						delete(out, k)
						if body := string(m.Body); toNack[body] {
							delete(toNack, body)
							if err := src.Nack(ctx, []*sources.Message{m}, 0); err != nil {
								t.Fatal(err)
							}
							continue
						}
						if err := src.Ack(ctx, []*sources.Message{m}); err != nil {
							t.Fatal(err)
						}
						acked[k] = append(acked[k], string(m.Body))
						done++
					}
				}
				if !tc.ordering {
					return // Pub/Sub does not order deliveries then
				}
				if tc.nack && srv.Kind() == pubsubtest.KindEmulator {
					// The emulator requeues nacked messages in the order of
					// the client's batched nack, which lists them in map
					// order: it does not keep a key's order across nacks.
					return
				}
				for _, k := range []string{"a", "b"} {
					want := make([]string, perKey)
					for i := range want {
						want[i] = k + strconv.Itoa(i)
					}
					if got := strings.Join(acked[k], ","); got != strings.Join(want, ",") {
						t.Errorf("key %q processed %s, want %s", k, got, strings.Join(want, ","))
					}
				}
				if st := src.Stats(); !tc.nack && st.OrderNacks != 0 {
					t.Errorf("%d order nacks without a nack", st.OrderNacks)
				}
			})
		}
	})
}

func TestDeliveryAttempt(t *testing.T) {
	cases := []struct {
		name       string
		deadLetter bool
		want       []int // DeliveryAttempt of the first delivery and one redelivery
	}{
		{"with_dead_letter_policy", true, []int{1, 2}},
		{"without_dead_letter_policy", false, []int{0, 0}},
	}
	srv := pubsubtest.NewFake(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			o := pubsubtest.SubOpts{}
			if tc.deadLetter {
				o.DeadLetterTopic = "yes"
			}
			q := newQueue(ctx, t, srv, tc.name, o)
			q.publish(ctx, t, pubsubtest.Message{Data: []byte("x")})
			src := q.open(ctx, t, sources.FlowControl{})
			var got []int
			m := receiveN(ctx, t, src, 1)[0]
			got = append(got, m.DeliveryAttempt)
			if err := src.Nack(ctx, []*sources.Message{m}, 0); err != nil {
				t.Fatal(err)
			}
			m = receiveN(ctx, t, src, 1)[0]
			got = append(got, m.DeliveryAttempt)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("delivery attempts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExactlyOnceAck(t *testing.T) {
	cases := []struct {
		name       string
		inject     []pstest.ServerReactorOption
		wantKind   errkind.Kind // Unknown: no error
		wantFailed int64
	}{
		{"acked", nil, errkind.Unknown, 0},
		{"refused", []pstest.ServerReactorOption{pstest.WithErrorInjection("Acknowledge", codes.FailedPrecondition, "subscription detached")}, errkind.Permanent, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv := pubsubtest.NewFake(t, tc.inject...)
			q := newQueue(ctx, t, srv, "eod", pubsubtest.SubOpts{ExactlyOnce: true})
			q.publish(ctx, t, pubsubtest.Message{Data: []byte("x")})
			src := q.open(ctx, t, sources.FlowControl{})
			m := receiveN(ctx, t, src, 1)
			err := src.Ack(ctx, m)
			if tc.wantKind == errkind.Unknown {
				if err != nil {
					t.Fatalf("ack: %v", err)
				}
			} else if k := errkind.KindOf(err); k != tc.wantKind || errkind.ReasonOf(err) != "ack_failed" {
				t.Fatalf("ack = %v (%v), want %v ack_failed", err, k, tc.wantKind)
			}
			if got := src.Stats().FailedAcks; got != tc.wantFailed {
				t.Errorf("FailedAcks = %d, want %d", got, tc.wantFailed)
			}
			// A second ack of the same delivery is ignored, failed or not.
			if err := src.Ack(ctx, m); err != nil {
				t.Errorf("second ack = %v, want nil", err)
			}
		})
	}
}

func TestNackDelayHoldsAndReleases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := newQueue(ctx, t, pubsubtest.NewFake(t), "jobs", pubsubtest.SubOpts{})
	q.publish(ctx, t, pubsubtest.Message{Data: []byte("x")})
	src := q.open(ctx, t, sources.FlowControl{})
	m := receiveN(ctx, t, src, 1)

	const delay = 500 * time.Millisecond
	nacked := time.Now()
	if err := src.Nack(ctx, m, delay); err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Held != 1 || st.Outstanding != 0 {
		t.Errorf("after a delayed nack: %+v, want 1 held, 0 outstanding", st)
	}
	again := receiveN(ctx, t, src, 1)
	if waited := time.Since(nacked); waited < delay {
		t.Errorf("redelivered after %v, want at least %v", waited, delay)
	}
	if again[0].ID != m[0].ID {
		t.Errorf("redelivered ID %q, want %q", again[0].ID, m[0].ID)
	}
	if st := src.Stats(); st.Held != 0 || st.Outstanding != 1 {
		t.Errorf("after the redelivery: %+v, want 0 held, 1 outstanding", st)
	}
	if err := src.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := pubsubtest.NewFake(t)
	q := newQueue(ctx, t, srv, "jobs", pubsubtest.SubOpts{DeadLetterTopic: "yes"})
	q.publish(ctx, t, pubsubtest.Message{Data: []byte(`{"bad`), Attributes: map[string]string{"tenant": "acme"}})
	src := q.open(ctx, t, sources.FlowControl{})
	m := receiveN(ctx, t, src, 1)[0]

	long := strings.Repeat("é", 1000) // 2000 bytes: over Pub/Sub's 1024 per value
	err := src.DeadLetter(ctx, []sources.DeadLetter{{Message: m, Reason: "malformed_json", Detail: long, Stage: "decode"}})
	if err != nil {
		t.Fatalf("dead letter: %v", err)
	}
	got, err := srv.PullAll(ctx, q.dlSub)
	if err != nil || len(got) != 1 {
		t.Fatalf("dead letters: %d, %v; want 1", len(got), err)
	}
	want := map[string]string{
		"tenant":                    "acme",
		sources.AttrErrorClass:      "malformed_json",
		sources.AttrFailedAt:        "decode",
		sources.AttrSourceMessageID: m.ID,
		sources.AttrDeliveryAttempt: "1",
	}
	for k, v := range want {
		if got[0].Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[0].Attributes[k], v)
		}
	}
	if d := got[0].Attributes[sources.AttrError]; len(d) > 1024 || !strings.HasPrefix(long, d) || len(d) < 1000 {
		t.Errorf("detail cut to %d bytes, want the longest prefix of whole runes within 1024", len(d))
	}
	if string(got[0].Data) != `{"bad` {
		t.Errorf("body %q", got[0].Data)
	}
}

func TestErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := pubsubtest.NewFake(t)
	q := newQueue(ctx, t, srv, "jobs", pubsubtest.SubOpts{})

	cases := []struct {
		name     string
		opts     gcppubsub.Options
		call     func(context.Context, *gcppubsub.Source) error
		wantKind errkind.Kind
		reason   errkind.Reason
	}{
		{
			name: "missing_subscription",
			opts: gcppubsub.Options{Subscription: "nope"},
			call: func(ctx context.Context, s *gcppubsub.Source) error {
				for {
					// The stream fails in the background; Receive reports it.
					if _, err := s.Receive(ctx, 1); err != nil {
						return err
					}
				}
			},
			wantKind: errkind.Permanent, reason: "not_found",
		},
		{
			name: "missing_dead_letter_topic",
			opts: gcppubsub.Options{Subscription: q.sub, DeadLetterTopic: "nope"},
			call: func(ctx context.Context, s *gcppubsub.Source) error {
				return s.DeadLetter(ctx, []sources.DeadLetter{{Body: []byte("x"), Reason: "r", Stage: "decode"}})
			},
			wantKind: errkind.Permanent, reason: "not_found",
		},
		{
			name: "no_dead_letter_topic",
			opts: gcppubsub.Options{Subscription: q.sub},
			call: func(ctx context.Context, s *gcppubsub.Source) error {
				return s.DeadLetter(ctx, []sources.DeadLetter{{Body: []byte("x"), Reason: "r", Stage: "decode"}})
			},
			wantKind: errkind.Permanent, reason: "no_dead_letter_topic",
		},
		{
			name: "foreign_message",
			opts: gcppubsub.Options{Subscription: q.sub},
			call: func(ctx context.Context, s *gcppubsub.Source) error {
				return s.Ack(ctx, []*sources.Message{{ID: "1"}})
			},
			wantKind: errkind.InvalidInput, reason: "foreign_message",
		},
		{
			name:     "bad_max",
			opts:     gcppubsub.Options{Subscription: q.sub},
			call:     func(ctx context.Context, s *gcppubsub.Source) error { _, err := s.Receive(ctx, 0); return err },
			wantKind: errkind.InvalidInput, reason: "bad_request",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			tc.opts.Project, tc.opts.ClientOptions = srv.Project(), srv.ClientOptions()
			src, err := gcppubsub.Open(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close(ctx)
			err = tc.call(ctx, src)
			if k := errkind.KindOf(err); k != tc.wantKind || errkind.ReasonOf(err) != tc.reason {
				t.Errorf("got %v (%v, %q), want %v %q", err, k, errkind.ReasonOf(err), tc.wantKind, tc.reason)
			}
		})
	}

	t.Run("bad_options", func(t *testing.T) {
		_, err := gcppubsub.Open(ctx, gcppubsub.Options{Project: "p"})
		if errkind.KindOf(err) != errkind.Permanent {
			t.Errorf("Open without a subscription = %v, want a Permanent error", err)
		}
	})
}

// TestReceiveAfterStreamError checks that a Receive after a failed stream
// starts a new one: retry pacing is the caller's, not a loop in the driver.
func TestReceiveAfterStreamError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := pubsubtest.NewFake(t)
	src, err := gcppubsub.Open(ctx, gcppubsub.Options{Project: srv.Project(), Subscription: "later", ClientOptions: srv.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	for {
		_, err := src.Receive(ctx, 1)
		if err != nil {
			if errkind.ReasonOf(err) != "not_found" {
				t.Fatalf("receive = %v, want not_found", err)
			}
			break
		}
	}
	q := &queue{srv: srv, topic: "later-topic", sub: "later"}
	if err := srv.CreateTopic(ctx, q.topic); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateSubscription(ctx, q.sub, q.topic, pubsubtest.SubOpts{}); err != nil {
		t.Fatal(err)
	}
	q.publish(ctx, t, pubsubtest.Message{Data: []byte("x")})
	// A stream restarted before the subscription existed may fail once
	// more; the caller backs off and receives again, as the worker does.
	for {
		m, err := src.Receive(ctx, 1)
		if err != nil {
			if errkind.ReasonOf(err) != "not_found" {
				t.Fatalf("receive = %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if len(m) == 1 {
			if err := src.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func TestPublisher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := pubsubtest.NewFake(t)
	q := newQueue(ctx, t, srv, "jobs", pubsubtest.SubOpts{Ordering: true})

	p, err := gcppubsub.NewPublisher(ctx, srv.Project(), q.topic, gcppubsub.PublisherOptions{Ordered: true, ClientOptions: srv.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MaxMessageBytes(); got != 10_000_000 {
		t.Errorf("MaxMessageBytes = %d", got)
	}
	msgs := make([]sources.OutMessage, 250)
	for i := range msgs {
		msgs[i] = sources.OutMessage{Body: fmt.Appendf(nil, "m%d", i), Attributes: map[string]string{"i": strconv.Itoa(i)}, OrderingKey: "k" + strconv.Itoa(i%3)}
	}
	var (
		wg   sync.WaitGroup
		ids  [2][]string
		errs [2]error
	)
	for i := range 2 { // concurrent callers share the batches
		wg.Go(func() { ids[i], errs[i] = p.Publish(ctx, msgs) })
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || len(ids[i]) != len(msgs) || slices.Contains(ids[i], "") {
			t.Fatalf("publish %d: %d ids, %v", i, len(ids[i]), errs[i])
		}
	}
	got, err := srv.PullAll(ctx, q.sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*len(msgs) {
		t.Errorf("subscription holds %d messages, want %d", len(got), 2*len(msgs))
	}
	for _, g := range got {
		if g.OrderingKey == "" || g.Attributes["i"] == "" {
			t.Fatalf("message %s lost its ordering key or attributes: %+v", g.ID, g)
		}
	}

	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := p.Publish(ctx, msgs[:1]); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestPublisherPartialFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := pubsubtest.NewFake(t)
	p, err := gcppubsub.NewPublisher(ctx, srv.Project(), "missing", gcppubsub.PublisherOptions{ClientOptions: srv.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	ids, err := p.Publish(ctx, []sources.OutMessage{{Body: []byte("a")}, {Body: []byte("b")}})
	if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != "not_found" {
		t.Errorf("publish to a missing topic = %v, want Permanent not_found", err)
	}
	if len(ids) != 2 || ids[0] != "" || ids[1] != "" {
		t.Errorf("ids = %q, want two empty", ids)
	}
}
