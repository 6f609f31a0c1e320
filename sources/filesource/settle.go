package filesource

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/internal/contract"
)

// resolve records line no, ending at end, as acked. Caller holds mu.
func (s *Source) resolve(no int, end int64) {
	s.dirty = true
	if no != s.prefix+1 {
		s.acked.add(no, end)
		return
	}
	s.prefix, s.prefixOff = no, end
	if len(s.acked) > 0 && s.acked[0].first == no+1 {
		s.prefix, s.prefixOff = s.acked[0].last, s.acked[0].end
		s.acked = slices.Delete(s.acked, 0, 1)
	}
}

// checkDrained closes done once everything is read and acked. Caller
// holds mu.
func (s *Source) checkDrained() {
	if s.drained || !s.eof || s.unresolved > 0 {
		return
	}
	s.drained = true
	close(s.done)
	// Checkpoint now: whoever waits on Done is about to shut down.
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// current returns the line behind m if m is its live delivery. Caller
// holds mu.
func (s *Source) current(m *sources.Message) (*line, contract.Status) {
	d, ok := m.Handle.(*delivery)
	if !ok || d.src != s {
		return nil, contract.Foreign
	}
	if d.l.state != lineOut || d.l.attempts != d.attempt {
		return nil, contract.Stale
	}
	return d.l, contract.Live
}

func (s *Source) release(l *line) { s.win.Remove(len(l.body)) }

// Ack implements sources.Source. It only updates memory; the checkpoint
// follows within SyncInterval, so it ignores ctx.
func (s *Source) Ack(_ context.Context, msgs []*sources.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("ack")
	}
	foreign := contract.Each(msgs, s.current, func(l *line) {
		s.release(l)
		l.state = lineAcked
		l.body = nil
		s.unresolved--
		s.resolve(l.no, l.end)
	})
	s.checkDrained()
	s.wake.Broadcast()
	return foreignErr("ack", foreign)
}

// Nack implements sources.Source.
func (s *Source) Nack(_ context.Context, msgs []*sources.Message, delay time.Duration) error {
	if len(msgs) == 0 {
		return nil
	}
	readyAt := time.Now().Add(delay).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed("nack")
	}
	foreign := contract.Each(msgs, s.current, func(l *line) {
		s.release(l)
		l.state = lineWaiting
		if delay <= 0 {
			s.ready = append(s.ready, l)
		} else {
			s.delayed.Push(readyAt, uint64(l.no), l)
		}
	})
	s.wake.Broadcast()
	return foreignErr("nack", foreign)
}

// span is a run of acked lines first..last; end is the offset just past
// last.
type span struct {
	first, last int
	end         int64
}

// spans is a sorted list of disjoint, non-adjacent spans. Acks arrive
// roughly in order, so it stays as short as the number of holes (lines
// outstanding or nacked), which flow control bounds.
type spans []span

func (ss *spans) add(no int, end int64) {
	s := *ss
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= no })
	if i < len(s) && s[i].first <= no {
		return // already acked
	}
	joinLeft := i > 0 && s[i-1].last == no-1
	joinRight := i < len(s) && s[i].first == no+1
	switch {
	case joinLeft && joinRight:
		s[i-1].last, s[i-1].end = s[i].last, s[i].end
		*ss = slices.Delete(s, i, i+1)
	case joinLeft:
		s[i-1].last, s[i-1].end = no, end
	case joinRight:
		s[i].first = no
	default:
		*ss = slices.Insert(s, i, span{first: no, last: no, end: end})
	}
}
