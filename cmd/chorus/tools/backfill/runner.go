package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/retry"
)

// Options configures Run.
type Options struct {
	// RunID goes on every message as the run_id attribute.
	RunID  string
	Reader Reader
	// Identity is checked against Resume and saved in the checkpoint.
	Identity Identity
	Filter   Filter
	// Stale and StaleVersion skip jobs already scored by that version.
	Stale        StaleChecker
	StaleVersion string
	// Publisher is required unless DryRun.
	Publisher sources.Publisher
	// JobsPerMessage defaults to DefaultJobsPerMessage.
	JobsPerMessage int
	// Rate is jobs per second; 0 means unlimited. At most
	// limiterBurst(Rate, JobsPerMessage) jobs go out at once, at the start
	// or after a pause: a tenth of a second's worth, or one message if
	// that is more (see burstWindow).
	Rate float64
	// Pipeline, if set, is the pipeline attribute (force a pipeline).
	Pipeline string
	// DryRun publishes nothing and writes no checkpoint; Sample receives a
	// few of the jobs that would be published.
	DryRun bool
	Sample io.Writer
	// CheckpointDir holds the checkpoint; empty disables it.
	CheckpointDir string
	// Resume is the checkpoint of an earlier attempt of this run.
	Resume *Checkpoint
	// CheckpointEvery is the checkpoint interval; default 1s.
	CheckpointEvery time.Duration
	// InFlight is how many Publish calls run at once; default 4.
	InFlight int
	// Progress, if set, is updated about five times a second.
	Progress Progress
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Summary is what a run did, this attempt and before it.
type Summary struct {
	RunID       string
	Read        int64 // input records read in this attempt, including Resumed
	Total       int64
	Published   int64 // jobs confirmed published in this attempt
	Messages    int64
	Filtered    int64
	Stale       int64
	Resumed     int64 // records skipped as confirmed by an earlier attempt
	Failed      int64
	Confirmed   int64 // the checkpoint position at the end
	Elapsed     time.Duration
	Interrupted bool
	DryRun      bool
}

// sampleSize is how many jobs a dry run prints.
const sampleSize = 3

type unit struct {
	seq    int64
	hi     int64
	body   []byte
	counts Counts
}

// runState is the live counters.
type runState struct {
	read, published, messages, filtered, stale, resumed, failed atomic.Int64
}

// Run reads, filters, packs and publishes. When ctx ends it stops reading,
// waits for in-flight publishes, saves the checkpoint and returns an
// error wrapping context.Canceled with the summary.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	start := o.Now()
	if o.JobsPerMessage == 0 {
		o.JobsPerMessage = DefaultJobsPerMessage
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = time.Second
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if err := ValidRunID(o.RunID); err != nil {
		return Summary{}, err
	}
	if !o.DryRun && o.Publisher == nil {
		return Summary{}, errkind.Errorf(errkind.Permanent, ReasonBadConfig, "backfill: no publisher")
	}
	attrs := map[string]string{job.AttrRunID: o.RunID}
	if o.Pipeline != "" {
		attrs[job.AttrPipeline] = o.Pipeline
	}
	maxBytes := 10_000_000
	if o.Publisher != nil {
		maxBytes = o.Publisher.MaxMessageBytes()
	}
	packer, err := NewPacker(o.JobsPerMessage, maxBytes-AttributesSize(attrs))
	if err != nil {
		return Summary{}, err
	}

	cp := &Checkpoint{RunID: o.RunID, Identity: o.Identity, Total: o.Reader.Total(), StartedAt: start}
	if o.Resume != nil {
		if err := o.Resume.CheckResume(o.Identity); err != nil {
			return Summary{}, err
		}
		cp.Confirmed, cp.Counts, cp.StartedAt = o.Resume.Confirmed, o.Resume.Counts, o.Resume.StartedAt
	}
	wm := NewWatermark(cp.Confirmed, cp.Counts)
	var st runState

	saveCheckpoint := func(done bool) error {
		if o.DryRun || o.CheckpointDir == "" {
			return nil
		}
		pos, counts := wm.Position()
		c := *cp
		c.Confirmed, c.Counts, c.Done, c.UpdatedAt = pos, counts, done, o.Now().UTC()
		c.Total = o.Reader.Total()
		return c.Save(o.CheckpointDir)
	}
	if err := saveCheckpoint(false); err != nil {
		return Summary{}, err
	}

	// Publishing continues after ctx ends, so in-flight messages are
	// confirmed before the checkpoint is written; failing publishes stop
	// the reading through stopRead.
	pubCtx, pubCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pubCancel()
	readCtx, stopRead := context.WithCancelCause(ctx)
	defer stopRead(nil)

	work := make(chan unit, o.InFlight*2)
	var wg sync.WaitGroup
	for range o.InFlight {
		wg.Go(func() { publishLoop(pubCtx, o, attrs, work, wm, &st, stopRead) })
	}

	// Checkpoints and progress while running.
	tickDone := make(chan struct{})
	var tickWG sync.WaitGroup
	tickWG.Go(func() {
		cpTick := time.NewTicker(o.CheckpointEvery)
		defer cpTick.Stop()
		prTick := time.NewTicker(200 * time.Millisecond)
		defer prTick.Stop()
		last := int64(-1)
		for {
			select {
			case <-tickDone:
				return
			case <-cpTick.C:
				if pos, _ := wm.Position(); pos != last {
					if err := saveCheckpoint(false); err == nil {
						last = pos
					}
				}
			case <-prTick.C:
				if o.Progress != nil {
					o.Progress.Update(snapshot(&st, o.Reader.Total(), o.Now().Sub(start)))
				}
			}
		}
	})

	readErr := produce(readCtx, o, packer, cp.Confirmed, work, wm, &st)
	close(work)
	wg.Wait()
	close(tickDone)
	tickWG.Wait()

	pos, _ := wm.Position()
	complete := readErr == nil && wm.Pending() == 0 && st.failed.Load() == 0
	cpErr := saveCheckpoint(complete)
	s := snapshot(&st, o.Reader.Total(), o.Now().Sub(start))
	sum := Summary{
		RunID: o.RunID, Read: s.Read, Total: s.Total, Published: s.Published, Messages: s.Messages,
		Filtered: s.Filtered, Stale: s.Stale, Resumed: s.Resumed, Failed: s.Failed,
		Confirmed: pos, Elapsed: s.Elapsed, DryRun: o.DryRun,
	}
	if o.Progress != nil {
		o.Progress.Done(s)
	}
	if cause := context.Cause(readCtx); readErr != nil && errors.Is(readErr, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled) {
		readErr = cause // a publish failure stopped the reading
	}
	switch {
	case readErr != nil && ctx.Err() != nil:
		sum.Interrupted = true
		return sum, errors.Join(errkind.New(errkind.Canceled, ReasonInterrupted, fmt.Errorf("backfill: interrupted: %w", context.Canceled)), cpErr)
	case readErr != nil:
		return sum, errors.Join(readErr, cpErr)
	case st.failed.Load() > 0:
		return sum, errors.Join(errkind.Errorf(errkind.Permanent, ReasonFailed, "backfill: %d jobs failed", st.failed.Load()), cpErr)
	}
	return sum, cpErr
}

// burstWindow is how much of --rate the limiter lets out at once: its
// token bucket holds a tenth of a second's worth of jobs.
//
// The bucket starts full and refills while the run is held up (a slow
// stale-version query, a slow publish), so its size is the spike a
// backfill puts on the topic at the start and after every stall. A
// second's worth would publish --rate 5000's first 5000 jobs in an
// instant: the flood the operator chose a rate to avoid, hitting the
// worker's autoscaler and the model endpoint's quota at once. A tenth of
// a second keeps every one-second window within 1.1 × the rate (when a
// message is smaller than that; see limiterBurst).
//
// The bucket is not made smaller still, because tokens beyond it are lost:
// the producer waits on a timer before each message, and a timer that
// oversleeps by a millisecond on a loaded node (at 20,000 jobs/s, a
// 10-job message is due every 0.5 ms) would cost throughput with a
// one-message bucket; 100 ms absorbs that jitter.
const burstWindow = 100 * time.Millisecond

// limiterBurst is the limiter's bucket size for rate jobs per second:
// burstWindow's worth, at least one message of jobsPerMessage jobs. The
// limiter is charged a whole message at a time (WaitN refuses more than
// the bucket holds, and a message cannot be split), so at low rates one
// message is the burst: --rate 10 with 100 jobs per message sends a
// message every 10 s.
func limiterBurst(r float64, jobsPerMessage int) int {
	b := math.Ceil(r * burstWindow.Seconds())
	if b >= math.MaxInt32 {
		return math.MaxInt32
	}
	return max(int(b), jobsPerMessage, 1)
}

// produce reads the input, filters, packs and queues units. It returns nil
// at the end of the input.
func produce(ctx context.Context, o Options, p *Packer, skip int64, work chan<- unit, wm *Watermark, st *runState) error {
	var limiter *rate.Limiter
	if o.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.Rate), limiterBurst(o.Rate, o.JobsPerMessage))
	}
	var (
		pos     int64 // records read
		seq     int64
		counts  Counts // of records since the last unit
		batch   []item
		sampled int
	)
	emit := func(body []byte, jobs int, hi int64) error {
		u := unit{seq: seq, hi: hi, body: body, counts: counts}
		seq++
		counts = Counts{}
		if body == nil {
			wm.Confirm(u.seq, u.hi, u.counts)
			return nil
		}
		u.counts.Published, u.counts.Messages = int64(jobs), 1
		if limiter != nil {
			if err := limiter.WaitN(ctx, jobs); err != nil {
				return err
			}
		}
		if o.DryRun {
			st.published.Add(int64(jobs))
			st.messages.Add(1)
			wm.Confirm(u.seq, u.hi, u.counts)
			return nil
		}
		select {
		case work <- u:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	flushBatch := func() error {
		if len(batch) == 0 {
			return nil
		}
		scored := map[Key]bool{}
		if o.Stale != nil && o.StaleVersion != "" {
			var keys []Key
			for _, it := range batch {
				if !it.filtered {
					keys = append(keys, Key{Tenant: it.job.Tenant, ResponseID: it.job.ResponseID})
				}
			}
			if len(keys) > 0 {
				var err error
				if scored, err = o.Stale.Scored(ctx, o.StaleVersion, keys); err != nil {
					return err
				}
			}
		}
		for _, it := range batch {
			switch {
			case it.filtered:
				counts.Filtered++
				st.filtered.Add(1)
				continue
			case scored[Key{Tenant: it.job.Tenant, ResponseID: it.job.ResponseID}]:
				counts.Stale++
				st.stale.Add(1)
				continue
			}
			enc, err := json.Marshal(&it.job)
			if err != nil {
				return errkind.New(errkind.InvalidInput, ReasonBadJob, fmt.Errorf("backfill: encoding job: %w", err))
			}
			if !p.Fits(len(enc)) {
				counts.Failed++
				st.failed.Add(1)
				continue
			}
			// The message Add completes covers the records before this one.
			prevHi := it.pos - 1
			full, jobs, err := p.Add(enc)
			if err != nil {
				return err
			}
			if full != nil {
				if err := emit(full, jobs, prevHi); err != nil {
					return err
				}
			}
			if o.DryRun && o.Sample != nil && sampled < sampleSize {
				sampled++
				fmt.Fprintf(o.Sample, "%s\n", enc)
			}
		}
		batch = batch[:0]
		return nil
	}

	for {
		j, err := o.Reader.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pos++
		st.read.Add(1)
		if pos <= skip {
			st.resumed.Add(1)
			continue
		}
		batch = append(batch, item{pos: pos, job: j, filtered: !o.Filter.Match(&j)})
		if len(batch) == staleBatch {
			if err := flushBatch(); err != nil {
				return err
			}
		}
	}
	if err := flushBatch(); err != nil {
		return err
	}
	body, jobs := p.Flush()
	if body != nil || counts != (Counts{}) || pos > skip {
		return emit(body, jobs, max(pos, skip))
	}
	return nil
}

type item struct {
	pos      int64
	job      job.Job
	filtered bool
}

// maxPublishGroup is how many messages one Publish call carries.
const maxPublishGroup = 10

// publishLoop publishes units, several per call, retrying retryable
// failures; a unit that still fails stops the reading.
func publishLoop(ctx context.Context, o Options, attrs map[string]string, work <-chan unit, wm *Watermark, st *runState, stop context.CancelCauseFunc) {
	for u := range work {
		group := []unit{u}
	gather:
		for len(group) < maxPublishGroup {
			select {
			case v, ok := <-work:
				if !ok {
					break gather
				}
				group = append(group, v)
			default:
				break gather
			}
		}
		errs := publishGroup(ctx, o.Publisher, publishPolicy, attrs, group)
		for i, u := range group {
			if errs[i] != nil {
				st.failed.Add(u.counts.Published)
				stop(fmt.Errorf("backfill: publishing a message of %d jobs: %w", u.counts.Published, errs[i]))
				continue
			}
			wm.Confirm(u.seq, u.hi, u.counts)
			st.published.Add(u.counts.Published)
			st.messages.Add(1)
		}
	}
}

// publishPolicy paces the tries of one message.
var publishPolicy = retry.Policy{MaxAttempts: 6, Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// publishGroup publishes units' messages, retrying those not confirmed
// while the error is retryable. errs[i] is unit i's final error: nil once
// a retry confirmed it.
func publishGroup(ctx context.Context, pub sources.Publisher, policy retry.Policy, attrs map[string]string, group []unit) []error {
	errs := make([]error, len(group))
	todo := make([]int, len(group))
	for i := range group {
		todo[i] = i
	}
	_ = retry.Do(ctx, policy, nil, func(ctx context.Context) error {
		msgs := make([]sources.OutMessage, len(todo))
		for k, i := range todo {
			msgs[k] = sources.OutMessage{Body: group[i].body, Attributes: attrs}
		}
		ids, err := pub.Publish(ctx, msgs)
		var again []int
		for k, i := range todo {
			if err == nil || k < len(ids) && ids[k] != "" {
				errs[i] = nil
				continue
			}
			errs[i] = err
			again = append(again, i)
		}
		todo = again
		if len(again) == 0 {
			return nil
		}
		return err
	}, nil)
	return errs
}
