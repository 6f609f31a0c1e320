package awssqs

import (
	"slices"
	"time"
)

// heartbeat keeps held messages invisible while they wait in the buffer or
// are processed. Each beat it extends every message whose visibility
// timeout is two-thirds spent (or within a second of its end, for short
// timeouts), to max(VisibilityTimeout, 2 × p99 of recent processing
// times), never past MaxExtension from its receipt. It stops at Close.
func (s *Source) heartbeat() {
	defer close(s.hbDone)
	if s.o.MaxExtension < 0 {
		<-s.stop
		return
	}
	ticks, stop := s.clk.NewTicker(s.tick)
	defer stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticks:
			s.beat()
		}
	}
}

// lead is how long before a visibility timeout ends it is extended.
func lead(timeout time.Duration) time.Duration {
	return max(timeout/3, min(timeout/2, time.Second))
}

// beat sends one round of extensions.
func (s *Source) beat() {
	now := s.clk.Now()
	s.mu.Lock()
	var (
		entries []entry
		next    time.Duration // the timeout to ask for, computed once per beat
	)
	for _, d := range s.held {
		if d.state == stDone || d.settling || d.extending || d.noExtend {
			continue
		}
		// Due within the next beat: extend now rather than a beat late.
		if now.Add(s.tick).Before(d.visibleAt.Add(-lead(d.timeout))) {
			continue
		}
		if next == 0 {
			next = max(s.visibility, 2*s.proc.p99())
			next = time.Duration(ceilSeconds(next)) * time.Second
		}
		timeout := min(next, d.receivedAt.Add(s.o.MaxExtension).Sub(now), MaxVisibility)
		secs := int64(timeout / time.Second) // rounded down: never past MaxExtension
		if secs < 1 {
			// MaxExtension is spent: let it lapse. A buffered message (and
			// on a FIFO queue its group's later ones) is dropped now, so it
			// is not handed out after SQS gives it to someone else.
			d.noExtend = true
			s.stats.Expired += int64(s.dropLapsedLocked(d))
			continue
		}
		d.extending = true
		entries = append(entries, entry{d: d, receipt: d.receipt, timeout: int32(secs)})
	}
	s.mu.Unlock()
	if len(entries) == 0 {
		return
	}

	results, _ := s.changeEntries(s.hbCtx, entries)

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range entries {
		d := e.d
		d.extending = false
		if d.state == stDone || s.held[d.id] != d || d.receipt != e.receipt {
			continue // acked, nacked or received again meanwhile
		}
		r := results[i]
		switch {
		case r.ok:
			d.timeout = time.Duration(e.timeout) * time.Second
			d.visibleAt = now.Add(d.timeout) // from before the call: errs early
			s.stats.Extended++
		case r.gone:
			s.stats.HandleInvalid++
			d.noExtend = true
			s.dropLapsedLocked(d)
		default:
			s.stats.ExtendFailed++ // tried again next beat
		}
	}
}

// ring keeps the most recent processing times (handed out to acked).
type ring struct {
	d    [256]time.Duration
	n    int // samples so far, capped at len(d)
	next int
}

func (r *ring) add(d time.Duration) {
	r.d[r.next] = d
	r.next = (r.next + 1) % len(r.d)
	r.n = min(r.n+1, len(r.d))
}

// p99 is the 99th percentile of the samples, 0 with none.
func (r *ring) p99() time.Duration {
	if r.n == 0 {
		return 0
	}
	s := slices.Clone(r.d[:r.n])
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}
