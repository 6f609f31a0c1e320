package awssqs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/worker/errkind"
)

func outMessages(n, size int, key string) []sources.OutMessage {
	out := make([]sources.OutMessage, n)
	for i := range out {
		body := fmt.Sprintf(`{"i":%d,"pad":"`, i)
		body += strings.Repeat("x", max(size-len(body)-2, 0)) + `"}`
		out[i] = sources.OutMessage{Body: []byte(body), OrderingKey: key}
	}
	return out
}

func TestPublisher(t *testing.T) {
	srv := sqstest.StartMoto(t)
	tests := []struct {
		name string
		run  func(*testing.T, context.Context, *fixture)
		fifo bool
	}{
		{"batches_of_ten", testPublishBatchesOfTen, false},
		{"batches_by_bytes", testPublishBatchesByBytes, false},
		{"oversized_message_refused_alone", testPublishOversized, false},
		{"entry_failure_reported", testPublishEntryFailure, false},
		{"closed", testPublishClosed, false},
		{"fifo_order_across_batches", testPublishFIFOOrder, true},
		{"fifo_needs_ordering_key", testPublishFIFONoKey, true},
		{"fifo_dedup", testPublishFIFODedup, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 20*time.Second)
			tt.run(t, ctx, newFixture(t, ctx, srv, tt.fifo))
		})
	}
}

func (f *fixture) publisher(t *testing.T, o PublisherOptions) *Publisher {
	t.Helper()
	p, err := newPublisher(f.fault, f.q, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) batchSizes() []int {
	f.fault.mu.Lock()
	defer f.fault.mu.Unlock()
	s := slices.Clone(f.fault.sendBatches)
	slices.Sort(s)
	return s
}

func checkIDs(t *testing.T, ids []string, empty ...int) {
	t.Helper()
	for i, id := range ids {
		if want := !slices.Contains(empty, i); (id != "") != want {
			t.Errorf("ids[%d] = %q, want confirmed %v", i, id, want)
		}
	}
}

func testPublishBatchesOfTen(t *testing.T, ctx context.Context, f *fixture) {
	msgs := outMessages(25, 50, "")
	msgs[0].Attributes = map[string]string{"tenant": "acme", "empty": ""}
	ids, err := f.publisher(t, PublisherOptions{}).Publish(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, ids)
	if got := f.batchSizes(); !slices.Equal(got, []int{5, 10, 10}) {
		t.Errorf("batch sizes %v, want 10, 10, 5", got)
	}
	got, err := f.srv.ReceiveAll(ctx, f.q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 {
		t.Fatalf("%d messages in the queue, want 25", len(got))
	}
	for _, m := range got {
		if m.Body == string(msgs[0].Body) && (m.Attributes["tenant"] != "acme" || len(m.Attributes) != 1) {
			t.Errorf("attributes %v, want tenant only (empty values cannot be sent)", m.Attributes)
		}
	}
}

func testPublishBatchesByBytes(t *testing.T, ctx context.Context, f *fixture) {
	ids, err := f.publisher(t, PublisherOptions{MaxMessageBytes: 1000}).Publish(ctx, outMessages(7, 300, ""))
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, ids)
	if got := f.batchSizes(); !slices.Equal(got, []int{1, 3, 3}) {
		t.Errorf("batch sizes %v, want 3, 3, 1 (1000 bytes a call)", got)
	}
}

func testPublishOversized(t *testing.T, ctx context.Context, f *fixture) {
	msgs := outMessages(3, 100, "")
	msgs[1] = outMessages(1, 2000, "")[0]
	p := f.publisher(t, PublisherOptions{MaxMessageBytes: 1000})
	if p.MaxMessageBytes() != 1000 {
		t.Errorf("MaxMessageBytes = %d", p.MaxMessageBytes())
	}
	ids, err := p.Publish(ctx, msgs)
	if errkind.KindOf(err) != errkind.InvalidInput || !strings.Contains(fmt.Sprint(err), "#1") {
		t.Fatalf("Publish = %v, want invalid input naming #1", err)
	}
	checkIDs(t, ids, 1)
}

func testPublishEntryFailure(t *testing.T, ctx context.Context, f *fixture) {
	f.fault.onSendBatch = func(es []types.SendMessageBatchRequestEntry) map[string]string {
		for _, e := range es {
			if strings.HasPrefix(aws.ToString(e.MessageBody), `{"i":12,`) {
				return map[string]string{aws.ToString(e.Id): "InternalError"}
			}
		}
		return nil
	}
	ids, err := f.publisher(t, PublisherOptions{}).Publish(ctx, outMessages(20, 50, ""))
	if errkind.KindOf(err) != errkind.Retryable || !strings.Contains(fmt.Sprint(err), "#12") {
		t.Fatalf("Publish = %v, want retryable naming #12", err)
	}
	checkIDs(t, ids, 12)
}

func testPublishClosed(t *testing.T, ctx context.Context, f *fixture) {
	p := f.publisher(t, PublisherOptions{})
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, outMessages(1, 10, "")); !errors.Is(err, sources.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func testPublishFIFOOrder(t *testing.T, ctx context.Context, f *fixture) {
	msgs := outMessages(25, 50, "g")
	if _, err := f.publisher(t, PublisherOptions{}).Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := f.srv.ReceiveAll(ctx, f.q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i, m := range got {
		if m.Body != string(msgs[i].Body) || m.GroupID != "g" {
			t.Fatalf("message %d = %s in group %q, want %s in g", i, m.Body, m.GroupID, msgs[i].Body)
		}
	}
}

func testPublishFIFONoKey(t *testing.T, ctx context.Context, f *fixture) {
	msgs := outMessages(3, 50, "g")
	msgs[2].OrderingKey = ""
	ids, err := f.publisher(t, PublisherOptions{}).Publish(ctx, msgs)
	if errkind.KindOf(err) != errkind.InvalidInput {
		t.Fatalf("Publish = %v, want invalid input", err)
	}
	// Nothing is sent: sending the others alone could reorder a group
	// once the caller fixes and resends the one refused.
	checkIDs(t, ids, 0, 1, 2)
	if got := f.batchSizes(); len(got) != 0 {
		t.Errorf("sent batches %v, want none", got)
	}
}

func testPublishFIFODedup(t *testing.T, ctx context.Context, f *fixture) {
	p := f.publisher(t, PublisherOptions{})
	msgs := outMessages(2, 50, "g")
	msgs[1].DedupID = "explicit"
	for range 2 {
		if _, err := p.Publish(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.srv.ReceiveAll(ctx, f.q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("%d messages after publishing the same two twice, want 2", len(got))
	}
}
