package gcppubsub_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/filesink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/sources/sourcetest"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/testenv"
)

// loadJobs is how many valid jobs the load test publishes.
const loadJobs = 20_000

// loadConfig is the worker and source of the load test, before
// sourcetest.LoadModels; PROJECT, SUB, DLQ, STREAMS and OUT are filled in.
const loadConfig = `
worker: {max_outstanding_messages: 2000, pullers: 2, receive_batch: 200, drain_timeout: 10s}
source:
  type: pubsub
  pubsub: {project: PROJECT, subscription: SUB, dead_letter_topic: DLQ, streams: STREAMS}
sink: {type: file, file: {path: OUT}}
`

// loadServer is the emulator, or pstest where the emulator is missing and
// CI is not set.
func loadServer(t *testing.T) *pubsubtest.Server {
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

// TestLoad publishes the whole load, runs the real worker with this
// source into a JSONL file sink (sourcetest.StartLoadWorker), and checks
// that every valid job is in the sink, written again only where its
// message was delivered again, every malformed body is dead-lettered once
// with its reason, and the subscription is empty at the end.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 20,000 jobs through the worker")
	}
	srv := loadServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	q := newQueue(ctx, t, srv, "feedback", pubsubtest.SubOpts{AckDeadline: 30 * time.Second, DeadLetterTopic: "yes"})
	load := sourcetest.NewLoad(loadJobs, 1)
	msgs := make([]pubsubtest.Message, len(load.Msgs))
	for i, m := range load.Msgs {
		msgs[i] = pubsubtest.Message{Data: m.Body, Attributes: m.Attributes}
	}
	start := time.Now()
	q.publish(ctx, t, msgs...)
	t.Logf("published %d jobs in %d messages (%d malformed) in %v", len(load.Jobs), len(load.Msgs), len(load.Malformed), time.Since(start).Round(time.Millisecond))

	// pstest pushes about one message per stream every 10 ms: give it many.
	streams := "2"
	if srv.Kind() == pubsubtest.KindFake {
		streams = "16"
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	yaml := strings.NewReplacer("PROJECT", srv.Project(), "SUB", q.sub, "DLQ", q.dlq, "STREAMS", streams, "OUT", out).Replace(loadConfig)
	cfg, err := config.Parse([]byte(yaml+sourcetest.LoadModels), nil)
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

	start = time.Now()
	w := sourcetest.StartLoadWorker(ctx, t, cfg, counted, rows)
	var dead []sourcetest.RawMessage
	w.WaitUntil(ctx, t, 100*time.Millisecond, func() (bool, error) {
		got, err := srv.PullAll(ctx, q.dlSub)
		for _, d := range got {
			dead = append(dead, sourcetest.RawMessage{Body: d.Data, Attributes: d.Attributes})
		}
		return rows.len() >= len(load.Jobs) && len(dead) >= len(load.Malformed), err
	}, func() string {
		return fmt.Sprintf("%d of %d jobs committed, %d of %d dead letters", rows.len(), len(load.Jobs), len(dead), len(load.Malformed))
	})
	elapsed := time.Since(start)
	w.Stop(t)
	t.Logf("%s: %d jobs in %v (%.0f jobs/s), %d deliveries of %d messages",
		srv.Kind(), len(load.Jobs), elapsed.Round(time.Millisecond), float64(len(load.Jobs))/elapsed.Seconds(), sum(counted.n), len(load.Msgs))

	t.Run("every_job_once", func(t *testing.T) {
		load.CheckRows(t, out)
		// A key is written twice only when its message was delivered
		// twice.
		writes, msgOf := sourcetest.SinkWrites(t, out)
		for k, n := range writes {
			if id := msgOf[k]; n > 1 && counted.n[id] < 2 {
				t.Errorf("%v written %d times, but its message %s was delivered once", k, n, id)
			}
		}
	})
	t.Run("malformed_dead_lettered", func(t *testing.T) {
		load.CheckDeadLetters(t, dead, sourcetest.LoadDeadLetterCheck{Once: true, DeliveryAttempt: true})
	})
	t.Run("subscription_empty", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if n, err := srv.Backlog(ctx, q.sub); err != nil || n != 0 {
			t.Errorf("%d messages left on the subscription (%v)", n, err)
		}
	})
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
