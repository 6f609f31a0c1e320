package delayq

import (
	"slices"
	"testing"
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
