package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/metrics"
)

// The isolation scenarios share one capacity-modelled endpoint shape: each
// model holds one of C = 4 slots for 20 ms + 250 µs per item, batches of
// at most 64 (the capacity run's endpoint, about 7,100 items/s per model).
var isoServer = modelserver.Options{BatchCost: 20 * time.Millisecond, ItemCost: 250 * time.Microsecond, MaxConcurrent: 4, MaxBatch: 64}

// load is one tenant's traffic in an isolation run.
type load struct {
	tenant   string
	backfill bool          // publish to the backfill source
	jobs     int           // jobs per message
	every    time.Duration // open loop: one message every every
	window   int           // closed loop: messages published and not yet committed
	backlog  int           // messages published before the run starts
}

// tenantFigures is what one tenant got in a run.
type tenantFigures struct {
	P50, P99 time.Duration // publish → commit of jobs published in the window
	Rate     float64       // jobs committed per second in the window
	Jobs     int           // jobs committed in the window
}

// isoRun is one run's figures.
type isoRun struct {
	Tenants  map[string]*tenantFigures
	Deferred float64 // messages deferred
	Wall     time.Duration
}

// tracker matches commits to publishes.
type tracker struct {
	mu        sync.Mutex
	published map[string]time.Time // response_id → publish time
	remaining map[string]int       // message key → jobs not yet committed
	tenantOf  map[string]string    // message key → tenant
	from, to  time.Time            // the measuring window
	lat       map[string][]time.Duration
	count     map[string]int
	done      chan string // message keys fully committed (closed-loop loads)
	total     int
}

func newTracker() *tracker {
	return &tracker{
		published: map[string]time.Time{}, remaining: map[string]int{}, tenantOf: map[string]string{},
		lat: map[string][]time.Duration{}, count: map[string]int{}, done: make(chan string, 1<<16),
	}
}

// message builds message seq of l, recording its publish time.
func (tr *tracker) message(l load, seq int, at time.Time) memsource.Message {
	key := fmt.Sprintf("%s-%d", l.tenant, seq)
	var b strings.Builder
	b.WriteByte('[')
	tr.mu.Lock()
	for j := range l.jobs {
		if j > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("%s-%d", key, j)
		fmt.Fprintf(&b, `{"response_id":%q,"tenant":%q,"text":%q}`, id, l.tenant, benchTexts[(seq+j)%len(benchTexts)])
		tr.published[id] = at
	}
	tr.remaining[key] = l.jobs
	tr.tenantOf[key] = l.tenant
	tr.mu.Unlock()
	b.WriteByte(']')
	return memsource.Message{Body: []byte(b.String())}
}

func (tr *tracker) onWrite(rows []sinks.Result) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range rows {
		at, ok := tr.published[r.ResponseID]
		if !ok {
			continue // a redelivery committed again
		}
		delete(tr.published, r.ResponseID)
		tr.total++
		if !now.Before(tr.from) && now.Before(tr.to) {
			tr.count[r.Tenant]++
			if !at.Before(tr.from) {
				tr.lat[r.Tenant] = append(tr.lat[r.Tenant], now.Sub(at))
			}
		}
		key := r.ResponseID[:strings.LastIndexByte(r.ResponseID, '-')]
		if tr.remaining[key]--; tr.remaining[key] == 0 {
			delete(tr.remaining, key)
			select {
			case tr.done <- key:
			default:
			}
		}
	}
}

// isoSpec is one isolation run.
type isoSpec struct {
	config  string // models, pipelines, tenants and worker settings
	loads   []load
	warmup  time.Duration
	measure time.Duration
	// untilDrained runs until every backlog message is committed instead of
	// for measure (the window then ends at the last commit).
	untilDrained bool
	faults       map[string]modelserver.Fault
}

// runIsolation runs spec against a capacity-modelled endpoint.
func runIsolation(ctx context.Context, spec isoSpec) (*isoRun, error) {
	var models []refmodel.Model
	for _, name := range []string{"sentiment", "topics", "acme-custom"} {
		models = append(models, constModel{name})
	}
	srv, addr, stop, err := serve(ctx, models, isoServer)
	if err != nil {
		return nil, err
	}
	defer stop()
	for name, f := range spec.faults {
		if err := srv.SetFault(name, f); err != nil {
			return nil, err
		}
	}
	cfg, err := parseConfig(memWorker + strings.ReplaceAll(spec.config, "ADDR", addr))
	if err != nil {
		return nil, err
	}
	clients, err := wiring.Clients(cfg, nil, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	fc := sources.FlowControl{MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages, MaxOutstandingBytes: cfg.Worker.MaxOutstandingBytes}
	live, back := memsource.NewTopic(memsource.TopicOptions{}), memsource.NewTopic(memsource.TopicOptions{})
	topicOf := func(l load) *memsource.Topic {
		if l.backfill {
			return back
		}
		return live
	}
	tr := newTracker()
	start := time.Now()
	tr.from, tr.to = start.Add(spec.warmup), start.Add(spec.warmup+spec.measure)
	if spec.untilDrained {
		tr.to = start.Add(time.Hour)
	}
	backlog := 0
	seqs := map[string]int{}
	for _, l := range spec.loads {
		for range l.backlog {
			if err := topicOf(l).Publish(ctx, tr.message(l, seqs[l.tenant], start)); err != nil {
				return nil, err
			}
			seqs[l.tenant]++
			backlog++
		}
	}
	m := metrics.New(nil)
	w, err := worker.New(worker.Options{
		Config: cfg, Source: memsource.NewSource(live, fc), Backfill: memsource.NewSource(back, fc),
		Sink: &countingSink{onWrite: tr.onWrite}, Clients: clients, Logger: zerolog.Nop(), Metrics: m,
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(runCtx) }()

	pubCtx, stopPub := context.WithCancel(ctx)
	var pubs sync.WaitGroup
	pubErr := make(chan error, len(spec.loads))
	closed := map[string]chan struct{}{} // tenant → its commits, closed-loop loads
	for _, l := range spec.loads {
		if l.every == 0 && l.window == 0 {
			continue
		}
		var commits chan struct{}
		if l.window > 0 {
			commits = make(chan struct{}, 1<<16)
			closed[l.tenant] = commits
		}
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			publish := func() bool {
				tr.mu.Lock()
				seq := seqs[l.tenant]
				seqs[l.tenant]++
				tr.mu.Unlock()
				if err := topicOf(l).Publish(pubCtx, tr.message(l, seq, time.Now())); err != nil {
					if pubCtx.Err() == nil {
						pubErr <- err
					}
					return false
				}
				return true
			}
			if l.window > 0 {
				for range l.window {
					if !publish() {
						return
					}
				}
				publishOnEach(pubCtx, commits, publish)
				return
			}
			t := time.NewTicker(l.every)
			defer t.Stop()
			publishOnEach(pubCtx, t.C, publish)
		}()
	}
	// Route closed-loop completions to their tenant's publisher.
	go func() {
		for {
			select {
			case <-pubCtx.Done():
				return
			case key := <-tr.done:
				tr.mu.Lock()
				t := tr.tenantOf[key]
				delete(tr.tenantOf, key)
				tr.mu.Unlock()
				if c, ok := closed[t]; ok {
					c <- struct{}{}
				}
			}
		}
	}()
	end := start.Add(spec.warmup + spec.measure)
	for {
		now := time.Now()
		if spec.untilDrained {
			tr.mu.Lock()
			left := 0
			for key := range tr.remaining {
				if isBacklog(spec, key) {
					left++
				}
			}
			tr.mu.Unlock()
			if left == 0 {
				tr.mu.Lock()
				tr.to = now
				tr.mu.Unlock()
				break
			}
		} else if !now.Before(end) {
			break
		}
		select {
		case err := <-errc:
			stopPub()
			return nil, fmt.Errorf("worker stopped early: %v", err)
		case err := <-pubErr:
			stopPub()
			return nil, err
		case <-ctx.Done():
			stopPub()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	stopPub()
	pubs.Wait()
	wall := time.Since(start)
	cancel()
	if err := <-errc; err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	window := tr.to.Sub(tr.from).Seconds()
	r := &isoRun{Tenants: map[string]*tenantFigures{}, Wall: wall}
	for _, l := range spec.loads {
		if _, ok := r.Tenants[l.tenant]; ok {
			continue
		}
		r.Tenants[l.tenant] = &tenantFigures{
			P50: percentile(tr.lat[l.tenant], 0.5), P99: percentile(tr.lat[l.tenant], 0.99),
			Rate: float64(tr.count[l.tenant]) / window, Jobs: tr.count[l.tenant],
		}
	}
	for _, name := range []string{"sentiment", "topics", "acme-custom"} {
		r.Deferred += testutil.ToFloat64(m.MessagesDeferred.WithLabelValues(name))
	}
	return r, nil
}

// publishOnEach publishes once per receive from next, the closed loop's
// commits or the open loop's ticks, until ctx ends or publish fails.
func publishOnEach[T any](ctx context.Context, next <-chan T, publish func() bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-next:
			if !publish() {
				return
			}
		}
	}
}

// isBacklog reports whether a message key belongs to a load with a
// backlog (the ones untilDrained waits for).
func isBacklog(spec isoSpec, key string) bool {
	for _, l := range spec.loads {
		if l.backlog > 0 && strings.HasPrefix(key, l.tenant+"-") {
			return true
		}
	}
	return false
}

// sharedModels are the two models (sentiment, topics) every isolation
// run's pipeline p uses; pipelineP is p up to its topics models.
const (
	sharedModels = `
models:
  - {name: sentiment, protocol: open-inference, url: "http://ADDR", labels: [negative, positive], batch: {max_items: 64}, max_in_flight: 4}
  - {name: topics, protocol: open-inference, url: "http://ADDR", labels: [negative, positive], batch: {max_items: 64}, max_in_flight: 4}
`
	pipelineP = `pipelines:
  - name: p
    version: "1"
    sentiment: {models: [{model: sentiment}]}
`
)

// sharedConfig is the two shared models for every tenant.
const sharedConfig = sharedModels + pipelineP + `    topics: {models: [{model: topics}]}
tenants: [{name: "*", pipeline: p}]
`

// FairnessResult is tenant B's trickle against tenant A's flood.
type FairnessResult struct {
	Warmup, Measure time.Duration
	AJobs, AWindow  int
	BEvery          time.Duration
	BAlone, AAlone  *tenantFigures
	B, A            *tenantFigures // together
}

// Fairness: tenant A floods (100-job messages, a new one published as
// each is committed, 50 outstanding: as fast as the endpoint takes them),
// tenant B sends one job every 50 ms on the same source, both through the
// same two shared models.
func Fairness(ctx context.Context, o Options) (*FairnessResult, error) {
	o.defaults()
	a := load{tenant: "tenant-a", jobs: 100, window: 50}
	b := load{tenant: "tenant-b", jobs: 1, every: 50 * time.Millisecond}
	run := func(loads ...load) (*isoRun, error) {
		return runIsolation(ctx, isoSpec{config: sharedConfig, loads: loads, warmup: o.IsoWarmup, measure: o.IsoMeasure})
	}
	r := &FairnessResult{Warmup: o.IsoWarmup, Measure: o.IsoMeasure, AJobs: a.jobs, AWindow: a.window, BEvery: b.every}
	ra, err := run(a)
	if err != nil {
		return nil, err
	}
	rb, err := run(b)
	if err != nil {
		return nil, err
	}
	rab, err := run(a, b)
	if err != nil {
		return nil, err
	}
	r.AAlone, r.BAlone = ra.Tenants[a.tenant], rb.Tenants[b.tenant]
	r.A, r.B = rab.Tenants[a.tenant], rab.Tenants[b.tenant]
	return r, nil
}

// LanesResult is live feedback against a backfill backlog.
type LanesResult struct {
	BacklogJobs   int
	LiveEvery     time.Duration
	MinShare      float64
	LiveAlone     *tenantFigures
	BackfillAlone *tenantFigures
	Live          *tenantFigures // with the backlog
	Backfill      *tenantFigures // with the live trickle
	// FloodLive and FloodBackfill share the endpoint when live traffic
	// alone would take all of it.
	FloodLive, FloodBackfill *tenantFigures
}

// Lanes: a 100,000-job backlog on the backfill source (1,000 messages of
// 100) and a live trickle (one job every 50 ms) on the live one.
func Lanes(ctx context.Context, o Options) (*LanesResult, error) {
	o.defaults()
	const share = 0.1
	cfg := fmt.Sprintf("worker: {lanes: {backfill_min_share: %v}}\n", share) + sharedConfig
	back := load{tenant: "backfill", backfill: true, jobs: 100, backlog: o.IsoBacklog}
	live := load{tenant: "live", jobs: 1, every: 50 * time.Millisecond}
	r := &LanesResult{BacklogJobs: back.jobs * back.backlog, LiveEvery: live.every, MinShare: share}
	la, err := runIsolation(ctx, isoSpec{config: cfg, loads: []load{live}, warmup: o.IsoWarmup, measure: o.IsoMeasure})
	if err != nil {
		return nil, err
	}
	ba, err := runIsolation(ctx, isoSpec{config: cfg, loads: []load{back}, untilDrained: true})
	if err != nil {
		return nil, err
	}
	both, err := runIsolation(ctx, isoSpec{config: cfg, loads: []load{back, live}, untilDrained: true})
	if err != nil {
		return nil, err
	}
	flood := load{tenant: "live", jobs: 100, window: 50}
	fl, err := runIsolation(ctx, isoSpec{config: cfg, loads: []load{{tenant: "backfill", backfill: true, jobs: 100, backlog: o.IsoBacklog}, flood}, warmup: o.IsoWarmup, measure: o.IsoMeasure})
	if err != nil {
		return nil, err
	}
	r.LiveAlone, r.BackfillAlone = la.Tenants["live"], ba.Tenants["backfill"]
	r.Live, r.Backfill = both.Tenants["live"], both.Tenants["backfill"]
	r.FloodLive, r.FloodBackfill = fl.Tenants["live"], fl.Tenants["backfill"]
	return r, nil
}

// BadModelResult is the other tenants' throughput while one model fails.
type BadModelResult struct {
	Warmup, Measure time.Duration
	Rate            float64 // each tenant's offered jobs/s
	Cases           []BadModelCase
}

// BadModelCase is one way acme's custom model misbehaves.
type BadModelCase struct {
	Name     string
	Others   float64 // globex + initech jobs committed per second
	Ratio    float64 // of the healthy run
	Acme     float64
	Deferred float64
}

// badModelConfig gives acme a custom model beside the two shared ones.
const badModelConfig = sharedModels +
	`  - {name: acme-custom, protocol: open-inference, url: "http://ADDR", labels: [negative, positive], batch: {max_items: 64}, max_in_flight: 5, tenants: [acme]}
` + pipelineP + `    topics: {models: [{model: topics}, {model: acme-custom, precedence: true}]}
tenants: [{name: acme, pipeline: p}, {name: globex, pipeline: p}, {name: initech, pipeline: p}]
`

// BadModel: three tenants each send ten-job messages at 1,000 jobs/s;
// acme's custom model (one of the three) is healthy, answers 10× slower,
// or answers 503 with Retry-After: 1.
func BadModel(ctx context.Context, o Options) (*BadModelResult, error) {
	o.defaults()
	loads := []load{
		{tenant: "acme", jobs: 10, every: 10 * time.Millisecond},
		{tenant: "globex", jobs: 10, every: 10 * time.Millisecond},
		{tenant: "initech", jobs: 10, every: 10 * time.Millisecond},
	}
	r := &BadModelResult{Warmup: o.IsoWarmup, Measure: o.IsoMeasure, Rate: 1000}
	cases := []struct {
		name  string
		fault modelserver.Fault
	}{
		{"healthy (baseline)", modelserver.Fault{}},
		{"10× slower (200 ms more per request)", modelserver.Fault{Delay: 10 * isoServer.BatchCost}},
		{"503 + Retry-After: 1", modelserver.Fault{Status: 503, RetryAfter: time.Second}},
	}
	var base float64
	for i, c := range cases {
		spec := isoSpec{config: badModelConfig, loads: loads, warmup: o.IsoWarmup, measure: o.IsoMeasure}
		if i > 0 {
			spec.faults = map[string]modelserver.Fault{"acme-custom": c.fault}
		}
		run, err := runIsolation(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		others := run.Tenants["globex"].Rate + run.Tenants["initech"].Rate
		if i == 0 {
			base = others
		}
		r.Cases = append(r.Cases, BadModelCase{Name: c.name, Others: others, Ratio: others / base, Acme: run.Tenants["acme"].Rate, Deferred: run.Deferred})
	}
	return r, nil
}

func (r *FairnessResult) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Fairness between tenants\n\nOne source, two shared models on the capacity-modelled endpoint of (b) (each 4 slots, 20 ms + 250 µs per item, batches ≤ 64). Tenant A floods: %d-job messages, %d outstanding, a new one published as each is committed (as fast as the endpoint takes them). Tenant B sends one job every %s; its messages interleave with A's at the broker. %s warm-up, %s measured; latency is publish to sink commit.\n\n", r.AJobs, r.AWindow, r.BEvery, r.Warmup, r.Measure)
	b.WriteString("| | B p50 | B p99 | A jobs/s |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| B alone | %s | %s | |\n", ms(r.BAlone.P50), ms(r.BAlone.P99))
	fmt.Fprintf(b, "| A alone | | | %.0f |\n", r.AAlone.Rate)
	fmt.Fprintf(b, "| A and B | %s | %s | %.0f |\n\n", ms(r.B.P50), ms(r.B.P99), r.A.Rate)
	p99 := float64(r.B.P99) / float64(max(r.BAlone.P99, 1))
	aRatio := r.A.Rate / r.AAlone.Rate
	fmt.Fprintf(b, "B's p99 with A flooding is **%.2f×** its p99 alone (target ≤ 2×: %s); A keeps **%.3f** of its throughput alone (target ≥ 0.95: %s). B's jobs take their turn in the next batch (deficit round robin over tenants), so what B pays is a full batch's cost instead of a batch of one, and the wait for a free slot.\n\n", p99, verdict(p99 <= 2), aRatio, verdict(aRatio >= 0.95))
}

func (r *LanesResult) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Live feedback against a backfill\n\nThe endpoint and models of the fairness run. A %d-job backlog (100-job messages) waits on the backfill source; live feedback arrives on the live source, one job every %s. worker.lanes.backfill_min_share %.2f. Runs with the backlog last until it is drained.\n\n", r.BacklogJobs, r.LiveEvery, r.MinShare)
	b.WriteString("| | live p50 | live p99 | backfill jobs/s |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| live alone | %s | %s | |\n", ms(r.LiveAlone.P50), ms(r.LiveAlone.P99))
	fmt.Fprintf(b, "| backfill alone | | | %.0f |\n", r.BackfillAlone.Rate)
	fmt.Fprintf(b, "| live and backfill | %s | %s | %.0f |\n\n", ms(r.Live.P50), ms(r.Live.P99), r.Backfill.Rate)
	p99 := float64(r.Live.P99) / float64(max(r.LiveAlone.P99, 1))
	used := r.Backfill.Rate / r.BackfillAlone.Rate
	fmt.Fprintf(b, "Live p99 beside the backlog is **%.2f×** its p99 alone (target ≤ 2×: %s). Backfill keeps **%.3f** of its rate alone while live takes %.0f jobs/s: it uses what live leaves.\n\n", p99, verdict(p99 <= 2), used, r.Live.Rate)
	share := r.FloodBackfill.Rate / (r.FloodBackfill.Rate + r.FloodLive.Rate)
	fmt.Fprintf(b, "When live traffic alone would take the whole endpoint (a live flood of 100-job messages, 50 outstanding, beside the backlog), backfill still gets **%.3f** of the jobs committed (%.0f of %.0f jobs/s; minimum share %.2f: %s).\n\n", share, r.FloodBackfill.Rate, r.FloodBackfill.Rate+r.FloodLive.Rate, r.MinShare, verdict(share >= r.MinShare*0.95))
}

func (r *BadModelResult) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## One bad model\n\nThree tenants each send ten-job messages at %.0f jobs/s through two shared models and, for acme only, a custom model (one of the three), on the capacity-modelled endpoint. Default limits (1,000 outstanding messages, breaker, retries). %s warm-up, %s measured.\n\n", r.Rate, r.Warmup, r.Measure)
	b.WriteString("| acme's custom model | globex + initech jobs/s | of baseline | acme jobs/s | acme messages deferred | target ≥ 0.95 |\n|---|---:|---:|---:|---:|---|\n")
	for _, c := range r.Cases {
		fmt.Fprintf(b, "| %s | %.0f | %.3f | %.0f | %.0f | %s |\n", c.Name, c.Others, c.Ratio, c.Acme, c.Deferred, verdict(c.Ratio >= 0.95))
	}
	b.WriteString("\nA slow or failing model holds only the jobs that need it: intake goes on for every tenant, and once the worker is half full, the messages of a tenant whose queue for a failing model is full go back to the broker with a delay (deferred) instead of taking the room other tenants need.\n\n")
}
