package modelserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
)

// BenchmarkAdapters measures a batch's round trip through each adapter
// and the server over loopback: the CPU and allocations the worker and an
// instant endpoint spend per batch.
func BenchmarkAdapters(b *testing.B) {
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = fmt.Sprintf("Support was quick but the app keeps crashing %d times a day. %s", i, strings.Repeat("x", i))
	}
	for _, a := range adapters() {
		b.Run(a.name, func(b *testing.B) {
			_, hs := newServer(b, modelserver.Options{})
			c, err := a.new(a.spec(hs.URL))
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Predict(ctx, texts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
