package wake

import (
	"context"
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestSignal(t *testing.T) {
	tests := []struct {
		name string
		// do acts on the signal and returns the channels a waiter took
		// before the last step.
		do         func(*Signal) []<-chan struct{}
		wantClosed []bool
	}{
		{"broadcast with no waiter is a no-op", func(s *Signal) []<-chan struct{} {
			s.Broadcast()
			return nil
		}, nil},
		{"waiters share one channel until a broadcast", func(s *Signal) []<-chan struct{} {
			return []<-chan struct{}{s.Chan(), s.Chan()}
		}, []bool{false, false}},
		{"broadcast closes what waiters took", func(s *Signal) []<-chan struct{} {
			a, b := s.Chan(), s.Chan()
			s.Broadcast()
			return []<-chan struct{}{a, b}
		}, []bool{true, true}},
		{"a waiter after a broadcast gets a fresh channel", func(s *Signal) []<-chan struct{} {
			a := s.Chan()
			s.Broadcast()
			return []<-chan struct{}{a, s.Chan()}
		}, []bool{true, false}},
		{"a second broadcast closes only the new channel", func(s *Signal) []<-chan struct{} {
			a := s.Chan()
			s.Broadcast()
			b := s.Chan()
			s.Broadcast()
			s.Broadcast()
			return []<-chan struct{}{a, b}
		}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Signal
			chs := tt.do(&s)
			if len(chs) != len(tt.wantClosed) {
				t.Fatalf("%d channels, want %d", len(chs), len(tt.wantClosed))
			}
			for i, ch := range chs {
				if got := closed(ch); got != tt.wantClosed[i] {
					t.Errorf("channel %d closed = %v, want %v", i, got, tt.wantClosed[i])
				}
			}
		})
	}
}

func TestTimerWait(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	woken := make(chan struct{})
	close(woken)
	tests := []struct {
		name        string
		ctx         context.Context
		wake        <-chan struct{}
		d           time.Duration
		wantExpired bool
	}{
		{"expires", context.Background(), nil, time.Millisecond, true},
		{"woken", context.Background(), woken, time.Hour, false},
		{"context done", cancelled, nil, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tm Timer
			defer tm.Stop()
			// Twice: the second round reuses the timer.
			for round := range 2 {
				if got := tm.Wait(tt.ctx, tt.wake, tt.d); got != tt.wantExpired {
					t.Errorf("round %d: Wait = %v, want %v", round, got, tt.wantExpired)
				}
			}
		})
	}
}

func TestTimerStopUnused(t *testing.T) {
	var tm Timer
	tm.Stop() // a call that never waited
}
