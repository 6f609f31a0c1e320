package gcppubsub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/worker"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint/instant"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/testenv"
)

// e2eJobs is how many valid jobs the end-to-end test publishes.
const e2eJobs = 20_000

// e2eConfig is a worker with the demo's models and pipelines; the model
// endpoints answer in-process (instant.Factory), so the run measures the
// source, Pub/Sub and the worker. PROJECT, SUB, DLQ, STREAMS and OUT are
// filled in.
const e2eConfig = `
worker: {max_outstanding_messages: 2000, pullers: 2, receive_batch: 200, drain_timeout: 10s}
source:
  type: pubsub
  pubsub: {project: PROJECT, subscription: SUB, dead_letter_topic: DLQ, streams: STREAMS}
sink: {type: file, file: {path: OUT}}
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

var e2eTexts = []string{
	"The app is slow since the update and support never answered.",
	"Love the new dashboard, onboarding was painless.",
	"Got charged twice this month, please fix billing.",
	"The Salesforce integration keeps failing on the iPhone app.",
	"Great value for the price, but the reports page takes forever to load.",
}

// e2eLoad is what the test publishes: messages of one job or a JSON array
// of 2–5 jobs (one tenant per message, named in its attributes too), over
// three tenants, with 1% malformed bodies.
type e2eLoad struct {
	msgs      []pubsubtest.Message
	jobs      map[sinks.Key]bool
	malformed map[string]bool // bodies
}

func newE2ELoad(jobs int) *e2eLoad {
	l := &e2eLoad{jobs: map[sinks.Key]bool{}, malformed: map[string]bool{}}
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := []string{"acme", "globex", "initech"}
	for i := 0; len(l.jobs) < jobs; i++ {
		tenant := tenants[rng.IntN(len(tenants))]
		attrs := map[string]string{"tenant": tenant, "run_id": "e2e"}
		if i%100 == 99 {
			body := fmt.Sprintf(`{"response_id":"bad-%d","tenant":%q,"text":"cut off`, i, tenant)
			l.malformed[body] = true
			l.msgs = append(l.msgs, pubsubtest.Message{Data: []byte(body), Attributes: attrs})
			continue
		}
		n := 1
		if rng.IntN(2) == 0 {
			n = 2 + rng.IntN(4)
		}
		n = min(n, jobs-len(l.jobs))
		objs := make([]string, n)
		for j := range objs {
			id := fmt.Sprintf("r-%06d", len(l.jobs))
			l.jobs[sinks.Key{Tenant: tenant, ResponseID: id, PipelineVersion: "e2e"}] = true
			objs[j] = fmt.Sprintf(`{"response_id":%q,"tenant":%q,"text":%q,"score":%d}`, id, tenant, e2eTexts[rng.IntN(len(e2eTexts))], rng.IntN(11))
		}
		body := objs[0]
		if n > 1 || rng.IntN(4) == 0 { // a one-job array now and then
			body = "[" + strings.Join(objs, ",") + "]"
		}
		l.msgs = append(l.msgs, pubsubtest.Message{Data: []byte(body), Attributes: attrs})
	}
	return l
}

// e2eServer is the emulator, or pstest where the emulator is missing and
// CI is not set.
func e2eServer(t *testing.T) *pubsubtest.Server {
	if err := pubsubtest.EmulatorAvailable(); err != nil && !testenv.CI() {
		t.Logf("emulator unavailable (%v); running against pstest", err)
		return pubsubtest.NewFake(t)
	}
	return pubsubtest.StartEmulator(t)
}

// deliveryCounter counts deliveries per message ID, to tell a redelivery
// (which may write a row again) from a duplicate write.
type deliveryCounter struct {
	sources.Source
	mu sync.Mutex
	n  map[string]int
}

func (c *deliveryCounter) Receive(ctx context.Context, max int) ([]*sources.Message, error) {
	msgs, err := c.Source.Receive(ctx, max)
	c.mu.Lock()
	for _, m := range msgs {
		c.n[m.ID]++
	}
	c.mu.Unlock()
	return msgs, err
}

// rowCounter counts committed rows by key while passing them on.
type rowCounter struct {
	sinks.Sink
	mu   sync.Mutex
	keys map[sinks.Key]bool
}

func (c *rowCounter) Write(ctx context.Context, rows []sinks.Result) error {
	if err := c.Sink.Write(ctx, rows); err != nil {
		return err
	}
	c.mu.Lock()
	for i := range rows {
		c.keys[rows[i].Key()] = true
	}
	c.mu.Unlock()
	return nil
}

func (c *rowCounter) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 20,000 jobs through the worker")
	}
	srv := e2eServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	q := newQueue(ctx, t, srv, "feedback", pubsubtest.SubOpts{AckDeadline: 30 * time.Second, DeadLetterTopic: "yes"})
	load := newE2ELoad(e2eJobs)
	start := time.Now()
	q.publish(ctx, t, load.msgs...)
	t.Logf("published %d jobs in %d messages (%d malformed) in %v", len(load.jobs), len(load.msgs), len(load.malformed), time.Since(start).Round(time.Millisecond))

	// pstest pushes about one message per stream every 10 ms: give it many.
	streams := "2"
	if srv.Kind() == pubsubtest.KindFake {
		streams = "16"
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	yaml := strings.NewReplacer("PROJECT", srv.Project(), "SUB", q.sub, "DLQ", q.dlq, "STREAMS", streams, "OUT", out).Replace(e2eConfig)
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := cfg.Source.PubSub
	src, err := gcppubsub.Open(ctx, gcppubsub.Options{
		Project:            ps.Project,
		Subscription:       ps.Subscription,
		DeadLetterTopic:    ps.DeadLetterTopic,
		Streams:            ps.Streams,
		MaxExtension:       ps.MaxExtension,
		MaxExtensionPeriod: ps.MaxExtensionPeriod,
		FlowControl: sources.FlowControl{
			MaxOutstandingMessages: cfg.Worker.MaxOutstandingMessages,
			MaxOutstandingBytes:    cfg.Worker.MaxOutstandingBytes,
		},
		ClientOptions: srv.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	fsink, err := filesink.Open(out, filesink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted := &deliveryCounter{Source: src, n: map[string]int{}}
	rows := &rowCounter{Sink: fsink, keys: map[sinks.Key]bool{}}
	w, err := worker.New(worker.Options{Config: cfg, Source: counted, Sink: rows, Clients: instant.Factory, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	var dead []pubsubtest.Received
	for rows.len() < len(load.jobs) || len(dead) < len(load.malformed) {
		select {
		case err := <-done:
			t.Fatalf("worker stopped early: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out: %d of %d jobs committed, %d of %d dead letters", rows.len(), len(load.jobs), len(dead), len(load.malformed))
		case <-time.After(100 * time.Millisecond):
		}
		got, err := srv.PullAll(ctx, q.dlSub)
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, got...)
	}
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
	t.Logf("%s: %d jobs in %v (%.0f jobs/s), %d deliveries of %d messages",
		srv.Kind(), len(load.jobs), elapsed.Round(time.Millisecond), float64(len(load.jobs))/elapsed.Seconds(), sum(counted.n), len(load.msgs))

	t.Run("every_job_once", func(t *testing.T) {
		results, err := filesink.ReadAll(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(load.jobs) {
			t.Errorf("%d rows, want %d", len(results), len(load.jobs))
		}
		for _, r := range results {
			if !load.jobs[r.Key()] {
				t.Errorf("unexpected row %+v", r.Key())
			}
		}
		// A key is written twice only when its message was delivered
		// twice.
		writes, msgOf := rawWrites(t, out)
		for k, n := range writes {
			if id := msgOf[k]; n > 1 && counted.n[id] < 2 {
				t.Errorf("%v written %d times, but its message %s was delivered once", k, n, id)
			}
		}
	})
	t.Run("malformed_dead_lettered", func(t *testing.T) {
		if len(dead) != len(load.malformed) {
			t.Errorf("%d dead letters, want %d", len(dead), len(load.malformed))
		}
		for _, d := range dead {
			if !load.malformed[string(d.Data)] {
				t.Errorf("unexpected dead letter %q", d.Data)
				continue
			}
			a := d.Attributes
			if a[sources.AttrErrorClass] != string(job.ReasonMalformedJSON) || a[sources.AttrFailedAt] != "decode" ||
				a[sources.AttrSourceMessageID] == "" || a[sources.AttrError] == "" || a["tenant"] == "" || a["run_id"] != "e2e" ||
				a[sources.AttrDeliveryAttempt] == "" {
				t.Errorf("dead letter %q: attributes %v", d.Data, a)
			}
		}
	})
	t.Run("subscription_empty", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if n, err := srv.Backlog(ctx, q.sub); err != nil || n != 0 {
			t.Errorf("%d messages left on the subscription (%v)", n, err)
		}
	})
}

// rawWrites counts the lines written per key and notes each key's source
// message.
func rawWrites(t *testing.T, path string) (map[sinks.Key]int, map[sinks.Key]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writes, msgOf := map[sinks.Key]int{}, map[sinks.Key]string{}
	sc := bufio.NewScanner(f)
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

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
