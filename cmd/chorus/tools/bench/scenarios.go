package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources/memsource"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/instant"
	"github.com/chorusml/chorus/worker/metrics"
)

// demoModels is the model and pipeline part of the demo config with a
// placeholder for the endpoint address.
const demoModels = `
models:
  - {name: sentiment-vader, protocol: vertex, url: "http://ADDR", labels: [negative, neutral, positive]}
  - {name: sentiment-nb, protocol: open-inference, url: "http://ADDR", labels: [negative, positive]}
  - {name: topics, protocol: open-inference, url: "http://ADDR",
     labels: [pricing, support, reliability, performance, usability, features, billing, onboarding]}
  - {name: acme-topics, protocol: tei, url: "http://ADDR/tei/acme-topics", labels: [integrations, mobile-app], tenants: [acme]}
pipelines:
  - name: default
    version: "bench"
    sentiment:
      models:
        - {model: sentiment-nb, weight: 0.55, calibration: {scale: 2.736, bias: -0.446}}
        - {model: sentiment-vader, weight: 0.45, calibration: {scale: 5.552, bias: -0.914}}
    topics:
      models: [{model: topics}, {model: acme-topics, precedence: true}]
    quorum: 2
tenants:
  - {name: acme, pipeline: default}
  - {name: globex, pipeline: default}
  - {name: initech, pipeline: default}
`

const memWorker = `
source: {type: memory}
sink: {type: file, file: {path: /dev/null}}
`

var benchTexts = []string{
	"The app is slow since the update and support never answered.",
	"Love the new dashboard, onboarding was painless.",
	"Got charged twice this month, please fix billing.",
	"The Salesforce integration keeps failing on the iPhone app.",
	"Great value for the price, but the reports page takes forever to load.",
	"It crashes every time I open a report.",
	"Setup took ten minutes and the tutorial covered everything.",
	"Please add dark mode and keyboard shortcuts.",
}

// messages builds n single-job messages over three tenants.
func messages(n int) []memsource.Message {
	tenants := []string{"acme", "globex", "initech"}
	out := make([]memsource.Message, n)
	for i := range out {
		t := tenants[i%3]
		out[i] = memsource.Message{Body: fmt.Appendf(nil,
			`{"response_id":"%s-%07d","tenant":"%s","text":%q,"score":%d,"survey_id":"nps-2026-q4","created_at":"2026-11-02T10:14:00Z","lang":"en"}`,
			t, i, t, benchTexts[i%len(benchTexts)], i%11)}
	}
	return out
}

// OverheadResult is the worker's own CPU cost per job.
type OverheadResult struct {
	Jobs        int
	Wall        time.Duration
	CPU         time.Duration
	CPUPerJob   time.Duration
	JobsPerCore float64
	JobsPerSec  float64
	PeakRSS     int64
}

// Overhead pushes jobs from the in-memory source through routing, batching,
// the ensemble and a counting sink, with endpoints that answer instantly
// in-process (3 models per job, 4 for acme).
func Overhead(ctx context.Context, o Options) (*OverheadResult, error) {
	o.defaults()
	cfg, err := parseConfig(memWorker + strings.ReplaceAll(demoModels, "ADDR", "127.0.0.1:1"))
	if err != nil {
		return nil, err
	}
	topic := memsource.NewTopic(memsource.TopicOptions{})
	if err := topic.Publish(ctx, messages(o.OverheadJobs)...); err != nil {
		return nil, err
	}
	runtime.GC()
	sink := &countingSink{}
	cpu0 := cpuTime()
	wall, err := runWorker(ctx, cfg, topic, sink, instant.Factory, o.OverheadJobs)
	if err != nil {
		return nil, err
	}
	cpu := cpuTime() - cpu0
	if sink.rows != o.OverheadJobs {
		return nil, fmt.Errorf("overhead: %d rows written, want %d", sink.rows, o.OverheadJobs)
	}
	return &OverheadResult{
		Jobs: o.OverheadJobs, Wall: wall, CPU: cpu,
		CPUPerJob:   cpu / time.Duration(o.OverheadJobs),
		JobsPerCore: float64(o.OverheadJobs) / cpu.Seconds(),
		JobsPerSec:  float64(o.OverheadJobs) / wall.Seconds(),
		PeakRSS:     maxRSS(),
	}, nil
}

// constModel is a model that costs nothing to run, so the capacity run
// measures the emulated endpoint cost alone.
type constModel struct{ name string }

func (m constModel) Name() string     { return m.name }
func (m constModel) Version() string  { return "const" }
func (m constModel) Labels() []string { return []string{"negative", "positive"} }
func (m constModel) MultiLabel() bool { return false }
func (m constModel) Predict(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i := range out {
		out[i] = []float64{0.25, 0.75}
	}
	return out
}

// CapacityResult compares achieved throughput with the endpoint's capacity.
type CapacityResult struct {
	BatchCost, ItemCost  time.Duration
	Concurrent, MaxBatch int
	Capacity             float64 // items/s at the best batch size
	Runs                 []CapacityRun
}

// CapacityRun is one worker setting against the endpoint.
type CapacityRun struct {
	MaxInFlight int
	Jobs        int
	Wall        time.Duration
	Achieved    float64 // items/s over the whole run
	Ratio       float64
	Steady      float64 // items/s between 10% and 90% of commits
	SteadyRatio float64
	MeanBatch   float64
}

type commitMark struct {
	at time.Time
	n  int
}

// steadyRate is the commit rate between the 10th and 90th percentiles.
func steadyRate(marks []commitMark, total int) float64 {
	var from, to *commitMark
	for i := range marks {
		if from == nil && marks[i].n >= total/10 {
			from = &marks[i]
		}
		if to == nil && marks[i].n >= total*9/10 {
			to = &marks[i]
		}
	}
	if from == nil || to == nil || !to.at.After(from.at) {
		return 0
	}
	return float64(to.n-from.n) / to.at.Sub(from.at).Seconds()
}

// Capacity runs a backlog through one capacity-modelled endpoint over HTTP
// (open-inference): at most C batches at once, each costing
// BatchCost + ItemCost × n, batches above MaxBatch refused.
func Capacity(ctx context.Context, o Options) (*CapacityResult, error) {
	o.defaults()
	r := &CapacityResult{BatchCost: 20 * time.Millisecond, ItemCost: 250 * time.Microsecond, Concurrent: 4, MaxBatch: 64}
	b := float64(r.MaxBatch)
	r.Capacity = float64(r.Concurrent) * b / (r.BatchCost.Seconds() + b*r.ItemCost.Seconds())
	for _, inFlight := range []int{r.Concurrent, r.Concurrent + 1} {
		srv, addr, stop, err := serve(ctx, []refmodel.Model{constModel{"gpu-model"}}, modelserver.Options{
			BatchCost: r.BatchCost, ItemCost: r.ItemCost, MaxConcurrent: r.Concurrent, MaxBatch: r.MaxBatch,
		})
		if err != nil {
			return nil, err
		}
		cfg, err := parseConfig(memWorker + fmt.Sprintf(`
worker: {max_outstanding_messages: 2000}
models:
  - name: gpu-model
    protocol: open-inference
    url: http://%s
    labels: [negative, positive]
    batch: {max_items: %d, linger: 5ms}
    max_in_flight: %d
pipelines:
  - {name: p, version: "1", sentiment: {models: [{model: gpu-model}]}}
tenants: [{name: "*", pipeline: p}]
`, addr, r.MaxBatch, inFlight))
		if err != nil {
			stop()
			return nil, err
		}
		clients, err := wiring.Clients(cfg, nil, zerolog.Nop())
		if err != nil {
			stop()
			return nil, err
		}
		topic := memsource.NewTopic(memsource.TopicOptions{})
		if err := topic.Publish(ctx, messages(o.CapacityJobs)...); err != nil {
			stop()
			return nil, err
		}
		// Steady state is timed between the 10th and 90th percentile of
		// commits, so the first batch's ramp-up and the last partial batch
		// do not count against a backlog rate.
		var marks []commitMark
		n := 0
		sink := &countingSink{onWrite: func(rows []sinks.Result) {
			n += len(rows)
			marks = append(marks, commitMark{time.Now(), n})
		}}
		wall, err := runWorker(ctx, cfg, topic, sink, clients, o.CapacityJobs)
		st := srv.Stats("gpu-model")
		stop()
		if err != nil {
			return nil, err
		}
		achieved := float64(o.CapacityJobs) / wall.Seconds()
		steady := steadyRate(marks, o.CapacityJobs)
		r.Runs = append(r.Runs, CapacityRun{
			MaxInFlight: inFlight, Jobs: o.CapacityJobs, Wall: wall, Achieved: achieved,
			Ratio: achieved / r.Capacity, Steady: steady, SteadyRatio: steady / r.Capacity,
			MeanBatch: float64(st.Items) / float64(max(st.Batches, 1)),
		})
	}
	return r, nil
}

// TrickleResult is the latency a lone job pays on top of the endpoint's.
type TrickleResult struct {
	Jobs                     int
	Every                    time.Duration
	EndToEndP50, EndToEndP99 time.Duration
	EndpointP50, EndpointP99 time.Duration
	AddedP50, AddedP99       time.Duration
	MeanBatch                float64
}

// timedClient records each request's duration: the endpoint's own latency.
type timedClient struct {
	endpoint.Client
	mu  *sync.Mutex
	log *[]time.Duration
}

func (c timedClient) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	start := time.Now()
	res, err := c.Client.Predict(ctx, texts)
	d := time.Since(start)
	c.mu.Lock()
	*c.log = append(*c.log, d)
	c.mu.Unlock()
	return res, err
}

// Trickle sends one job every Every through the real reference models
// (3 in parallel per job), each endpoint emulating a 5 ms GPU batch, and
// measures publish-to-commit latency against the endpoints' own.
func Trickle(ctx context.Context, o Options) (*TrickleResult, error) {
	o.defaults()
	models, err := refmodel.LoadAll(o.Data)
	if err != nil {
		return nil, err
	}
	srv, addr, stop, err := serve(ctx, models, modelserver.Options{BatchCost: 5 * time.Millisecond, MaxConcurrent: 4})
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg, err := parseConfig(memWorker + strings.ReplaceAll(demoModels, "ADDR", addr))
	if err != nil {
		return nil, err
	}
	base, err := wiring.Clients(cfg, nil, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var reqs []time.Duration
	clients := func(m config.Model) (endpoint.Client, error) {
		c, err := base(m)
		if err != nil {
			return nil, err
		}
		return timedClient{Client: c, mu: &mu, log: &reqs}, nil
	}
	published := make(map[string]time.Time, o.TrickleJobs)
	var e2e []time.Duration
	sink := &countingSink{onWrite: func(rows []sinks.Result) {
		now := time.Now()
		mu.Lock()
		for _, r := range rows {
			e2e = append(e2e, now.Sub(published[r.ResponseID]))
		}
		mu.Unlock()
	}}
	topic := memsource.NewTopic(memsource.TopicOptions{})
	src := messages(o.TrickleJobs)
	done := make(chan error, 1)
	go func() {
		_, err := runWorker(ctx, cfg, topic, sink, worker.ClientFactory(clients), o.TrickleJobs)
		done <- err
	}()
	tick := time.NewTicker(o.TrickleEvery)
	defer tick.Stop()
	for i, m := range src {
		<-tick.C
		id := fmt.Sprintf("%s-%07d", []string{"acme", "globex", "initech"}[i%3], i)
		mu.Lock()
		published[id] = time.Now()
		mu.Unlock()
		if err := topic.Publish(ctx, m); err != nil {
			return nil, err
		}
	}
	if err := <-done; err != nil {
		return nil, err
	}
	var batches, items int64
	for _, m := range models {
		st := srv.Stats(m.Name())
		batches += st.Batches
		items += st.Items
	}
	r := &TrickleResult{
		Jobs: o.TrickleJobs, Every: o.TrickleEvery,
		EndToEndP50: percentile(e2e, 0.5), EndToEndP99: percentile(e2e, 0.99),
		EndpointP50: percentile(reqs, 0.5), EndpointP99: percentile(reqs, 0.99),
		MeanBatch: float64(items) / float64(max(batches, 1)),
	}
	r.AddedP50 = r.EndToEndP50 - r.EndpointP50
	r.AddedP99 = r.EndToEndP99 - r.EndpointP99
	return r, nil
}

// MemoryResult is the process's peak memory over a large backlog.
type MemoryResult struct {
	Jobs    int
	Wall    time.Duration
	PeakRSS int64
	MaxHeap uint64
	// Slow is the same backlog packed 100 jobs per message with the shared
	// topic model slower than intake, so that jobs pile up in its queue as
	// far as flow control lets them.
	Slow *SlowMemory
}

// SlowMemory is the backlog run behind a slow model.
type SlowMemory struct {
	Jobs, PerMessage int
	BatchDelay       time.Duration
	Wall             time.Duration
	MaxHeap          uint64
	PeakRSS          int64 // of the process, after both runs
	MaxWaiting       int   // most jobs seen queued for the slow model
}

// slowClient answers after a fixed delay per batch.
type slowClient struct {
	endpoint.Client
	delay time.Duration
}

func (c slowClient) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	select {
	case <-time.After(c.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return c.Client.Predict(ctx, texts)
}

// Memory runs a backlog of n single-job messages through the worker with
// instant endpoints, then n/4 jobs packed 100 per message behind a slow
// model. The backlog lives in the broker: here a publisher feeds the
// in-memory topic, which holds at most 10,000 messages, as Pub/Sub or SQS
// would hold the rest. What is measured is the worker's memory, bounded by
// its flow control whatever the backlog: model queues never block intake,
// so flow control is what bounds them.
func Memory(ctx context.Context, n int) (*MemoryResult, error) {
	r := &MemoryResult{Jobs: n}
	var err error
	if r.Wall, r.MaxHeap, _, err = memoryRun(ctx, n, 1, nil); err != nil {
		return nil, err
	}
	r.PeakRSS = maxRSS()
	// A quarter of the backlog is enough to fill the slow model's queue to
	// its bound and keep it there for most of the run.
	const per = 100
	slow := &SlowMemory{Jobs: max(n/4/per, 1) * per, PerMessage: per, BatchDelay: 20 * time.Millisecond}
	factory := func(m config.Model) (endpoint.Client, error) {
		c, err := instant.Factory(m)
		if err == nil && m.Name == "topics" {
			c = slowClient{Client: c, delay: slow.BatchDelay}
		}
		return c, err
	}
	if slow.Wall, slow.MaxHeap, slow.MaxWaiting, err = memoryRun(ctx, slow.Jobs/per, per, factory); err != nil {
		return nil, err
	}
	slow.PeakRSS = maxRSS()
	r.Slow = slow
	return r, nil
}

// memoryRun runs msgs messages of per jobs, sampling the heap and the
// topic model's queue every 100 ms.
func memoryRun(ctx context.Context, msgs, per int, clients worker.ClientFactory) (time.Duration, uint64, int, error) {
	cfg, err := parseConfig(memWorker + strings.ReplaceAll(demoModels, "ADDR", "127.0.0.1:1"))
	if err != nil {
		return 0, 0, 0, err
	}
	if clients == nil {
		clients = instant.Factory
	}
	// The broker's share of the process: at most 10,000 jobs waiting in it.
	topic := memsource.NewTopic(memsource.TopicOptions{MaxBacklog: max(10_000/per, 2*cfg.Worker.MaxOutstandingMessages)})
	pubErr := make(chan error, 1)
	go func() {
		chunk := max(1000/per, 1)
		for i := 0; i < msgs; i += chunk {
			batch := packed(min(chunk, msgs-i), per)
			if err := topic.Publish(ctx, batch...); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	m := metrics.New(nil)
	var maxHeap uint64
	var maxWaiting int
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stopSample:
				return
			case <-time.After(100 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
			maxWaiting = max(maxWaiting, int(testutil.ToFloat64(m.ModelWaiting.WithLabelValues("topics", "live"))))
		}
	}()
	wall, err := runWorkerMetrics(ctx, cfg, topic, &countingSink{}, clients, msgs, m)
	close(stopSample)
	<-sampled
	if err != nil {
		return 0, 0, 0, err
	}
	if err := <-pubErr; err != nil {
		return 0, 0, 0, err
	}
	return wall, maxHeap, maxWaiting, nil
}

// packed builds n messages of per jobs each over three tenants.
func packed(n, per int) []memsource.Message {
	if per == 1 {
		return messages(n)
	}
	tenants := []string{"acme", "globex", "initech"}
	out := make([]memsource.Message, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		b.WriteByte('[')
		t := tenants[i%3]
		for j := range per {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"response_id":"%s-%07d-%03d","tenant":"%s","text":%q}`, t, i, j, t, benchTexts[(i+j)%len(benchTexts)])
		}
		b.WriteByte(']')
		out[i] = memsource.Message{Body: []byte(b.String())}
	}
	return out
}
