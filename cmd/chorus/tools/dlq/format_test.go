package dlq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
)

func dl(id, reason, stage, detail string, at time.Time) *Message {
	attrs := map[string]string{"tenant": "acme"}
	if reason != "" {
		attrs[sources.AttrErrorClass] = reason
		attrs[sources.AttrFailedAt] = stage
		attrs[sources.AttrError] = detail
	}
	return &Message{ID: id, Body: []byte(`{"x":1}`), Attributes: attrs, PublishTime: at}
}

func TestMessageFields(t *testing.T) {
	cases := []struct {
		name                  string
		attrs                 map[string]string
		reason, stage, detail string
		attempts              int
	}{
		{"explicit", map[string]string{sources.AttrErrorClass: "malformed_json", sources.AttrFailedAt: "decode", sources.AttrError: "bad json", sources.AttrDeliveryAttempt: "1"},
			"malformed_json", "decode", "bad json", 1},
		{"pubsub redrive", map[string]string{AttrPubSubDeliveryCount: "5", "CloudPubSubDeadLetterSourceSubscription": "jobs"},
			ReasonBrokerRedrive, "broker", "delivered 5 times from jobs without an ack", 5},
		{"sqs redrive", map[string]string{"tenant": "acme"},
			ReasonBrokerRedrive, "broker", "moved by the queue's redrive policy after too many receives", 0},
		{"no attributes", nil, ReasonBrokerRedrive, "broker", "moved by the queue's redrive policy after too many receives", 0},
		{"reason without detail", map[string]string{sources.AttrErrorClass: "sink_rejected"}, "sink_rejected", "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{Attributes: c.attrs}
			if got := m.Reason(); got != c.reason {
				t.Errorf("Reason = %q, want %q", got, c.reason)
			}
			if got := m.Stage(); got != c.stage {
				t.Errorf("Stage = %q, want %q", got, c.stage)
			}
			if got := m.Detail(); got != c.detail {
				t.Errorf("Detail = %q, want %q", got, c.detail)
			}
			if got := m.DeliveryAttempts(); got != c.attempts {
				t.Errorf("DeliveryAttempts = %d, want %d", got, c.attempts)
			}
		})
	}
}

func TestGroupByReason(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		msgs []*Message
		want []Group
	}{
		{"empty", nil, []Group{}},
		{"one", []*Message{dl("a", "empty_text", "decode", "text is empty", t0)},
			[]Group{{Reason: "empty_text", Count: 1, FirstFailed: t0, LastFailed: t0, Stages: map[string]int{"decode": 1}, SampleID: "a", SampleError: "text is empty"}}},
		{"biggest first, latest sample, broker redrive", []*Message{
			dl("a", "malformed_json", "decode", "first", t0.Add(time.Minute)),
			dl("b", "unknown_tenant", "route", "no tenant x", t0),
			dl("c", "malformed_json", "decode", "latest", t0.Add(2*time.Minute)),
			dl("d", "malformed_json", "decode", "earliest", t0),
			dl("e", "", "", "", t0.Add(time.Hour)),
		}, []Group{
			{Reason: "malformed_json", Count: 3, FirstFailed: t0, LastFailed: t0.Add(2 * time.Minute), Stages: map[string]int{"decode": 3}, SampleID: "c", SampleError: "latest"},
			{Reason: ReasonBrokerRedrive, Count: 1, FirstFailed: t0.Add(time.Hour), LastFailed: t0.Add(time.Hour), Stages: map[string]int{"broker": 1}, SampleID: "e",
				SampleError: "moved by the queue's redrive policy after too many receives"},
			{Reason: "unknown_tenant", Count: 1, FirstFailed: t0, LastFailed: t0, Stages: map[string]int{"route": 1}, SampleID: "b", SampleError: "no tenant x"},
		}},
		{"no publish time", []*Message{dl("a", "x", "sink", "d1", time.Time{}), dl("b", "x", "sink", "d2", time.Time{})},
			[]Group{{Reason: "x", Count: 2, Stages: map[string]int{"sink": 2}, SampleID: "a", SampleError: "d1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := GroupByReason(c.msgs)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(c.want)
			if string(gj) != string(wj) {
				t.Errorf("GroupByReason:\n got %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestWriteListAndShow(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	l := Listing{Source: "q", Messages: []*Message{
		dl("a", "malformed_json", "decode", "bad\njson", t0),
		dl("b", "unknown_tenant", "route", "no tenant", t0),
	}}
	l.Messages[1].Body = []byte(strings.Repeat("é", 300))
	cases := []struct {
		name  string
		write func(*bytes.Buffer) error
		want  []string
		not   []string
	}{
		{"list text", func(b *bytes.Buffer) error { return WriteList(b, l, false) },
			[]string{"q: 2 dead letters; nothing consumed", "malformed_json", "bad json", "2026-11-02T10:00:00Z"}, nil},
		{"list json", func(b *bytes.Buffer) error { return WriteList(b, l, true) },
			[]string{`"total":2`, `"reason":"malformed_json"`, `"truncated":false`}, nil},
		{"show reason", func(b *bytes.Buffer) error { return WriteShow(b, l, ShowOptions{Reasons: []string{"unknown_tenant"}}) },
			[]string{"id b", "reason unknown_tenant", "stage route", "tenant = acme", "body (600 bytes)", "…"}, []string{"id a"}},
		{"show limit json", func(b *bytes.Buffer) error { return WriteShow(b, l, ShowOptions{Limit: 1, JSON: true}) },
			[]string{`"id":"a"`, `"body":"{\"x\":1}"`, `"stage":"decode"`}, []string{`"id":"b"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.write(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range c.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// A dead letter holds whatever a producer sent: show prints it without
// letting a terminal act on it.
func TestShowEscapesTerminalControls(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	m := dl("id-\x1b[2J", "bad\x1b]0;title\x07", "decode", "detail \x1b[31mred", now)
	m.Body = []byte("{\"text\":\"clear \x1b[2J\x1b[H screen \u202egnp.exe\"}\nsecond line")
	m.Attributes["k\x1b"] = "v\x00\u2028"
	m.OrderingKey = "key\r"
	var buf bytes.Buffer
	if err := WriteShow(&buf, Listing{Source: "dlq", Messages: []*Message{m}}, ShowOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteList(&buf, Listing{Source: "dlq", Messages: []*Message{m}}, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"\x1b", "\x07", "\x00", "\r", "\u202e", "\u2028"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{`\x1b[2J`, `\u202e`, `body (`, `\nsecond line`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
