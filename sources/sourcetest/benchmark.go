package sourcetest

import (
	"context"
	"testing"

	"github.com/chorusml/chorus/sources"
)

// Benchmark measures one receive-and-ack round trip per message through a
// driver: b.N messages, received in batches of batch and acked per batch.
// Publishing is not timed. Brokers with LatePublish are fed in chunks so
// memory stays bounded however large b.N grows; the others get every
// message before the Source opens.
func Benchmark(b *testing.B, newHarness HarnessMaker, batch int) {
	ctx := context.Background()
	h, err := newHarness(ctx, b)
	if err != nil {
		b.Fatalf("new harness: %v", err)
	}
	defer h.Close()
	late := h.Capabilities().LatePublish

	const chunk = 4096
	body := []byte(`{"response_id":"r-1","tenant":"acme","text":"Support was quick but the app keeps crashing."}`)
	msgs := make([]RawMessage, chunk)
	for i := range msgs {
		msgs[i] = RawMessage{Body: body, Attributes: map[string]string{"tenant": "acme"}}
	}
	publish := func(n int) {
		for n > 0 {
			k := min(n, chunk)
			if err := h.Publish(ctx, msgs[:k]); err != nil {
				b.Fatalf("publish: %v", err)
			}
			n -= k
		}
	}
	if !late {
		publish(b.N)
	}
	src, err := h.NewSource(ctx, sources.FlowControl{MaxOutstandingMessages: 4 * batch, MaxOutstandingBytes: -1})
	if err != nil {
		b.Fatalf("new source: %v", err)
	}
	defer func() { _ = src.Close(ctx) }()

	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		want := b.N - done
		if late {
			want = min(want, chunk)
			b.StopTimer()
			publish(want)
			b.StartTimer()
		}
		for got, empty := 0, 0; got < want; {
			ms, err := src.Receive(ctx, batch)
			if err != nil {
				b.Fatalf("receive: %v", err)
			}
			// An empty batch is legal, but several in a row mean lost
			// messages.
			if len(ms) == 0 {
				if empty++; empty == 5 {
					b.Fatalf("receive: empty batches with %d of %d messages left", want-got, b.N)
				}
				continue
			}
			empty = 0
			if err := src.Ack(ctx, ms); err != nil {
				b.Fatalf("ack: %v", err)
			}
			got += len(ms)
		}
		done += want
	}
}
