package httpx

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
)

// maxPooled keeps an occasional huge batch from pinning its buffer in the
// pool for good.
const maxPooled = 4 << 20

var pool = sync.Pool{New: func() any {
	b := new(Buffer)
	b.enc = json.NewEncoder(&b.Buffer)
	b.enc.SetEscapeHTML(false)
	return b
}}

// Buffer is a pooled byte buffer with a JSON encoder writing into it.
type Buffer struct {
	bytes.Buffer
	enc *json.Encoder
	// refs counts the holders that may still read the bytes: the Post call
	// and each request body the transport has not closed yet. The transport
	// may close a body after Do returns, so the buffer goes back to the
	// pool only when the last of them lets go.
	refs atomic.Int32
}

// NewBuffer returns an empty buffer from the pool. Hand it to Post, which
// returns it to the pool.
func NewBuffer() *Buffer { return getBuffer() }

func getBuffer() *Buffer {
	b := pool.Get().(*Buffer)
	b.refs.Store(1)
	return b
}

// Encode writes v as JSON (with a trailing newline).
func (b *Buffer) Encode(v any) error { return b.enc.Encode(v) }

func (b *Buffer) release() {
	if b.refs.Add(-1) != 0 {
		return
	}
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	pool.Put(b)
}

// reader is a request body over the buffer's bytes that holds a reference
// until the transport closes it.
func (b *Buffer) reader() *bodyReader {
	b.refs.Add(1)
	r := &bodyReader{buf: b}
	r.Reset(b.Bytes())
	return r
}

type bodyReader struct {
	bytes.Reader
	buf    *Buffer
	closed atomic.Bool
}

func (r *bodyReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.buf.release()
	}
	return nil
}
