// Package modelserver is the reference model server behind `chorus models
// serve`: it serves refmodel classifiers over the protocols the
// worker speaks (open-inference, vertex, tei, openai), can emulate the cost and
// concurrency of a GPU endpoint for benchmarks, and can inject faults for
// tests.
//
// Routes, for every model:
//
//	GET  /v2, /v2/health/live, /v2/health/ready
//	GET  /v2/models/{name}[/versions/{v}]          metadata
//	GET  /v2/models/{name}[/versions/{v}]/ready
//	GET  /v2/models/{name}[/versions/{v}]/config   Triton's model config (triton)
//	POST /v2/models/{name}[/versions/{v}]/infer    open inference protocol
//	GET  /v1/models/{name}[/versions/{v}]          model status (tf-serving)
//	POST /v1/models/{name}[/versions/{v}]:predict  vertex / TF Serving
//	POST /v1/projects/{p}/locations/{l}/endpoints/{name}:predict
//	POST /tei/{name}/predict                       text-embeddings-inference
//	GET  /tei/{name}/info, /tei/{name}/health
//	POST /v1/chat/completions                      OpenAI-compatible, "model": {name}
//
// A version in the path must be the model's version, else 404. Each
// protocol answers in a dialect (Options.Dialects): the tensor names,
// answer shapes, metadata and error words of one real server. The
// defaults are Chorus-shaped (open-inference "chorus", vertex "automl").
package modelserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
)

// MaxRequestBytes bounds a request body; a larger one is answered 413.
const MaxRequestBytes = 64 << 20

// Options emulate a GPU endpoint and inject faults. The zero value serves
// as fast as the models run, with no limits and no faults.
type Options struct {
	// BatchCost and ItemCost emulate the endpoint's compute: a batch of n
	// holds its model's concurrency slot for BatchCost + n×ItemCost (or as
	// long as the model itself takes, if longer). With MaxConcurrent C,
	// a model's capacity at batch size B is C·B / (BatchCost + B·ItemCost)
	// items per second.
	BatchCost time.Duration
	ItemCost  time.Duration
	// MaxConcurrent is how many batches each model processes at once;
	// others wait for a slot in arrival order. 0 means no limit.
	MaxConcurrent int
	// MaxBatch refuses larger batches in the dialect's own words: 413 in
	// the chorus, kserve-hf, automl and tabular dialects, Triton's and TF
	// Serving's 400, TEI's 422. It is also the limit the server reports
	// (Triton's max_batch_size, TEI's max_client_batch_size). 0 means no
	// limit.
	MaxBatch int
	// Dialects choose the server each protocol answers as; the zero value
	// is each protocol's default. An unknown dialect panics in New.
	Dialects Dialects
	// Fault, when set, is asked before every batch (model name, batch
	// size) and a non-zero answer is injected. It is called concurrently.
	// When it returns the zero Fault, a fault set with SetFault applies.
	Fault func(model string, n int) Fault
	// ShutdownTimeout bounds how long Serve waits for requests in flight
	// when its context ends. Default 10s.
	ShutdownTimeout time.Duration
}

// Fault is an injected failure. The zero value is no fault.
type Fault struct {
	// Status, when non-zero, answers with this HTTP status and the
	// protocol's error body instead of scoring the batch.
	Status int
	// RetryAfter sets the Retry-After header (whole seconds, rounded up)
	// on a Status answer.
	RetryAfter time.Duration
	// Delay waits this long before handling the request, without holding
	// a concurrency slot: a slow network or a queue in front of the model.
	Delay time.Duration
	// NaN makes the first score of the first instance NaN, written as the
	// JSON string "NaN" since JSON numbers cannot hold it.
	NaN bool
	// OutOfRange makes the first score of the first instance 1.5.
	OutOfRange bool
	// WrongCount answers for one instance more than was asked.
	WrongCount bool
	// UnknownLabel renames the first label in vertex and tei answers; in
	// open-inference answers, which carry no label names, it adds a column.
	UnknownLabel bool
	// Garbage answers 200 with a body that is not JSON.
	Garbage bool
}

// Stats counts what a model's endpoint has seen.
type Stats struct {
	// Requests is every well-formed predict request for the model,
	// including those answered with a fault or refused as too large.
	Requests int64
	// Batches and Items count batches scored and the instances in them.
	Batches int64
	Items   int64
	// MaxBatch is the largest batch scored.
	MaxBatch int64
	// InFlight is the batches being scored now, or waiting for a slot;
	// MaxInFlight is the most there have been at once.
	InFlight    int64
	MaxInFlight int64
	// Faults counts requests answered with an injected fault; TooLarge
	// those refused for MaxBatch.
	Faults   int64
	TooLarge int64
}

// Server serves models. It is safe for concurrent use.
type Server struct {
	opts   Options
	models map[string]*model
	mux    *http.ServeMux
}

type model struct {
	m       refmodel.Model
	name    string
	version string
	labels  []string
	// JSON-quoted forms, made once so that answers are appended, not
	// marshalled.
	qName, qVersion []byte
	qLabels         [][]byte
	vertexHead      []byte
	slots           chan struct{}
	fault           atomic.Pointer[Fault]

	requests, batches, items, maxBatch atomic.Int64
	inFlight, maxInFlight              atomic.Int64
	faults, tooLarge                   atomic.Int64
}

// New returns a server for models. Model names must be unique and
// Options.Dialects valid (Dialects.Validate); anything else is a
// programming error and panics, as a duplicate route does in net/http.
func New(models []refmodel.Model, opts Options) *Server {
	if err := opts.Dialects.Validate(); err != nil {
		panic("modelserver: " + err.Error())
	}
	opts.Dialects = opts.Dialects.withDefaults()
	s := &Server{opts: opts, models: make(map[string]*model, len(models))}
	for _, rm := range models {
		name := rm.Name()
		if _, dup := s.models[name]; dup {
			panic(fmt.Sprintf("modelserver: model %q given twice", name))
		}
		m := &model{m: rm, name: name, version: rm.Version(), labels: rm.Labels()}
		m.qName = quote(name)
		m.qVersion = quote(m.version)
		for _, l := range m.labels {
			m.qLabels = append(m.qLabels, quote(l))
		}
		m.vertexHead = vertexHead(m.qLabels)
		if opts.MaxConcurrent > 0 {
			m.slots = make(chan struct{}, opts.MaxConcurrent)
		}
		s.models[name] = m
	}
	s.mux = http.NewServeMux()
	s.routeOpenInference()
	s.routeVertex()
	s.routeTEI()
	s.routeOpenAI()
	return s
}

// Handler serves every route.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to ShutdownTimeout) and
// returns nil. It returns early with the error if serving fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := s.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("modelserver: shutdown: %w", err), srv.Close())
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// SetFault injects f into every request for model until replaced; the
// zero Fault clears it. Options.Fault, when it answers, takes precedence.
func (s *Server) SetFault(model string, f Fault) error {
	m, ok := s.models[model]
	if !ok {
		return fmt.Errorf("modelserver: no model %q", model)
	}
	if f == (Fault{}) {
		m.fault.Store(nil)
	} else {
		m.fault.Store(&f)
	}
	return nil
}

// Stats returns model's counters (zero for an unknown model).
func (s *Server) Stats(model string) Stats {
	m, ok := s.models[model]
	if !ok {
		return Stats{}
	}
	return Stats{
		Requests:    m.requests.Load(),
		Batches:     m.batches.Load(),
		Items:       m.items.Load(),
		MaxBatch:    m.maxBatch.Load(),
		InFlight:    m.inFlight.Load(),
		MaxInFlight: m.maxInFlight.Load(),
		Faults:      m.faults.Load(),
		TooLarge:    m.tooLarge.Load(),
	}
}

// errorWriter writes a protocol's error body.
type errorWriter func(w http.ResponseWriter, status int, msg string)

// refusals are how a dialect answers what score refuses.
type refusals struct {
	fail errorWriter
	// tooLarge answers a batch of n over limit; nil answers 413 through
	// fail.
	tooLarge func(w http.ResponseWriter, m *model, n, limit int)
}

// score runs one batch through fault injection, the batch limit, the
// emulated cost and the model. When it answers the request itself (a
// fault, a refusal) or the client has gone, ok is false.
func (s *Server) score(w http.ResponseWriter, r *http.Request, m *model, texts []string, rf refusals) (scores [][]float64, f Fault, ok bool) {
	fail := rf.fail
	ctx := r.Context()
	n := len(texts)
	m.requests.Add(1)
	if s.opts.Fault != nil {
		f = s.opts.Fault(m.name, n)
	}
	if f == (Fault{}) {
		if p := m.fault.Load(); p != nil {
			f = *p
		}
	}
	if sleep(ctx, f.Delay) != nil {
		return nil, f, false
	}
	if f.Status != 0 {
		m.faults.Add(1)
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int64(math.Ceil(f.RetryAfter.Seconds()))))
		}
		fail(w, f.Status, fmt.Sprintf("injected fault: HTTP %d", f.Status))
		return nil, f, false
	}
	if s.opts.MaxBatch > 0 && n > s.opts.MaxBatch {
		m.tooLarge.Add(1)
		if rf.tooLarge != nil {
			rf.tooLarge(w, m, n, s.opts.MaxBatch)
		} else {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch size %d > maximum allowed batch size %d", n, s.opts.MaxBatch))
		}
		return nil, f, false
	}

	storeMax(&m.maxInFlight, m.inFlight.Add(1))
	defer m.inFlight.Add(-1)
	if m.slots != nil {
		select {
		case m.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, f, false
		}
		defer func() { <-m.slots }()
	}
	start := time.Now()
	scores = m.m.Predict(texts)
	// The emulated cost includes the model's own time, so that capacity
	// follows the formula in Options however fast the model is.
	cost := s.opts.BatchCost + time.Duration(n)*s.opts.ItemCost
	if sleep(ctx, cost-time.Since(start)) != nil {
		return nil, f, false
	}
	m.batches.Add(1)
	m.items.Add(int64(n))
	storeMax(&m.maxBatch, int64(n))

	if len(scores) != n {
		fail(w, http.StatusInternalServerError, fmt.Sprintf("model %q returned %d rows for %d texts", m.name, len(scores), n))
		return nil, f, false
	}
	for _, row := range scores {
		if len(row) != len(m.labels) {
			fail(w, http.StatusInternalServerError, fmt.Sprintf("model %q returned %d scores for %d labels", m.name, len(row), len(m.labels)))
			return nil, f, false
		}
	}
	if f.NaN || f.OutOfRange || f.WrongCount || f.UnknownLabel || f.Garbage {
		m.faults.Add(1)
	}
	if n > 0 && f.NaN {
		scores[0][0] = math.NaN()
	}
	if n > 0 && f.OutOfRange {
		scores[0][0] = 1.5
	}
	if f.WrongCount {
		scores = append(scores, make([]float64, len(m.labels)))
	}
	return scores, f, true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func quote(s string) []byte { return marshal(s) }
