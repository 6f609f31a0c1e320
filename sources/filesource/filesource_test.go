package filesource_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/filesource"
	"github.com/chorusml/chorus/worker/errkind"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func writeInput(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string, opts filesource.Options) *filesource.Source {
	t.Helper()
	src, err := filesource.Open(path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = src.Close(context.Background()) })
	return src
}

// receiveAll returns every line ready now. One Receive hands out all
// that is ready up to max and flow control, so it needs one call; the short
// deadline only cuts the wait when nothing is ready.
func receiveAll(ctx context.Context, t *testing.T, src *filesource.Source) []*sources.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	msgs, err := src.Receive(ctx, 1000)
	if err != nil && ctx.Err() == nil {
		t.Fatalf("receive: %v", err)
	}
	return msgs
}

func lineNos(path string, msgs []*sources.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, strings.TrimPrefix(m.ID, path+":"))
	}
	return out
}

func pick(path string, msgs []*sources.Message, lines ...string) []*sources.Message {
	var out []*sources.Message
	for _, m := range msgs {
		if slices.Contains(lines, strings.TrimPrefix(m.ID, path+":")) {
			out = append(out, m)
		}
	}
	return out
}

func isDone(src *filesource.Source) bool {
	select {
	case <-src.Done():
		return true
	default:
		return false
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // bodies
	}{
		{"newline_terminated", "a\nb\n", []string{"a", "b"}},
		{"last_line_unterminated", "a\nb", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"blank_lines_skipped", "\na\n  \n\nb\n", []string{"a", "b"}},
		{"empty", "", nil},
		{"long_line", strings.Repeat("x", 200<<10) + "\n", []string{strings.Repeat("x", 200<<10)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			src := open(t, writeInput(t, tc.content), filesource.Options{})
			msgs := receiveAll(ctx, t, src)
			var got []string
			for _, m := range msgs {
				got = append(got, string(m.Body))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("bodies = %.40q, want %.40q", got, tc.want)
			}
			if err := src.Ack(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			if !isDone(src) {
				t.Error("Done not closed after every line was acked")
			}
		})
	}
}

func TestCheckpointResume(t *testing.T) {
	ctx := testCtx(t)
	path := writeInput(t, "1\n2\n3\n4\n\n6\n7\n8\n9\n10")
	src := open(t, path, filesource.Options{})
	msgs := receiveAll(ctx, t, src)
	// Line 5 is blank and resolves itself; 4, 8 and 9 stay unacked.
	if err := src.Ack(ctx, pick(path, msgs, "1", "2", "3", "6", "7", "10")); err != nil {
		t.Fatal(err)
	}
	if isDone(src) {
		t.Fatal("Done closed with lines unacked")
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var cp struct {
		Line   int      `json:"line"`
		Offset int64    `json:"offset"`
		Acked  [][2]int `json:"acked"`
	}
	b, err := os.ReadFile(path + ".checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	if cp.Line != 3 || cp.Offset != 6 || !slices.Equal(cp.Acked, [][2]int{{5, 7}, {10, 10}}) {
		t.Errorf("checkpoint = %s, want line 3, offset 6, acked [[5,7],[10,10]]", b)
	}

	src = open(t, path, filesource.Options{})
	msgs = receiveAll(ctx, t, src)
	if got := lineNos(path, msgs); !slices.Equal(got, []string{"4", "8", "9"}) {
		t.Fatalf("after restart got lines %v, want [4 8 9]", got)
	}
	if err := src.Ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if !isDone(src) {
		t.Error("Done not closed after every line was acked")
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}

	src = open(t, path, filesource.Options{})
	if msgs := receiveAll(ctx, t, src); len(msgs) > 0 {
		t.Errorf("fully acked file delivered lines %v", lineNos(path, msgs))
	}
	if !isDone(src) {
		t.Error("Done not closed on a fully acked file")
	}
}

// Acks are checkpointed in the background, not only on Close, so a crash
// re-delivers at most SyncInterval's worth.
func TestCheckpointInBackground(t *testing.T) {
	ctx := testCtx(t)
	path := writeInput(t, "1\n2\n3\n")
	src := open(t, path, filesource.Options{SyncInterval: 10 * time.Millisecond})
	msgs := receiveAll(ctx, t, src)
	if err := src.Ack(ctx, msgs[:2]); err != nil {
		t.Fatal(err)
	}
	for {
		b, _ := os.ReadFile(path + ".checkpoint")
		if strings.Contains(string(b), `"line":2`) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("checkpoint = %s, want line 2 without Close", b)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestNackDelaysDone(t *testing.T) {
	ctx := testCtx(t)
	path := writeInput(t, "a\n")
	src := open(t, path, filesource.Options{})
	msgs := receiveAll(ctx, t, src)
	if err := src.Nack(ctx, msgs, 0); err != nil {
		t.Fatal(err)
	}
	if isDone(src) {
		t.Fatal("Done closed while a line waits for redelivery")
	}
	msgs = receiveAll(ctx, t, src)
	if len(msgs) != 1 || msgs[0].DeliveryAttempt != 2 {
		t.Fatalf("redelivery = %d messages (attempt %d), want one at attempt 2", len(msgs), msgs[0].DeliveryAttempt)
	}
	if err := src.Ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if !isDone(src) {
		t.Error("Done not closed after the redelivery was acked")
	}
}

func TestLineTooLong(t *testing.T) {
	ctx := testCtx(t)
	long := strings.Repeat("x", 100)
	path := writeInput(t, "a\n"+long+"\nb\n")
	src := open(t, path, filesource.Options{MaxLineBytes: 50})
	msgs := receiveAll(ctx, t, src)
	if got := lineNos(path, msgs); !slices.Equal(got, []string{"1", "3"}) {
		t.Fatalf("got lines %v, want [1 3]", got)
	}
	dls, err := filesource.ReadDeadLetters(path + ".deadletter.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("got %d dead letters, want 1", len(dls))
	}
	if got := dls[0].Attributes[sources.AttrErrorClass]; got != string(filesource.ReasonLineTooLong) {
		t.Errorf("reason = %q, want %q", got, filesource.ReasonLineTooLong)
	}
	if got := dls[0].Attributes[sources.AttrSourceMessageID]; got != path+":2" {
		t.Errorf("source message id = %q, want %q", got, path+":2")
	}
	if err := src.Ack(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if !isDone(src) {
		t.Error("Done not closed: the dead-lettered line should count as resolved")
	}
}

func TestCheckpointMismatch(t *testing.T) {
	tests := []struct {
		name, checkpoint string
		reason           errkind.Reason
	}{
		{"offset_past_end", `{"version":1,"line":9,"offset":900}`, "checkpoint_mismatch"},
		{"offset_mid_line", `{"version":1,"line":1,"offset":2}`, "checkpoint_mismatch"},
		{"garbage", `{`, "checkpoint_corrupt"},
		{"unknown_version", `{"version":7}`, "checkpoint_corrupt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeInput(t, "abc\ndef\n")
			if err := os.WriteFile(path+".checkpoint", []byte(tc.checkpoint), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := filesource.Open(path, filesource.Options{})
			if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != tc.reason {
				t.Errorf("open = %v, want a permanent %s error", err, tc.reason)
			}
		})
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := filesource.Open(filepath.Join(t.TempDir(), "nope.jsonl"), filesource.Options{})
	if errkind.KindOf(err) != errkind.Permanent {
		t.Errorf("open of a missing file = %v, want a permanent error", err)
	}
}

func TestDeadLetterBodiesRoundTrip(t *testing.T) {
	bodies := []string{
		`{"a": 1,  "b":[1, 2]}`,
		`not json`,
		" {\"padded\":true} ",
		"{\"multi\":\n1}",
		"\x00\xff binary",
		`"just a string"`,
	}
	ctx := testCtx(t)
	path := writeInput(t, "x\n")
	src := open(t, path, filesource.Options{})
	msgs := receiveAll(ctx, t, src)
	var dls []sources.DeadLetter
	for _, b := range bodies {
		dls = append(dls, sources.DeadLetter{Message: msgs[0], Body: []byte(b), Reason: "r", Detail: "d", Stage: "decode"})
	}
	if err := src.DeadLetter(ctx, dls); err != nil {
		t.Fatal(err)
	}
	got, err := filesource.ReadDeadLetters(path + ".deadletter.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(bodies) {
		t.Fatalf("got %d dead letters, want %d", len(got), len(bodies))
	}
	for i, b := range bodies {
		if string(got[i].Body) != b {
			t.Errorf("body %d = %q, want %q", i, got[i].Body, b)
		}
		if got[i].At.IsZero() {
			t.Errorf("dead letter %d has no time", i)
		}
	}
}
