package dlq_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/chorusml/chorus/cmd/chorus/tools/dlq"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/awssqs/sqstest"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
)

// jobAttrs are the attributes every seeded message carries; a replay must
// bring them back.
var jobAttrs = map[string]string{"tenant": "acme", "run_id": "bf-7", "pipeline": "v2"}

// seeds are published to the main topic or queue and dead-lettered by the
// real source with these reasons.
var seeds = []struct {
	body, reason, stage, detail string
}{
	{"not json 1", "malformed_json", "decode", "invalid character 'o' in literal null"},
	{"not json 2", "malformed_json", "decode", "invalid character 'o' in literal null"},
	{`{"response_id":"r1","tenant":"nope","text":"hi"}`, "unknown_tenant", "route", `tenant "nope" is not configured`},
	{`{"response_id":"r2","tenant":"acme","text":"` + strings.Repeat("long ", 50) + `"}`, "text_too_long", "decode", "text is 250 bytes, limit 100"},
}

// redriveBody is put into the DLQ as the broker's own redrive would.
const redriveBody = `{"response_id":"r9","tenant":"globex","text":"slow app"}`

// received is a message read back from the main topic or queue.
type received struct {
	body, orderingKey string
	attrs             map[string]string
}

// broker is one broker under test, set up with a main topic or queue, its
// DLQ, and the source that dead-letters into it.
type broker struct {
	target dlq.Target
	// publishMain publishes bodies with jobAttrs to the main topic/queue.
	publishMain func(ctx context.Context, bodies []string) error
	// openSource opens the real source on the main subscription/queue.
	openSource func(ctx context.Context) (sources.Source, error)
	// redrive puts a message into the DLQ as the broker's policy does.
	redrive func(ctx context.Context) error
	// drainMain reads (and removes) what the main topic/queue holds,
	// waiting up to a few seconds for want messages.
	drainMain func(ctx context.Context, want int) ([]received, error)
	// redriveKey is the ordering key the redriven message has ("" none).
	redriveKey string
}

func TestDeadLetterReplayPubSub(t *testing.T) {
	cases := []struct {
		name  string
		start func(testing.TB) *pubsubtest.Server
	}{
		{"pstest", func(t testing.TB) *pubsubtest.Server { return pubsubtest.NewFake(t) }},
		{"emulator", pubsubtest.StartEmulator},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := c.start(t)
			runScenario(t, pubsubBroker(t, srv))
		})
	}
}

func TestDeadLetterReplaySQS(t *testing.T) {
	srv := sqstest.StartMoto(t)
	runScenario(t, sqsBroker(t, srv))
}

func pubsubBroker(t *testing.T, srv *pubsubtest.Server) broker {
	ctx := context.Background()
	for _, tp := range []string{"jobs", "dead-letters"} {
		if err := srv.CreateTopic(ctx, tp); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.CreateSubscription(ctx, "jobs-sub", "jobs", pubsubtest.SubOpts{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateSubscription(ctx, "dead-letters-sub", "dead-letters", pubsubtest.SubOpts{}); err != nil {
		t.Fatal(err)
	}
	return broker{
		// As from a worker config: the DLQ subscription is found from the
		// dead-letter topic, the replay topic from the worker's
		// subscription.
		target: dlq.Target{
			Project: srv.Project(), DeadLetterTopic: "dead-letters", SourceSubscription: "jobs-sub",
			PubSubOptions: srv.ClientOptions(), Lease: time.Minute,
		},
		publishMain: func(ctx context.Context, bodies []string) error {
			var msgs []pubsubtest.Message
			for _, b := range bodies {
				msgs = append(msgs, pubsubtest.Message{Data: []byte(b), Attributes: jobAttrs})
			}
			_, err := srv.Publish(ctx, "jobs", msgs...)
			return err
		},
		openSource: func(ctx context.Context) (sources.Source, error) {
			return gcppubsub.Open(ctx, gcppubsub.Options{
				Project: srv.Project(), Subscription: "jobs-sub", DeadLetterTopic: "dead-letters",
				ClientOptions: srv.ClientOptions(),
			})
		},
		redrive: func(ctx context.Context) error {
			_, err := srv.Publish(ctx, "dead-letters", pubsubtest.Message{
				Data: []byte(redriveBody), OrderingKey: "k9",
				Attributes: map[string]string{
					"tenant":                    "globex",
					dlq.AttrPubSubDeliveryCount: "5",
					"CloudPubSubDeadLetterSourceSubscription": "jobs-sub",
				},
			})
			return err
		},
		drainMain: func(ctx context.Context, want int) ([]received, error) {
			var out []received
			err := pollUntil(ctx, want, func() (int, error) {
				got, err := srv.PullAll(ctx, "jobs-sub")
				for _, m := range got {
					out = append(out, received{body: string(m.Data), orderingKey: m.OrderingKey, attrs: m.Attributes})
				}
				return len(out), err
			})
			return out, err
		},
		redriveKey: "k9",
	}
}

func sqsBroker(t *testing.T, srv *sqstest.Server) broker {
	ctx := context.Background()
	dlqURL, err := srv.CreateQueue(ctx, "jobs-dlq", sqstest.QueueOpts{})
	if err != nil {
		t.Fatal(err)
	}
	mainURL, err := srv.CreateQueue(ctx, "jobs", sqstest.QueueOpts{})
	if err != nil {
		t.Fatal(err)
	}
	client := srv.Client(t)
	sqsAttrs := func(attrs map[string]string) map[string]types.MessageAttributeValue {
		out := map[string]types.MessageAttributeValue{}
		for k, v := range attrs {
			out[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
		return out
	}
	return broker{
		target: dlq.Target{QueueURL: dlqURL, ToQueueURL: mainURL, SQSClient: client, Lease: time.Minute},
		publishMain: func(ctx context.Context, bodies []string) error {
			for _, b := range bodies {
				if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &mainURL, MessageBody: aws.String(b), MessageAttributes: sqsAttrs(jobAttrs)}); err != nil {
					return err
				}
			}
			return nil
		},
		openSource: func(context.Context) (sources.Source, error) {
			return awssqs.New(client, awssqs.Options{QueueURL: mainURL, DeadLetterQueueURL: dlqURL, Pollers: 1, WaitTime: time.Second})
		},
		redrive: func(ctx context.Context) error {
			// SQS's redrive moves the message as it was: no chorus_*
			// attributes.
			_, err := client.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl: &dlqURL, MessageBody: aws.String(redriveBody),
				MessageAttributes: sqsAttrs(map[string]string{"tenant": "globex"}),
			})
			return err
		},
		drainMain: func(ctx context.Context, want int) ([]received, error) {
			var out []received
			err := pollUntil(ctx, want, func() (int, error) {
				got, err := srv.ReceiveAll(ctx, mainURL)
				for _, m := range got {
					out = append(out, received{body: m.Body, orderingKey: m.GroupID, attrs: m.Attributes})
				}
				return len(out), err
			})
			return out, err
		},
	}
}

// pollUntil calls drain until it reports at least want, for up to 10 s,
// then once more after a pause to catch extras.
func pollUntil(ctx context.Context, want int, drain func() (int, error)) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := drain()
		if err != nil {
			return err
		}
		if n >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	_, err := drain()
	return err
}

func runScenario(t *testing.T, b broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deadLetterSeeds(ctx, t, b)
	if err := b.redrive(ctx); err != nil {
		t.Fatal(err)
	}

	r, err := dlq.OpenReader(ctx, b.target)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := dlq.ReadOptions{Max: 100, Wait: 1500 * time.Millisecond}

	wantGroups := map[string]int{"malformed_json": 2, "unknown_tenant": 1, "text_too_long": 1, dlq.ReasonBrokerRedrive: 1}
	var ids map[string]string // DLQ id → reason
	t.Run("list twice, nothing consumed", func(t *testing.T) {
		for i := range 2 {
			l, err := dlq.List(ctx, r, read)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, g := range dlq.GroupByReason(l.Messages) {
				got[g.Reason] = g.Count
				if g.FirstFailed.IsZero() || g.SampleID == "" || g.SampleError == "" {
					t.Errorf("list %d: group %+v lacks times or sample", i, g)
				}
			}
			if !maps.Equal(got, wantGroups) || l.Truncated {
				t.Fatalf("list %d: groups %v (truncated %v), want %v", i, got, l.Truncated, wantGroups)
			}
			seen := map[string]string{}
			for _, m := range l.Messages {
				seen[m.ID] = m.Reason()
				if m.Reason() != dlq.ReasonBrokerRedrive {
					for k, v := range jobAttrs {
						if m.Attributes[k] != v {
							t.Errorf("dead letter %s: attribute %s = %q, want %q", m.ID, k, m.Attributes[k], v)
						}
					}
					if m.SourceMessageID() == "" || m.Stage() == "" || m.Detail() == "" {
						t.Errorf("dead letter %s lacks source id, stage or detail: %v", m.ID, m.Attributes)
					}
				}
			}
			if ids != nil && !maps.Equal(ids, seen) {
				t.Fatalf("second list saw %v, first %v", seen, ids)
			}
			ids = seen
		}
	})

	t.Run("show", func(t *testing.T) {
		l, err := dlq.List(ctx, r, read)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := dlq.WriteShow(&out, l, dlq.ShowOptions{Reasons: []string{"unknown_tenant"}}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"reason unknown_tenant", "stage route", `tenant "nope" is not configured`, `"tenant":"nope"`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("show lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "malformed_json") {
			t.Errorf("show --reason unknown_tenant printed others:\n%s", out.String())
		}
	})

	dest, err := dlq.OpenDestination(ctx, b.target)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Publisher.Close(context.Background())
	replay := func(t *testing.T, sel dlq.Selector, dry bool) dlq.ReplaySummary {
		t.Helper()
		sum, err := dlq.Replay(ctx, r, dest.Publisher, dlq.ReplayOptions{
			ReadOptions: read, Select: sel, DryRun: dry, MaxAttributes: dest.MaxAttributes, FIFO: dest.FIFO,
		})
		if err != nil {
			t.Fatalf("replay: %v (summary %+v)", err, sum)
		}
		return sum
	}

	t.Run("dry run", func(t *testing.T) {
		sum := replay(t, dlq.Selector{Reasons: []string{"malformed_json"}}, true)
		if sum.Read != 5 || sum.Selected != 2 || sum.Replayed != 0 || sum.Left != 5 {
			t.Fatalf("dry run summary %+v, want 5 read, 2 selected, none replayed", sum)
		}
		got, err := b.drainMain(ctx, 0)
		if err != nil || len(got) != 0 {
			t.Fatalf("main after a dry run: %v, %v; want nothing", got, err)
		}
	})

	t.Run("replay by reason", func(t *testing.T) {
		sum := replay(t, dlq.Selector{Reasons: []string{"malformed_json"}}, false)
		if sum.Read != 5 || sum.Selected != 2 || sum.Replayed != 2 || sum.Failed != 0 || sum.Left != 3 || sum.RunID == "" {
			t.Fatalf("summary %+v, want 5 read, 2 replayed, 3 left", sum)
		}
		got, err := b.drainMain(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, m := range got {
			bodies = append(bodies, m.body)
			for k, v := range jobAttrs {
				if m.attrs[k] != v {
					t.Errorf("replayed %q: attribute %s = %q, want %q", m.body, k, m.attrs[k], v)
				}
			}
			if m.attrs[dlq.AttrReplayRunID] != sum.RunID || ids[m.attrs[dlq.AttrReplayedFrom]] != "malformed_json" {
				t.Errorf("replayed %q: replay attributes %v, want run %s and a malformed_json dead letter's id", m.body, m.attrs, sum.RunID)
			}
			for k := range m.attrs {
				if strings.HasPrefix(k, "chorus_") && k != dlq.AttrReplayRunID && k != dlq.AttrReplayedFrom {
					t.Errorf("replayed %q keeps failure attribute %s", m.body, k)
				}
			}
		}
		slices.Sort(bodies)
		if want := []string{seeds[0].body, seeds[1].body}; !slices.Equal(bodies, want) {
			t.Fatalf("main topic/queue got %q, want exactly %q", bodies, want)
		}
		assertLeft(ctx, t, r, read, map[string]int{"unknown_tenant": 1, "text_too_long": 1, dlq.ReasonBrokerRedrive: 1})
	})

	t.Run("replay by id", func(t *testing.T) {
		var id string
		for k, v := range ids {
			if v == dlq.ReasonBrokerRedrive {
				id = k
			}
		}
		sum := replay(t, dlq.Selector{IDs: []string{id}}, false)
		if sum.Selected != 1 || sum.Replayed != 1 || sum.Failed != 0 {
			t.Fatalf("summary %+v, want 1 replayed", sum)
		}
		got, err := b.drainMain(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].body != redriveBody || got[0].attrs["tenant"] != "globex" ||
			got[0].orderingKey != b.redriveKey || got[0].attrs[dlq.AttrReplayedFrom] != id {
			t.Fatalf("main got %+v, want the redriven message with tenant, ordering key %q and replay attributes", got, b.redriveKey)
		}
		for k := range got[0].attrs {
			if strings.HasPrefix(k, "CloudPubSubDeadLetter") {
				t.Errorf("replayed message keeps broker attribute %s", k)
			}
		}
		assertLeft(ctx, t, r, read, map[string]int{"unknown_tenant": 1, "text_too_long": 1})
	})
}

func assertLeft(ctx context.Context, t *testing.T, r dlq.Reader, read dlq.ReadOptions, want map[string]int) {
	t.Helper()
	l, err := dlq.List(ctx, r, read)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, g := range dlq.GroupByReason(l.Messages) {
		got[g.Reason] = g.Count
	}
	if !maps.Equal(got, want) {
		t.Fatalf("DLQ holds %v, want %v", got, want)
	}
}

// deadLetterSeeds publishes the seeds to the main topic or queue and
// dead-letters them through the real source, as the worker does.
func deadLetterSeeds(ctx context.Context, t *testing.T, b broker) {
	t.Helper()
	var bodies []string
	byBody := map[string]int{}
	for i, s := range seeds {
		bodies = append(bodies, s.body)
		byBody[s.body] = i
	}
	if err := b.publishMain(ctx, bodies); err != nil {
		t.Fatal(err)
	}
	src, err := b.openSource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := src.Close(context.Background()); err != nil {
			t.Errorf("close source: %v", err)
		}
	}()
	var got []*sources.Message
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(seeds) {
		if time.Now().After(deadline) {
			t.Fatalf("source received %d of %d seeds", len(got), len(seeds))
		}
		msgs, err := src.Receive(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	var dls []sources.DeadLetter
	for _, m := range got {
		i, ok := byBody[string(m.Body)]
		if !ok {
			t.Fatalf("unexpected message %q", m.Body)
		}
		s := seeds[i]
		dls = append(dls, sources.DeadLetter{Message: m, Reason: s.reason, Detail: s.detail, Stage: s.stage})
	}
	if err := src.DeadLetter(ctx, dls); err != nil {
		t.Fatal(err)
	}
	if err := src.Ack(ctx, got); err != nil {
		t.Fatal(fmt.Errorf("ack: %w", err))
	}
}
