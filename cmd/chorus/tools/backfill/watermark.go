package backfill

import "sync"

// Counts are the per-record outcomes a unit of work carries.
type Counts struct {
	Published int64 `json:"published"`
	Messages  int64 `json:"messages"`
	Filtered  int64 `json:"skipped_filtered"`
	Stale     int64 `json:"skipped_stale"`
	Failed    int64 `json:"failed"`
}

func (c *Counts) add(o Counts) {
	c.Published += o.Published
	c.Messages += o.Messages
	c.Filtered += o.Filtered
	c.Stale += o.Stale
	c.Failed += o.Failed
}

// Watermark tracks the highest contiguous confirmed input position when
// units of work (numbered 0, 1, 2, … in input order, each covering input
// records up to a position) are confirmed in any order. Safe for
// concurrent use.
type Watermark struct {
	mu      sync.Mutex
	next    int64 // the next unit expected
	pos     int64 // input records confirmed
	counts  Counts
	pending map[int64]pendingUnit
}

type pendingUnit struct {
	hi     int64
	counts Counts
}

// NewWatermark starts at pos records already confirmed, with their counts.
func NewWatermark(pos int64, c Counts) *Watermark {
	return &Watermark{pos: pos, counts: c, pending: map[int64]pendingUnit{}}
}

// Confirm records that unit seq, covering input records up to hi, is
// done. It returns the watermark after it.
func (w *Watermark) Confirm(seq, hi int64, c Counts) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq < w.next {
		return w.pos // a second confirmation is ignored
	}
	w.pending[seq] = pendingUnit{hi: hi, counts: c}
	for {
		u, ok := w.pending[w.next]
		if !ok {
			break
		}
		delete(w.pending, w.next)
		w.next++
		w.pos = max(w.pos, u.hi)
		w.counts.add(u.counts)
	}
	return w.pos
}

// Position is the number of leading input records confirmed, and their
// counts.
func (w *Watermark) Position() (int64, Counts) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pos, w.counts
}

// Pending is the number of units confirmed beyond the watermark.
func (w *Watermark) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}
