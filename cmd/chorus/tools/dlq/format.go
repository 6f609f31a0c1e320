package dlq

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Group is the dead letters of one reason.
type Group struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	// FirstFailed and LastFailed span the dead letters' PublishTime (zero
	// when the broker reported none).
	FirstFailed time.Time `json:"first_failed_at"`
	LastFailed  time.Time `json:"last_failed_at"`
	// Stages counts the dead letters by stage (chorus_failed_at).
	Stages map[string]int `json:"stages,omitempty"`
	// SampleID and SampleError are one dead letter of the group and its
	// detail: the most recent one.
	SampleID    string `json:"sample_id"`
	SampleError string `json:"sample_error,omitempty"`
}

// GroupByReason groups msgs by Message.Reason, the biggest group first
// (then by reason).
func GroupByReason(msgs []*Message) []Group {
	by := map[string]*Group{}
	for _, m := range msgs {
		r := m.Reason()
		g := by[r]
		if g == nil {
			g = &Group{Reason: r, Stages: map[string]int{}}
			by[r] = g
		}
		g.Count++
		if s := m.Stage(); s != "" {
			g.Stages[s]++
		}
		t := m.PublishTime
		if !t.IsZero() && (g.FirstFailed.IsZero() || t.Before(g.FirstFailed)) {
			g.FirstFailed = t
		}
		if g.SampleID == "" || (!t.IsZero() && !t.Before(g.LastFailed)) {
			if !t.IsZero() {
				g.LastFailed = t
			}
			g.SampleID, g.SampleError = m.ID, m.Detail()
		}
	}
	out := make([]Group, 0, len(by))
	for _, g := range by {
		if len(g.Stages) == 0 {
			g.Stages = nil
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Reason, b.Reason))
	})
	return out
}

// listJSON is what WriteList prints with asJSON.
type listJSON struct {
	Source    string  `json:"source"`
	Total     int     `json:"total"`
	Truncated bool    `json:"truncated"`
	Reasons   []Group `json:"reasons"`
}

// WriteList prints l grouped by reason: a table, or one JSON object.
func WriteList(w io.Writer, l Listing, asJSON bool) error {
	groups := GroupByReason(l.Messages)
	if asJSON {
		enc := json.NewEncoder(w)
		return enc.Encode(listJSON{Source: l.Source, Total: len(l.Messages), Truncated: l.Truncated, Reasons: groups})
	}
	more := ""
	if l.Truncated {
		more = " (stopped at --max: there may be more)"
	}
	if _, err := fmt.Fprintf(w, "%s: %d dead letters%s; nothing consumed\n", l.Source, len(l.Messages), more); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tCOUNT\tFIRST FAILED\tLAST FAILED\tSAMPLE ERROR")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", termSafe(g.Reason), g.Count, stamp(g.FirstFailed), stamp(g.LastFailed), oneLine(g.SampleError, 80))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine flattens s to one line of at most n runes, marking a cut, with
// terminal control characters escaped.
func oneLine(s string, n int) string {
	s = termSafe(strings.Join(strings.Fields(s), " "))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ShowOptions filter and shape Show's output.
type ShowOptions struct {
	// Reasons, if set, keeps only dead letters with one of these reasons.
	Reasons []string
	// Limit is the most messages printed; 0 for all.
	Limit int
	// BodyBytes cuts the body in the text output; default 200. JSON lines
	// always carry the whole body.
	BodyBytes int
	JSON      bool
}

// messageJSON is one JSON line of WriteShow.
type messageJSON struct {
	ID               string            `json:"id"`
	Reason           string            `json:"reason"`
	Detail           string            `json:"detail,omitempty"`
	Stage            string            `json:"stage,omitempty"`
	DeliveryAttempts int               `json:"delivery_attempts,omitempty"`
	ReceiveCount     int               `json:"receive_count,omitempty"`
	SourceMessageID  string            `json:"source_message_id,omitempty"`
	FailedAt         *time.Time        `json:"failed_at,omitempty"`
	OrderingKey      string            `json:"ordering_key,omitempty"`
	Attributes       map[string]string `json:"attributes"`
	// Body is the body as text when it is UTF-8; BodyBase64 otherwise.
	Body       *string `json:"body,omitempty"`
	BodyBase64 []byte  `json:"body_base64,omitempty"`
}

// Filter returns the messages with one of reasons (all for none).
func Filter(msgs []*Message, reasons []string) []*Message {
	if len(reasons) == 0 {
		return msgs
	}
	var out []*Message
	for _, m := range msgs {
		if slices.Contains(reasons, m.Reason()) {
			out = append(out, m)
		}
	}
	return out
}

// WriteShow prints the dead letters of l that o selects: a block of text
// each, or one JSON object per line.
func WriteShow(w io.Writer, l Listing, o ShowOptions) error {
	msgs := Filter(l.Messages, o.Reasons)
	if o.Limit > 0 && len(msgs) > o.Limit {
		msgs = msgs[:o.Limit]
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		for _, m := range msgs {
			if err := enc.Encode(toJSON(m)); err != nil {
				return err
			}
		}
		return nil
	}
	if o.BodyBytes <= 0 {
		o.BodyBytes = 200
	}
	for i, m := range msgs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "id %s  reason %s  stage %s  delivery attempts %s  receives %d  failed %s\n",
			termSafe(m.ID), termSafe(m.Reason()), termSafe(orDash(m.Stage())), orDash(itoa(m.DeliveryAttempts())), m.ReceiveCount, stamp(m.PublishTime))
		if d := m.Detail(); d != "" {
			fmt.Fprintf(w, "  detail: %s\n", oneLine(d, 300))
		}
		if m.OrderingKey != "" {
			fmt.Fprintf(w, "  ordering key: %s\n", termSafe(m.OrderingKey))
		}
		for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
			fmt.Fprintf(w, "  %s = %s\n", termSafe(k), oneLine(m.Attributes[k], 200))
		}
		if _, err := fmt.Fprintf(w, "  body (%d bytes): %s\n", len(m.Body), bodyText(m.Body, o.BodyBytes)); err != nil {
			return err
		}
	}
	return nil
}

func toJSON(m *Message) messageJSON {
	j := messageJSON{
		ID: m.ID, Reason: m.Reason(), Detail: m.Detail(), Stage: m.Stage(),
		DeliveryAttempts: m.DeliveryAttempts(), ReceiveCount: m.ReceiveCount,
		SourceMessageID: m.SourceMessageID(), OrderingKey: m.OrderingKey, Attributes: m.Attributes,
	}
	if j.Attributes == nil {
		j.Attributes = map[string]string{}
	}
	if !m.PublishTime.IsZero() {
		t := m.PublishTime.UTC()
		j.FailedAt = &t
	}
	if utf8.Valid(m.Body) {
		s := string(m.Body)
		j.Body = &s
	} else {
		j.BodyBase64 = m.Body
	}
	return j
}

// bodyText is the body for a terminal: at most n bytes cut on a rune
// boundary, quoted when it is not valid UTF-8.
func bodyText(b []byte, n int) string {
	if !utf8.Valid(b) {
		if len(b) > n {
			return fmt.Sprintf("%q…", b[:n])
		}
		return fmt.Sprintf("%q", b)
	}
	s := termSafe(string(b))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// termSafe escapes what a terminal would act on rather than print:
// control characters (an ESC starts a sequence that can rewrite the
// screen or the window title) and the Unicode bidi and line-separator
// controls that reorder or split what a reader sees. Dead-letter bodies
// and attributes are whatever a producer sent.
func termSafe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x2028 || r == 0x2029 || r == 0x200E || r == 0x200F
}

func orDash(s string) string {
	if s == "" || s == "0" {
		return "-"
	}
	return s
}

func itoa(n int) string { return fmt.Sprint(n) }
