package sourcetest

// Load tests: the real worker, fed by one driver on its server (moto, the
// Pub/Sub emulator), scoring tens of thousands of jobs into a JSONL file
// sink. What they share is here; how the load reaches the broker, and how
// the broker is found empty at the end, is the driver's.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint/instant"
	"github.com/chorusml/chorus/worker/job"
)

// LoadModels is the demo's models, pipelines and tenants, for a load
// test's worker config. The model endpoints answer in-process
// (instant.Factory), so the run measures the source, the broker and the
// worker.
const LoadModels = `
models:
  - {name: sentiment-vader, protocol: vertex, url: "http://127.0.0.1:1", labels: [negative, neutral, positive]}
  - {name: sentiment-nb, protocol: open-inference, url: "http://127.0.0.1:1", labels: [negative, positive]}
  - {name: topics, protocol: open-inference, url: "http://127.0.0.1:1",
     labels: [pricing, support, reliability, performance, usability, features, billing, onboarding]}
  - {name: acme-topics, protocol: tei, url: "http://127.0.0.1:1/tei/acme-topics", labels: [integrations, mobile-app], tenants: [acme]}
pipelines:
  - name: default
    version: "e2e"
    sentiment:
      models:
        - {model: sentiment-nb, weight: 0.55}
        - {model: sentiment-vader, weight: 0.45}
    topics:
      models: [{model: topics}, {model: acme-topics, precedence: true}]
    quorum: 2
tenants:
  - {name: acme, pipeline: default}
  - {name: globex, pipeline: default}
  - {name: initech, pipeline: default}
`

var loadTexts = []string{
	"The app is slow since the update and support never answered.",
	"Love the new dashboard, onboarding was painless.",
	"Got charged twice this month, please fix billing.",
	"The Salesforce integration keeps failing on the iPhone app.",
	"Great value for the price, but the reports page takes forever to load.",
}

// Load is what a load test publishes: messages of one job or a JSON array
// of 2–5 jobs (one tenant per message, named in its attributes too), over
// three tenants, with 1% malformed bodies. Every message carries
// run_id=e2e.
type Load struct {
	Msgs      []RawMessage
	Jobs      map[sinks.Key]bool // every valid job, by sink key
	Malformed map[string]bool    // malformed bodies
}

// NewLoad makes a load of jobs valid jobs, the same for the same seed.
func NewLoad(jobs int, seed uint64) *Load {
	l := &Load{Jobs: map[sinks.Key]bool{}, Malformed: map[string]bool{}}
	rng := rand.New(rand.NewPCG(seed, 2))
	tenants := []string{"acme", "globex", "initech"}
	for i := 0; len(l.Jobs) < jobs; i++ {
		tenant := tenants[rng.IntN(len(tenants))]
		attrs := map[string]string{"tenant": tenant, "run_id": "e2e"}
		if i%100 == 99 {
			body := fmt.Sprintf(`{"response_id":"bad-%d","tenant":%q,"text":"cut off`, i, tenant)
			l.Malformed[body] = true
			l.Msgs = append(l.Msgs, RawMessage{Body: []byte(body), Attributes: attrs})
			continue
		}
		n := 1
		if rng.IntN(2) == 0 {
			n = 2 + rng.IntN(4)
		}
		n = min(n, jobs-len(l.Jobs))
		objs := make([]string, n)
		for j := range objs {
			id := fmt.Sprintf("r-%06d", len(l.Jobs))
			l.Jobs[sinks.Key{Tenant: tenant, ResponseID: id, PipelineVersion: "e2e"}] = true
			objs[j] = fmt.Sprintf(`{"response_id":%q,"tenant":%q,"text":%q,"score":%d}`, id, tenant, loadTexts[rng.IntN(len(loadTexts))], rng.IntN(11))
		}
		body := objs[0]
		if n > 1 || rng.IntN(4) == 0 { // a one-job array now and then
			body = "[" + strings.Join(objs, ",") + "]"
		}
		l.Msgs = append(l.Msgs, RawMessage{Body: []byte(body), Attributes: attrs})
	}
	return l
}

// LoadWorker is a running worker of a load test.
type LoadWorker struct {
	done chan error
	stop context.CancelFunc
}

// StartLoadWorker runs the real worker with cfg on src into sink in the
// background, the model endpoints answering in-process. It stops when ctx
// ends or Stop is called.
func StartLoadWorker(ctx context.Context, t testing.TB, cfg *config.Config, src sources.Source, sink sinks.Sink) *LoadWorker {
	t.Helper()
	w, err := worker.New(worker.Options{Config: cfg, Source: src, Sink: sink, Clients: instant.Factory, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	lw := &LoadWorker{done: make(chan error, 1), stop: stop}
	go func() { lw.done <- w.Run(ctx) }()
	return lw
}

// WaitUntil polls done every tick until it reports true; it fails t if
// done errs, the worker stops first, or ctx ends, with status saying how
// far the run got.
func (lw *LoadWorker) WaitUntil(ctx context.Context, t testing.TB, tick time.Duration, done func() (bool, error), status func() string) {
	t.Helper()
	for {
		ok, err := done()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		select {
		case err := <-lw.done:
			t.Fatalf("worker stopped early: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out: %s", status())
		case <-time.After(tick):
		}
	}
}

// Stop stops the worker and fails t if it ended with an error.
func (lw *LoadWorker) Stop(t testing.TB) {
	t.Helper()
	lw.stop()
	if err := <-lw.done; err != nil {
		t.Fatalf("worker: %v", err)
	}
}

// CheckRows fails t unless the sink file at path holds every valid job of
// the load, and nothing else, and returns its rows.
func (l *Load) CheckRows(t testing.TB, path string) []sinks.Result {
	t.Helper()
	rows, err := filesink.ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	missing := make(map[sinks.Key]bool, len(l.Jobs))
	for k := range l.Jobs {
		missing[k] = true
	}
	for _, r := range rows {
		if !l.Jobs[r.Key()] {
			t.Errorf("unexpected row %+v", r.Key())
			continue
		}
		delete(missing, r.Key())
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d jobs missing from the sink", len(missing), len(l.Jobs))
	}
	return rows
}

// LoadDeadLetterCheck says what a driver's dead letters of a load carry
// beyond the reason attributes every driver sets.
type LoadDeadLetterCheck struct {
	// Once: each malformed body is dead-lettered exactly once. Without it a
	// body redelivered before its ack may be parked twice.
	Once bool
	// DeliveryAttempt: the broker counts deliveries, so a dead letter
	// carries sources.AttrDeliveryAttempt.
	DeliveryAttempt bool
}

// CheckDeadLetters fails t unless dead holds every malformed body of the
// load, with its reason (malformed JSON, at decode), the source message ID,
// the error, and the original attributes, and nothing else.
func (l *Load) CheckDeadLetters(t testing.TB, dead []RawMessage, c LoadDeadLetterCheck) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range dead {
		body := string(d.Body)
		if !l.Malformed[body] {
			t.Errorf("unexpected dead letter %q %v", d.Body, d.Attributes)
			continue
		}
		a := d.Attributes
		if a[sources.AttrErrorClass] != string(job.ReasonMalformedJSON) || a[sources.AttrFailedAt] != "decode" ||
			a[sources.AttrSourceMessageID] == "" || a[sources.AttrError] == "" || a["tenant"] == "" || a["run_id"] != "e2e" ||
			c.DeliveryAttempt && a[sources.AttrDeliveryAttempt] == "" {
			t.Errorf("dead letter %q: attributes %v", d.Body, a)
		}
		seen[body] = true
	}
	for body := range l.Malformed {
		if !seen[body] {
			t.Errorf("malformed body %q not dead-lettered", body)
		}
	}
	switch {
	case len(dead) == len(l.Malformed):
	case c.Once:
		t.Errorf("%d dead letters, want %d", len(dead), len(l.Malformed))
	default:
		t.Logf("%d dead letters for %d malformed bodies (redelivered before the ack)", len(dead), len(l.Malformed))
	}
}

// SinkWrites counts the rows written to the sink file at path per key,
// rewrites included (ReadAll keeps the last of each key), and notes each
// key's source message.
func SinkWrites(t testing.TB, path string) (writes map[sinks.Key]int, msgOf map[sinks.Key]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writes, msgOf = map[sinks.Key]int{}, map[sinks.Key]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r sinks.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		writes[r.Key()]++
		msgOf[r.Key()] = r.SourceMessageID
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return writes, msgOf
}
