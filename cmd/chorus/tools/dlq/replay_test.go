package dlq

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
)

func TestRewrite(t *testing.T) {
	cases := []struct {
		name     string
		in       map[string]string
		maxAttrs int
		want     map[string]string
	}{
		{"strips failure attributes, keeps the job's",
			map[string]string{"tenant": "acme", "run_id": "bf-1", "pipeline": "v2", "custom": "x",
				sources.AttrErrorClass: "malformed_json", sources.AttrError: "bad", sources.AttrFailedAt: "decode",
				sources.AttrSourceMessageID: "m1", sources.AttrDeliveryAttempt: "1"}, 0,
			map[string]string{"tenant": "acme", "run_id": "bf-1", "pipeline": "v2", "custom": "x",
				AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"pubsub broker attributes",
			map[string]string{"tenant": "acme", AttrPubSubDeliveryCount: "5", "CloudPubSubDeadLetterSourceSubscription": "s",
				"CloudPubSubDeadLetterSourceTopicPublishTime": "t"}, 0,
			map[string]string{"tenant": "acme", AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"unpacks sqs overflow, attributes win over the packed ones",
			map[string]string{"tenant": "acme", attrOriginalAttributes: `{"a":"1","tenant":"other","chorus_error":"x"}`}, 0,
			map[string]string{"tenant": "acme", "a": "1", AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"bad packed json is dropped",
			map[string]string{"tenant": "acme", attrOriginalAttributes: `{`}, 0,
			map[string]string{"tenant": "acme", AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"an earlier replay's attributes are replaced",
			map[string]string{AttrReplayRunID: "old", AttrReplayedFrom: "old-id", sources.AttrErrorClass: "x"}, 0,
			map[string]string{AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"no attributes", nil, 0, map[string]string{AttrReplayRunID: "run", AttrReplayedFrom: "dlq-1"}},
		{"room for one replay attribute",
			attrsN(9), 10, with(attrsN(9), AttrReplayRunID, "run")},
		{"no room", attrsN(10), 10, attrsN(10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Rewrite(c.in, "run", "dlq-1", c.maxAttrs)
			if !maps.Equal(got, c.want) {
				t.Errorf("Rewrite = %v, want %v", got, c.want)
			}
		})
	}
}

func attrsN(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m["a"+strconv.Itoa(i)] = "v"
	}
	return m
}

func with(m map[string]string, k, v string) map[string]string {
	m[k] = v
	return m
}

// memReader is an in-memory Reader for unit tests: messages are visible,
// leased or gone.
type memReader struct {
	msgs   []*Message
	leased map[string]bool
	acked  map[string]bool
}

func newMemReader(msgs ...*Message) *memReader {
	return &memReader{msgs: msgs, leased: map[string]bool{}, acked: map[string]bool{}}
}

func (r *memReader) Name() string { return "mem" }
func (r *memReader) Close() error { return nil }

func (r *memReader) Receive(_ context.Context, max int, _ time.Duration) ([]*Message, error) {
	var out []*Message
	for _, m := range r.msgs {
		if len(out) == max {
			break
		}
		if !r.leased[m.ID] && !r.acked[m.ID] {
			r.leased[m.ID] = true
			c := *m
			out = append(out, &c)
		}
	}
	return out, nil
}

func (r *memReader) Ack(_ context.Context, msgs []*Message) error {
	for _, m := range msgs {
		r.acked[m.ID] = true
		delete(r.leased, m.ID)
	}
	return nil
}

func (r *memReader) Release(_ context.Context, msgs []*Message) error {
	for _, m := range msgs {
		delete(r.leased, m.ID)
	}
	return nil
}

func (r *memReader) left() []string {
	var ids []string
	for _, m := range r.msgs {
		if !r.acked[m.ID] {
			ids = append(ids, m.ID)
		}
		if r.leased[m.ID] {
			ids = append(ids, m.ID+" (still leased)")
		}
	}
	return ids
}

// memPublisher records what it publishes and fails the bodies in fail.
type memPublisher struct {
	got  []sources.OutMessage
	fail map[string]bool
}

func (p *memPublisher) Publish(_ context.Context, msgs []sources.OutMessage) ([]string, error) {
	ids := make([]string, len(msgs))
	var err error
	for i, m := range msgs {
		if p.fail[string(m.Body)] {
			err = errkind.Errorf(errkind.Retryable, "unavailable", "refused %s", m.Body)
			continue
		}
		p.got = append(p.got, m)
		ids[i] = "new-" + strconv.Itoa(len(p.got))
	}
	return ids, err
}
func (p *memPublisher) MaxMessageBytes() int        { return 1 << 20 }
func (p *memPublisher) Close(context.Context) error { return nil }

func TestReplay(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	seed := func() []*Message {
		var ms []*Message
		for i, r := range []string{"malformed_json", "unknown_tenant", "malformed_json", "", "text_too_long"} {
			m := dl("d"+strconv.Itoa(i), r, "decode", "x", t0)
			m.Body = []byte("body" + strconv.Itoa(i))
			m.OrderingKey = "k" + strconv.Itoa(i)
			ms = append(ms, m)
		}
		return ms
	}
	cases := []struct {
		name      string
		o         ReplayOptions
		fail      []string
		want      ReplaySummary
		published []string // bodies
		left      []string
		wantErr   bool
	}{
		{"by reason", ReplayOptions{Select: Selector{Reasons: []string{"malformed_json"}}},
			nil, ReplaySummary{Read: 5, Selected: 2, Replayed: 2, Left: 3},
			[]string{"body0", "body2"}, []string{"d1", "d3", "d4"}, false},
		{"broker redrive by reason", ReplayOptions{Select: Selector{Reasons: []string{ReasonBrokerRedrive}}},
			nil, ReplaySummary{Read: 5, Selected: 1, Replayed: 1, Left: 4},
			[]string{"body3"}, []string{"d0", "d1", "d2", "d4"}, false},
		{"by id stops once found", ReplayOptions{Select: Selector{IDs: []string{"d1"}}, ReadOptions: ReadOptions{Max: 10}},
			nil, ReplaySummary{Read: 5, Selected: 1, Replayed: 1, Left: 4},
			[]string{"body1"}, []string{"d0", "d2", "d3", "d4"}, false},
		{"all", ReplayOptions{Select: Selector{All: true}, Rate: 1000},
			nil, ReplaySummary{Read: 5, Selected: 5, Replayed: 5, Left: 0},
			[]string{"body0", "body1", "body2", "body3", "body4"}, nil, false},
		{"dry run", ReplayOptions{Select: Selector{All: true}, DryRun: true},
			nil, ReplaySummary{Read: 5, Selected: 5, DryRun: true, Left: 5},
			nil, []string{"d0", "d1", "d2", "d3", "d4"}, false},
		{"a failed publish stays", ReplayOptions{Select: Selector{Reasons: []string{"malformed_json"}}},
			[]string{"body2"}, ReplaySummary{Read: 5, Selected: 2, Replayed: 1, Failed: 1, Left: 4},
			[]string{"body0"}, []string{"d1", "d2", "d3", "d4"}, true},
		{"max bounds the read", ReplayOptions{Select: Selector{All: true}, ReadOptions: ReadOptions{Max: 2}},
			nil, ReplaySummary{Read: 2, Selected: 2, Replayed: 2, Left: 0, Truncated: true},
			[]string{"body0", "body1"}, []string{"d2", "d3", "d4"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newMemReader(seed()...)
			p := &memPublisher{fail: map[string]bool{}}
			for _, b := range c.fail {
				p.fail[b] = true
			}
			c.o.RunID = "run-1"
			got, err := Replay(context.Background(), r, p, c.o)
			if (err != nil) != c.wantErr {
				t.Fatalf("Replay error = %v, want error %v", err, c.wantErr)
			}
			c.want.RunID = "run-1"
			if len(got.ReplayedIDs) != got.Replayed {
				t.Errorf("ReplayedIDs %v, want %d", got.ReplayedIDs, got.Replayed)
			}
			got.ReplayedIDs = nil
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("summary = %+v, want %+v", got, c.want)
			}
			var bodies []string
			for _, m := range p.got {
				bodies = append(bodies, string(m.Body))
				n := m.Body[len(m.Body)-1:]
				if m.OrderingKey != "k"+string(n) || m.Attributes[AttrReplayRunID] != "run-1" ||
					m.Attributes[AttrReplayedFrom] != "d"+string(n) || m.Attributes["tenant"] != "acme" ||
					m.Attributes[sources.AttrErrorClass] != "" {
					t.Errorf("published %+v: want ordering key, tenant and replay attributes kept, reason gone", m)
				}
			}
			if !slices.Equal(bodies, c.published) {
				t.Errorf("published %v, want %v", bodies, c.published)
			}
			if left := r.left(); !slices.Equal(left, c.left) {
				t.Errorf("left in the DLQ %v, want %v", left, c.left)
			}
		})
	}
}

func TestReplayBadSelector(t *testing.T) {
	cases := []struct {
		name string
		sel  Selector
	}{
		{"none", Selector{}},
		{"two", Selector{All: true, IDs: []string{"a"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Replay(context.Background(), newMemReader(), &memPublisher{}, ReplayOptions{Select: c.sel})
			if err == nil || errkind.KindOf(err) != errkind.Permanent {
				t.Fatalf("Replay with %+v: error %v, want a Permanent one", c.sel, err)
			}
		})
	}
}

func TestListReleasesEverything(t *testing.T) {
	r := newMemReader(dl("a", "x", "decode", "", time.Time{}), dl("b", "y", "route", "", time.Time{}))
	for i := range 2 {
		l, err := List(context.Background(), r, ReadOptions{Max: 10, Wait: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Messages) != 2 || l.Truncated {
			t.Fatalf("list %d: %d messages (truncated %v), want 2", i, len(l.Messages), l.Truncated)
		}
	}
	if left := r.left(); !slices.Equal(left, []string{"a", "b"}) {
		t.Fatalf("left %v, want a and b, none leased", left)
	}
	if _, err := List(context.Background(), errReader{r}, ReadOptions{}); err == nil {
		t.Fatal("List on a failing reader: no error")
	}
}

type errReader struct{ *memReader }

func (errReader) Receive(context.Context, int, time.Duration) ([]*Message, error) {
	return nil, errors.New("boom")
}
