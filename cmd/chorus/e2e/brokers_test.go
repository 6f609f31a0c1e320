package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
)

// subscription is one the emulator is to have, on its topic.
type subscription struct {
	id, topic string
	o         pubsubtest.SubOpts
}

// startPubSub starts the Pub/Sub emulator with topics and subs. The topics
// come first: a subscription's dead-letter topic must exist before it.
func startPubSub(ctx context.Context, t *testing.T, topics []string, subs ...subscription) *pubsubtest.Server {
	t.Helper()
	ps := pubsubtest.StartEmulator(t)
	for _, topic := range topics {
		if err := ps.CreateTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		if err := ps.CreateSubscription(ctx, s.id, s.topic, s.o); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

// liveSource is a config's source: the emulator's chorus-jobs-sub,
// dead-lettering to chorus-dead.
const liveSource = `source:
  type: pubsub
  pubsub: {project: %[1]q, subscription: chorus-jobs-sub, dead_letter_topic: chorus-dead}
`

// pubsubToPostgres is the config of a worker reading sources (the YAML of
// source and backfill_source; %[1]q is the emulator's project) and writing
// to pg, with models, and the env the binary needs for it. The sink's
// table is migrated.
func pubsubToPostgres(t *testing.T, ps *pubsubtest.Server, pg *pgtest.Server, sources, models string) (cfg string, env []string) {
	t.Helper()
	env = append(ps.Env(), "CHORUS_POSTGRES_DSN="+pg.DSN())
	cfg = "\nworker: {drain_timeout: 30s}\n" + fmt.Sprintf(sources, ps.Project()) + `sink:
  type: postgres
  postgres: {dsn_env: CHORUS_POSTGRES_DSN}
` + models
	if code := startChorus(t, cfg, env, "migrate").wait(60 * time.Second); code != 0 {
		t.Fatal("chorus migrate failed")
	}
	return cfg, env
}

// sqsQueues is moto with a jobs queue that redrives to a dead-letter
// queue, and a publisher to the jobs queue.
type sqsQueues struct {
	moto       *sqstest.Server
	queue, dlq string
	pub        *awssqs.Publisher
}

// startSQS starts moto with a jobs queue of the given visibility timeout
// that redrives to the dead-letter queue after maxReceive receives.
func startSQS(ctx context.Context, t *testing.T, visibility time.Duration, maxReceive int) sqsQueues {
	t.Helper()
	q := sqsQueues{moto: sqstest.StartMoto(t)}
	var err error
	if q.dlq, err = q.moto.CreateQueue(ctx, "chorus-dlq", sqstest.QueueOpts{}); err != nil {
		t.Fatal(err)
	}
	if q.queue, err = q.moto.CreateQueue(ctx, "chorus-jobs", sqstest.QueueOpts{VisibilityTimeout: visibility, RedriveTo: q.dlq, MaxReceiveCount: maxReceive}); err != nil {
		t.Fatal(err)
	}
	if q.pub, err = awssqs.NewPublisher(q.moto.Client(t), q.queue, awssqs.PublisherOptions{}); err != nil {
		t.Fatal(err)
	}
	return q
}
