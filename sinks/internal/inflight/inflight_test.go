package inflight

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
)

func TestEnterAfterClose(t *testing.T) {
	var tr Tracker
	if !tr.Enter() {
		t.Fatal("Enter before Close = false")
	}
	tr.Leave()
	if err := tr.Close(context.Background(), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if tr.Enter() {
		t.Fatal("Enter after Close = true")
	}
}

// checkedRelease reports an error if it runs before the Write in progress
// left; left is set just before Leave, so an early release is always
// caught.
func checkedRelease(left *atomic.Bool) func() error {
	return func() error {
		if !left.Load() {
			return errors.New("released while a Write was in progress")
		}
		return nil
	}
}

func TestCloseWaitsForWrites(t *testing.T) {
	var tr Tracker
	if !tr.Enter() {
		t.Fatal("Enter = false")
	}
	var left atomic.Bool
	errc := make(chan error, 1)
	go func() { errc <- tr.Close(context.Background(), checkedRelease(&left)) }()
	// Leave only once Close has begun, so it is the wait that is tested,
	// not a Close that found nothing in progress.
	for tr.Enter() {
		tr.Leave()
		runtime.Gosched()
	}
	left.Store(true)
	tr.Leave()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestCloseReturnsReleaseError(t *testing.T) {
	var tr Tracker
	want := errors.New("stream close failed")
	if err := tr.Close(context.Background(), func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("Close = %v, want %v", err, want)
	}
}

func TestCloseDeadlineReleasesLater(t *testing.T) {
	var tr Tracker
	if !tr.Enter() {
		t.Fatal("Enter = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var left atomic.Bool
	releaseErr := make(chan error, 1)
	release := checkedRelease(&left)
	err := tr.Close(ctx, func() error { err := release(); releaseErr <- err; return err })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrWritesInProgress) {
		t.Fatalf("Close = %v, want ErrWritesInProgress and context.Canceled", err)
	}
	left.Store(true)
	tr.Leave()
	// The last Write's leaving releases.
	if err := <-releaseErr; err != nil {
		t.Fatal(err)
	}
}

func TestSecondCloseIsNoop(t *testing.T) {
	var tr Tracker
	calls := 0
	release := func() error { calls++; return nil }
	for range 3 {
		if err := tr.Close(context.Background(), release); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("release ran %d times, want 1", calls)
	}
}
