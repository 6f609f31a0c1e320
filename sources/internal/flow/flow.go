// Package flow is the flow-control accounting the source drivers share:
// how many messages and bytes are handed out and not yet settled, against
// the bounds of a sources.FlowControl.
package flow

import "github.com/chorusml/chorus/sources"

// Window counts what a source has handed out against its bounds. The
// zero value is unbounded. Not safe for concurrent use: drivers hold it
// under their own lock.
type Window struct {
	maxMsgs, maxBytes int // <= 0: unbounded
	msgs, bytes       int
}

// New returns an empty window bounded by fc, where a zero field takes
// the given default and a negative one disables that bound.
func New(fc sources.FlowControl, defMsgs, defBytes int) Window {
	return Window{
		maxMsgs:  orDefault(fc.MaxOutstandingMessages, defMsgs),
		maxBytes: orDefault(fc.MaxOutstandingBytes, defBytes),
	}
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Fits reports whether a message of size bytes may be handed out now. A
// message bigger than the byte bound goes out alone rather than never.
func (w *Window) Fits(size int) bool {
	if w.maxMsgs > 0 && w.msgs >= w.maxMsgs {
		return false
	}
	return w.maxBytes <= 0 || w.msgs == 0 || w.bytes+size <= w.maxBytes
}

// Add counts a message of size bytes handed out.
func (w *Window) Add(size int) {
	w.msgs++
	w.bytes += size
}

// Remove takes back a message of size bytes, settled or released.
func (w *Window) Remove(size int) {
	w.msgs--
	w.bytes -= size
}

// Reset takes back every message (a Close that released them all).
func (w *Window) Reset() { w.msgs, w.bytes = 0, 0 }

// Msgs is the number of messages out.
func (w *Window) Msgs() int { return w.msgs }

// Bytes is the number of bytes out.
func (w *Window) Bytes() int { return w.bytes }

// MaxMsgs is the message bound, <= 0 when unbounded.
func (w *Window) MaxMsgs() int { return w.maxMsgs }

// MaxBytes is the byte bound, <= 0 when unbounded.
func (w *Window) MaxBytes() int { return w.maxBytes }
