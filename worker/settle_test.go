package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusml/chorus/sources"
)

// stuckDeadLetters is a source whose dead-letter calls hang until released:
// a dead-letter topic in an outage.
type stuckDeadLetters struct {
	sources.Source
	release chan struct{}
	entered chan struct{}
}

func (s *stuckDeadLetters) DeadLetter(ctx context.Context, dls []sources.DeadLetter) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Source.DeadLetter(ctx, dls)
}

// Dead-letter calls run on the completion stage: while the dead-letter
// topic hangs, every other message is still scored, written and acked.
func TestDeadLetterOutageStallsNothingElse(t *testing.T) {
	stuck := &stuckDeadLetters{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	h := newHarness(t, harnessOpts{wrapSource: func(s sources.Source) sources.Source {
		stuck.Source = s
		return stuck
	}})
	bodies := append([]string{`{"not json`}, globexJobs(60)...)
	h.publish(bodies...)
	h.start()
	<-stuck.entered
	deadline := time.Now().Add(20 * time.Second)
	for len(h.sink.Rows()) < 60 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 60 rows written while a dead-letter call hangs", len(h.sink.Rows()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stuck.release)
	h.waitSettled(10 * time.Second)
	if n := len(h.topic.DeadLetters()); n != 1 {
		t.Errorf("%d dead letters, want 1", n)
	}
}
