package backfill

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Stats is a snapshot of a run's counters.
type Stats struct {
	Read, Total, Published, Messages, Filtered, Stale, Resumed, Failed int64
	Elapsed                                                            time.Duration
}

func snapshot(st *runState, total int64, elapsed time.Duration) Stats {
	return Stats{
		Read: st.read.Load(), Total: total, Published: st.published.Load(), Messages: st.messages.Load(),
		Filtered: st.filtered.Load(), Stale: st.stale.Load(), Resumed: st.resumed.Load(), Failed: st.failed.Load(),
		Elapsed: elapsed,
	}
}

// Rate is jobs published per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Published) / s.Elapsed.Seconds()
}

// ETA estimates the time left from the read rate; ok is false when the
// total is unknown or nothing has been read yet.
func (s Stats) ETA() (time.Duration, bool) {
	done := s.Read - s.Resumed
	if s.Total < 0 || done <= 0 || s.Elapsed <= 0 {
		return 0, false
	}
	left := s.Total - s.Read
	if left <= 0 {
		return 0, true
	}
	perRecord := s.Elapsed / time.Duration(done)
	return time.Duration(left) * perRecord, true
}

// Progress shows a run's progress.
type Progress interface {
	// Update is called about five times a second.
	Update(Stats)
	// Done is called once at the end.
	Done(Stats)
}

// Bar is a one-line progress bar for a terminal, redrawn with \r.
type Bar struct {
	mu    sync.Mutex
	out   io.Writer
	width int
}

// NewBar returns a Bar writing to out (a terminal).
func NewBar(out io.Writer) *Bar { return &Bar{out: out, width: 24} }

// Update implements Progress.
func (b *Bar) Update(s Stats) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.out, "\r%s\x1b[K", b.line(s))
}

// Done implements Progress.
func (b *Bar) Done(s Stats) {
	b.Update(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintln(b.out)
}

func (b *Bar) line(s Stats) string {
	var sb strings.Builder
	if s.Total > 0 {
		filled := int(float64(b.width) * float64(min(s.Read, s.Total)) / float64(s.Total))
		fmt.Fprintf(&sb, "[%s%s] %3.0f%% ", strings.Repeat("=", filled), strings.Repeat(" ", b.width-filled), 100*float64(min(s.Read, s.Total))/float64(s.Total))
		fmt.Fprintf(&sb, "read %d/%d", s.Read, s.Total)
	} else {
		fmt.Fprintf(&sb, "read %d", s.Read)
	}
	fmt.Fprintf(&sb, "  published %d  skipped %d", s.Published, s.Filtered+s.Stale+s.Resumed)
	if s.Failed > 0 {
		fmt.Fprintf(&sb, "  failed %d", s.Failed)
	}
	fmt.Fprintf(&sb, "  %.0f jobs/s", s.Rate())
	if eta, ok := s.ETA(); ok {
		fmt.Fprintf(&sb, "  ETA %s", eta.Round(time.Second))
	}
	return sb.String()
}

// LogProgress logs progress as structured lines, at most once per
// interval.
type LogProgress struct {
	log      zerolog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     time.Duration
}

// NewLogProgress returns a LogProgress; interval defaults to 5s.
func NewLogProgress(log zerolog.Logger, interval time.Duration) *LogProgress {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &LogProgress{log: log, interval: interval}
}

// Update implements Progress.
func (l *LogProgress) Update(s Stats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Elapsed-l.last < l.interval {
		return
	}
	l.last = s.Elapsed
	l.event(l.log.Info(), s).Msg("backfill progress")
}

// Done implements Progress.
func (l *LogProgress) Done(s Stats) {
	l.event(l.log.Info(), s).Msg("backfill finished")
}

func (l *LogProgress) event(e *zerolog.Event, s Stats) *zerolog.Event {
	e = e.Int64("read", s.Read).Int64("published", s.Published).Int64("messages", s.Messages).
		Int64("skipped_filtered", s.Filtered).Int64("skipped_stale", s.Stale).Int64("skipped_resumed", s.Resumed).
		Int64("failed", s.Failed).Float64("jobs_per_s", s.Rate())
	if s.Total >= 0 {
		e = e.Int64("total", s.Total)
	}
	if eta, ok := s.ETA(); ok {
		e = e.Dur("eta", eta)
	}
	return e
}

// WriteSummary prints a summary table.
func WriteSummary(w io.Writer, s Summary) {
	verb := "published"
	if s.DryRun {
		verb = "would publish"
	}
	fmt.Fprintf(w, "backfill run %s", s.RunID)
	if s.Interrupted {
		fmt.Fprint(w, " (interrupted)")
	}
	fmt.Fprintln(w)
	rows := []struct {
		k string
		v int64
	}{
		{"read", s.Read},
		{verb + " (jobs)", s.Published},
		{verb + " (messages)", s.Messages},
		{"skipped (filtered)", s.Filtered},
		{"skipped (already scored, stale-version)", s.Stale},
		{"skipped (confirmed in an earlier attempt)", s.Resumed},
		{"failed", s.Failed},
		{"checkpoint position", s.Confirmed},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-42s %d\n", r.k, r.v)
	}
	fmt.Fprintf(w, "  %-42s %s\n", "elapsed", s.Elapsed.Round(time.Millisecond))
}
