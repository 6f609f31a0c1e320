package adaptertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Bench measures the client side of one 64-text batch: the server answers
// with a fixed body and does not read the request beyond draining it.
func Bench(b *testing.B, p Protocol) {
	const n = 64
	body := p.OKBody(n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := p.New(Spec(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("Support was quick but the app keeps crashing %d times a day. %s", i, strings.Repeat("x", i))
	}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Predict(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}
