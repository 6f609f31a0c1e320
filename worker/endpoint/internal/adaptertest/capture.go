package adaptertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Capture is a server that answers every request as Serve does and keeps
// what it was sent, for the adapters' own cases that check the request.
type Capture struct {
	*httptest.Server
	n    atomic.Int64
	reqs chan Captured
}

// Captured is one request a Capture server got: a clone of it, and its
// body as read.
type Captured struct {
	Request *http.Request
	Body    string
}

// NewCapture starts a Capture server answering status, h and body; it
// closes when the test ends. It keeps the first 64 requests.
func NewCapture(t testing.TB, status int, h http.Header, body string) *Capture {
	t.Helper()
	c := &Capture{reqs: make(chan Captured, 64)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		b, _ := io.ReadAll(r.Body)
		select {
		case c.reqs <- Captured{r.Clone(r.Context()), string(b)}:
		default:
		}
		answer(w, status, h, body)
	}))
	t.Cleanup(c.Close)
	return c
}

// Requests is how many requests the server has got.
func (c *Capture) Requests() int64 { return c.n.Load() }

// Next returns the earliest request not returned yet. It does not wait: a
// request is kept before it is answered, so once the client has its
// answer the request is here, and a test that sees none fails.
func (c *Capture) Next(t testing.TB) Captured {
	t.Helper()
	select {
	case r := <-c.reqs:
		return r
	default:
		t.Fatal("no request reached the server")
		return Captured{}
	}
}
