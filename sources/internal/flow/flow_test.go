package flow

import (
	"testing"

	"github.com/chorusml/chorus/sources"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name                string
		fc                  sources.FlowControl
		wantMsgs, wantBytes int
	}{
		{"zero takes the defaults", sources.FlowControl{}, 10, 100},
		{"set values stay", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: 7}, 3, 7},
		{"negative disables", sources.FlowControl{MaxOutstandingMessages: -1, MaxOutstandingBytes: -1}, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(tt.fc, 10, 100)
			if w.MaxMsgs() != tt.wantMsgs || w.MaxBytes() != tt.wantBytes {
				t.Errorf("bounds %d msgs, %d bytes; want %d, %d", w.MaxMsgs(), w.MaxBytes(), tt.wantMsgs, tt.wantBytes)
			}
			if w.Msgs() != 0 || w.Bytes() != 0 {
				t.Errorf("new window holds %d msgs, %d bytes", w.Msgs(), w.Bytes())
			}
		})
	}
}

func TestFits(t *testing.T) {
	tests := []struct {
		name string
		fc   sources.FlowControl
		out  []int // sizes already handed out
		size int
		want bool
	}{
		{"empty window", sources.FlowControl{MaxOutstandingMessages: 2, MaxOutstandingBytes: 10}, nil, 5, true},
		{"message bound reached", sources.FlowControl{MaxOutstandingMessages: 2, MaxOutstandingBytes: 10}, []int{1, 1}, 1, false},
		{"under both bounds", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: 10}, []int{4}, 6, true},
		{"over the byte bound", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: 10}, []int{4}, 7, false},
		{"too big goes out alone", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: 10}, nil, 50, true},
		{"too big waits for an empty window", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: 10}, []int{1}, 50, false},
		{"unbounded messages", sources.FlowControl{MaxOutstandingMessages: -1, MaxOutstandingBytes: 10}, []int{1, 1, 1, 1}, 1, true},
		{"unbounded bytes", sources.FlowControl{MaxOutstandingMessages: 3, MaxOutstandingBytes: -1}, []int{1 << 30}, 1 << 30, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(tt.fc, 0, 0)
			for _, n := range tt.out {
				w.Add(n)
			}
			if got := w.Fits(tt.size); got != tt.want {
				t.Errorf("Fits(%d) with %v out = %v, want %v", tt.size, tt.out, got, tt.want)
			}
		})
	}
}

func TestAccounting(t *testing.T) {
	tests := []struct {
		name                string
		do                  func(*Window)
		wantMsgs, wantBytes int
	}{
		{"add", func(w *Window) { w.Add(3); w.Add(4) }, 2, 7},
		{"add and remove", func(w *Window) { w.Add(3); w.Add(4); w.Remove(3) }, 1, 4},
		{"reset", func(w *Window) { w.Add(3); w.Add(4); w.Reset() }, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := New(sources.FlowControl{}, 10, 100)
			tt.do(&w)
			if w.Msgs() != tt.wantMsgs || w.Bytes() != tt.wantBytes {
				t.Errorf("window holds %d msgs, %d bytes; want %d, %d", w.Msgs(), w.Bytes(), tt.wantMsgs, tt.wantBytes)
			}
			if w.MaxMsgs() != 10 || w.MaxBytes() != 100 {
				t.Errorf("bounds changed to %d, %d", w.MaxMsgs(), w.MaxBytes())
			}
		})
	}
}
