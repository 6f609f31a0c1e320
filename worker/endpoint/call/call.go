// Package call runs batches through an endpoint.Client: the one place where
// a model's requests are retried (worker/retry, with the model's breaker),
// split when the server says a batch is too large, and bisected when a bad
// request may be caused by one text, so that only that text fails.
//
// The worker and the shared adapter suite both use it, so every protocol
// adapter is proven against the same error semantics the worker applies.
package call

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// Outcome is one text's answer.
type Outcome struct {
	Scores  []float64
	Version string
	Err     error
}

// Runner calls one model. It is safe for concurrent use.
type Runner struct {
	Client  endpoint.Client
	Policy  retry.Policy
	Breaker *retry.Breaker // may be nil
	Sizer   *Sizer         // may be nil: no learning, no splitting beyond 413 halves
	// Observe, if set, sees every request: its size, time and error.
	Observe func(n int, d time.Duration, err error)
	// Notify, if set, is called before each retry wait.
	Notify func(err error, wait time.Duration)
	// Cooldown spaces Start attempts after one failed (default 5s).
	Cooldown time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	started   bool
	info      endpoint.Info
	startErr  error
	startedAt time.Time
	rejected  int // texts refused one by one in a row, with no success between
}

// Refusals in a row, each of a single text, after which the model counts
// as misconfigured: when a server refuses every text alone, the request
// form is wrong, and dead-lettering every job as invalid would empty the
// queue into the dead-letter topic.
const maxRefusedInARow = 3

// Start runs the client's Start, if it has one, unless it succeeded
// already or failed less than Cooldown ago (then its error is returned).
func (r *Runner) Start(ctx context.Context) error {
	s, ok := r.Client.(endpoint.Starter)
	if !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	now := r.now()
	if r.startErr != nil && now.Sub(r.startedAt) < r.cooldown() {
		return r.startErr
	}
	info, err := s.Start(ctx)
	r.startedAt = now
	if err != nil {
		if errkind.KindOf(err) != errkind.Canceled {
			r.Breaker.Record(err)
		}
		r.startErr = err
		return err
	}
	r.started, r.info, r.startErr = true, info, nil
	if r.Sizer != nil && info.MaxBatch > 0 {
		r.Sizer.SetServerMax(info.MaxBatch)
	}
	return nil
}

// Info is what Start learned (zero before it succeeded).
func (r *Runner) Info() endpoint.Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) cooldown() time.Duration {
	if r.Cooldown > 0 {
		return r.Cooldown
	}
	return 5 * time.Second
}

// Predict scores texts into out (len(out) == len(texts)). Every outcome
// ends with scores or an error; errors are classified (errkind):
// InvalidInput for a text the server refused on its own, Misconfigured
// when no text can be scored until the config or server changes, else the
// last request's error. It returns the time spent in requests.
func (r *Runner) Predict(ctx context.Context, texts []string, out []Outcome) time.Duration {
	if len(out) != len(texts) {
		panic(fmt.Sprintf("call: %d outcomes for %d texts", len(out), len(texts)))
	}
	if len(texts) == 0 {
		return 0
	}
	if err := r.Start(ctx); err != nil {
		fill(out, err)
		return 0
	}
	var spent time.Duration
	r.predict(ctx, texts, out, &spent)
	return spent
}

func (r *Runner) predict(ctx context.Context, texts []string, out []Outcome, spent *time.Duration) {
	if lim := r.Sizer.Limit(); lim > 0 && len(texts) > lim {
		for i := 0; i < len(texts); i += lim {
			j := min(i+lim, len(texts))
			r.predict(ctx, texts[i:j], out[i:j], spent)
		}
		return
	}
	var res *endpoint.Result
	// bounded counts the errors that carry their own bound on tries
	// (endpoint.TriesError); capped is the one that spent it, handed back
	// as it was once retry.Do has stopped on it.
	var bounded int
	var capped error
	err := retry.Do(ctx, r.Policy, r.Breaker, func(ctx context.Context) error {
		start := time.Now()
		var err error
		res, err = r.Client.Predict(ctx, texts)
		if err == nil && (res == nil || len(res.Scores) != len(texts)) {
			n := 0
			if res != nil {
				n = len(res.Scores)
			}
			err = errkind.Errorf(errkind.Retryable, endpoint.ReasonBadResponse, "%d predictions for %d instances", n, len(texts))
		}
		d := time.Since(start)
		*spent += d
		if r.Observe != nil {
			r.Observe(len(texts), d, err)
		}
		if limit, ok := endpoint.MaxTries(err); ok && errkind.IsRetryable(err) {
			if bounded++; bounded >= limit {
				capped = err
				return errkind.New(errkind.Permanent, errkind.ReasonOf(err), err)
			}
		}
		return err
	}, r.Notify)
	if capped != nil && err != nil {
		// Still retryable for the job: a later delivery, in another
		// batch, may be answered well.
		err = capped
	}
	if err == nil {
		r.Sizer.ok(len(texts))
		r.mu.Lock()
		r.rejected = 0
		version := r.info.Version
		r.mu.Unlock()
		if res.Version != "" {
			version = res.Version
		}
		for i := range out {
			out[i] = Outcome{Scores: res.Scores[i], Version: version}
		}
		return
	}
	switch reason := errkind.ReasonOf(err); {
	case reason == endpoint.ReasonBatchTooLarge && len(texts) > 1:
		hint, _ := endpoint.BatchLimit(err)
		r.Sizer.tooLarge(len(texts), hint)
		h := len(texts) / 2
		if lim := r.Sizer.Limit(); lim > 0 && lim < len(texts) {
			h = lim
		}
		r.predict(ctx, texts[:h], out[:h], spent)
		r.predict(ctx, texts[h:], out[h:], spent)
	case (reason == endpoint.ReasonBatchTooLarge || reason == endpoint.ReasonBadRequest) && errkind.KindOf(err) == errkind.Permanent:
		if len(texts) == 1 {
			out[0] = Outcome{Err: r.refused(err)}
			return
		}
		h := len(texts) / 2
		r.predict(ctx, texts[:h], out[:h], spent)
		r.predict(ctx, texts[h:], out[h:], spent)
		for i := range out {
			if errkind.KindOf(out[i].Err) != errkind.InvalidInput {
				return
			}
		}
		// The server refused every text of this batch one by one: that
		// says more about the request form than about the texts.
		fill(out, r.misconfigured(len(texts), err))
	default:
		fill(out, err)
	}
}

// refused classifies one text the server refused: invalid input, unless
// the texts before it were all refused too.
func (r *Runner) refused(err error) error {
	r.mu.Lock()
	r.rejected++
	n := r.rejected
	r.mu.Unlock()
	if n >= maxRefusedInARow {
		return r.misconfigured(n, err)
	}
	return errkind.New(errkind.InvalidInput, endpoint.ReasonInvalidInput, fmt.Errorf("the model refused this text: %w", err))
}

func (r *Runner) misconfigured(n int, cause error) error {
	err := errkind.New(errkind.Misconfigured, endpoint.ReasonIncompatible,
		fmt.Errorf("the server refused %d texts in a row, each on its own (last: %w); check the model's request form (input name, datatype, instance form)", n, cause))
	r.Breaker.Record(err)
	return err
}

func fill(out []Outcome, err error) {
	for i := range out {
		out[i] = Outcome{Err: err}
	}
}
