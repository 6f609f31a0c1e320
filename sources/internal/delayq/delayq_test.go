package delayq

import (
	"slices"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	var q Queue[string]
	if _, ok := q.Next(); ok {
		t.Fatal("empty queue has a next item")
	}
	q.Push(30, 1, "c")
	q.Push(10, 3, "b")
	q.Push(10, 2, "a")
	q.Push(50, 4, "d")
	if due, ok := q.Next(); !ok || due != 10 {
		t.Fatalf("Next = %d, %v; want 10", due, ok)
	}
	var got []string
	q.PopDue(30, func(s string) { got = append(got, s) })
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("PopDue(30) = %v, want [a b c]: by due, then seq", got)
	}
	if q.Len() != 1 {
		t.Fatalf("Len = %d, want 1", q.Len())
	}
}

func TestWait(t *testing.T) {
	tests := []struct {
		name          string
		due           []int64 // items queued
		now, deadline int64
		wantWait      time.Duration
		wantOK        bool
	}{
		{"empty: to the deadline", nil, 100, 1100, 1000, true},
		{"an item due first", []int64{300, 500}, 100, 1100, 200, true},
		{"the deadline first", []int64{5000}, 100, 1100, 1000, true},
		{"deadline reached", []int64{300}, 1100, 1100, 0, false},
		{"deadline passed", nil, 1200, 1100, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue[int]
			for i, due := range tt.due {
				q.Push(due, uint64(i), i)
			}
			wait, ok := q.Wait(tt.now, tt.deadline)
			if wait != tt.wantWait || ok != tt.wantOK {
				t.Errorf("Wait(%d, %d) = %v, %v; want %v, %v", tt.now, tt.deadline, wait, ok, tt.wantWait, tt.wantOK)
			}
		})
	}
}
