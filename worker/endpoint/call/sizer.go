package call

import "sync"

// Sizer learns how many texts the endpoint takes in one request. It starts
// at the configured batch size, drops to what the server says (or half)
// when a batch is refused as too large, and grows back by doubling after a
// run of full batches that succeeded, so a limit that was temporary (a
// redeploy, a token budget hit by long texts) does not shrink the batches
// for good. Each probe that is refused again doubles the run needed before
// the next one, so a lasting limit costs ever fewer refused requests.
type Sizer struct {
	mu        sync.Mutex
	max       int // the configured batch size
	serverMax int // the most the server said it takes (0: unknown)
	cur       int
	good      int // full batches in a row that succeeded at cur
	probe     int // full batches needed before growing
	probing   bool
	onChange  func(n int)
}

const (
	firstProbe = 8
	maxProbe   = 1024
)

// NewSizer starts at max items per batch; onChange (may be nil) is told
// each new limit, e.g. to resize the batcher.
func NewSizer(max int, onChange func(n int)) *Sizer {
	if max < 1 {
		max = 1
	}
	return &Sizer{max: max, cur: max, probe: firstProbe, onChange: onChange}
}

// Limit is the most texts to send in one request now (0 for a nil Sizer:
// no limit).
func (s *Sizer) Limit() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// SetServerMax caps batches at what the server says it takes.
func (s *Sizer) SetServerMax(n int) {
	if s == nil || n < 1 {
		return
	}
	s.mu.Lock()
	s.serverMax = n
	changed := s.set(min(s.cur, n))
	s.mu.Unlock()
	s.notify(changed)
}

func (s *Sizer) ceiling() int {
	if s.serverMax > 0 {
		return min(s.max, s.serverMax)
	}
	return s.max
}

// set changes cur; it returns the new limit, or 0 if it did not change.
func (s *Sizer) set(n int) int {
	n = max(1, min(n, s.ceiling()))
	if n == s.cur {
		return 0
	}
	s.cur, s.good = n, 0
	return n
}

func (s *Sizer) notify(n int) {
	if n > 0 && s.onChange != nil {
		s.onChange(n)
	}
}

// tooLarge records that a batch of n was refused; hint is the server's
// stated limit, or 0.
func (s *Sizer) tooLarge(n, hint int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.probing {
		s.probe = min(2*s.probe, maxProbe)
	}
	s.probing = false
	next := n / 2
	if hint > 0 && hint < n {
		next = hint
	}
	changed := s.set(min(next, s.cur))
	s.good = 0
	s.mu.Unlock()
	s.notify(changed)
}

// ok records that a batch of n succeeded.
func (s *Sizer) ok(n int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if n >= s.cur && s.probing {
		// The grown size works: the next probe comes at the first pace.
		s.probing, s.probe = false, firstProbe
	}
	var changed int
	if n >= s.cur && s.cur < s.ceiling() {
		s.good++
		if s.good >= s.probe {
			changed = s.set(2 * s.cur)
			s.probing = changed > 0
		}
	}
	s.mu.Unlock()
	s.notify(changed)
}
