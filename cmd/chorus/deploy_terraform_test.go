package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/worker/config"
)

// ---------------------------------------------------------------------------
// 5. Terraform: the table matches the sink's schema, the subscriptions and
// the queues dead-letter, the live and backfill lanes the configs read are
// the ones Terraform creates, and the IAM grants what the worker and the
// backfill identity need.

func TestDeployTerraform(t *testing.T) {
	modules := loadTerraform(t)
	gcp, aws := modules["gcp"], modules["aws"]
	if gcp == nil || aws == nil {
		t.Fatalf("want deploy/terraform/gcp and deploy/terraform/aws, have %v", slices.Sorted(maps.Keys(modules)))
	}
	var pubsubConfigs, sqsConfigs []*config.Config
	for _, c := range findChorusConfigs(t) {
		if strings.HasPrefix(c.name, "examples/") {
			continue
		}
		cfg, err := config.Parse(c.data, permissiveEnv)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		switch cfg.Source.Type {
		case "pubsub":
			pubsubConfigs = append(pubsubConfigs, cfg)
		case "sqs":
			sqsConfigs = append(sqsConfigs, cfg)
		}
	}
	if !slices.ContainsFunc(pubsubConfigs, func(c *config.Config) bool { return c.BackfillSource.Type == "pubsub" }) ||
		!slices.ContainsFunc(sqsConfigs, func(c *config.Config) bool { return c.BackfillSource.Type == "sqs" }) {
		t.Error("no Pub/Sub or no SQS config under deploy/ reads a backfill_source: the backfill lane is not deployed")
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"bigquery table matches bqsink", func(t *testing.T) { checkBigQueryTable(t, gcp) }},
		{"pubsub subscriptions dead-letter and back off", func(t *testing.T) { checkSubscriptions(t, gcp, pubsubConfigs) }},
		{"pubsub service agent can dead-letter", func(t *testing.T) { checkServiceAgent(t, gcp) }},
		{"pubsub live and backfill lanes", func(t *testing.T) { checkPubSubLanes(t, gcp, pubsubConfigs) }},
		{"sqs queues redrive to their DLQ", func(t *testing.T) { checkQueues(t, aws, sqsConfigs) }},
		{"sqs worker policy", func(t *testing.T) { checkWorkerPolicy(t, aws, sqsConfigs) }},
		{"sqs backfill policy", func(t *testing.T) { checkBackfillPolicy(t, aws, sqsConfigs) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}
}

func checkBigQueryTable(t *testing.T, m *tfModule) {
	tables := m.resources("google_bigquery_table")
	if len(tables) != 1 {
		t.Fatalf("want one google_bigquery_table, have %d", len(tables))
	}
	tb := tables[0]
	schema, err := bigquery.SchemaFromJSON([]byte(tfEval(t, m.ctx, attr(tb, "schema")).AsString()))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	for _, p := range diffSchema("", bqsink.Schema(), schema) {
		t.Error(p)
	}
	tp := block(tb, "time_partitioning")
	if tp == nil {
		t.Fatal("no time_partitioning")
	}
	if got := tfEval(t, m.ctx, attr(tp, "type")).AsString(); got != "DAY" {
		t.Errorf("time_partitioning.type %q, want DAY", got)
	}
	if got := tfEval(t, m.ctx, attr(tp, "field")).AsString(); got != bqsink.PartitionColumn {
		t.Errorf("time_partitioning.field %q, want %q", got, bqsink.PartitionColumn)
	}
	if got := evalStrings(t, m.ctx, attr(tb, "clustering")); !slices.Equal(got, bqsink.ClusterColumns()) {
		t.Errorf("clustering %v, want %v", got, bqsink.ClusterColumns())
	}
	pk := block(block(tb, "table_constraints"), "primary_key")
	if pk == nil {
		t.Fatal("no table_constraints.primary_key: BigQuery CDC upserts need it")
	}
	if got := evalStrings(t, m.ctx, attr(pk, "columns")); !slices.Equal(got, bqsink.KeyColumns()) {
		t.Errorf("primary key %v, want %v", got, bqsink.KeyColumns())
	}
}

// diffSchema compares two BigQuery schemas by name, type, mode and nested
// fields, in order.
func diffSchema(prefix string, want, got bigquery.Schema) []string {
	var problems []string
	if len(want) != len(got) {
		problems = append(problems, fmt.Sprintf("%s: %d columns, want %d", cmp.Or(prefix, "table"), len(got), len(want)))
	}
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		p := prefix + w.Name
		if w.Name != g.Name || w.Type != g.Type || w.Required != g.Required || w.Repeated != g.Repeated {
			problems = append(problems, fmt.Sprintf("column %d: %s %s required=%v repeated=%v, want %s %s required=%v repeated=%v",
				i, prefix+g.Name, g.Type, g.Required, g.Repeated, p, w.Type, w.Required, w.Repeated))
			continue
		}
		problems = append(problems, diffSchema(p+".", w.Schema, g.Schema)...)
	}
	return problems
}

func checkSubscriptions(t *testing.T, m *tfModule, configs []*config.Config) {
	subs := m.resources("google_pubsub_subscription")
	dlqTopics := map[string]bool{}
	for _, s := range subs {
		if d := block(s, "dead_letter_policy"); d != nil {
			for _, r := range refs(attr(d, "dead_letter_topic")) {
				dlqTopics[r] = true
			}
		}
	}
	var subNames []string
	sources := 0
	for _, s := range subs {
		isDLQ := slices.ContainsFunc(refs(attr(s, "topic")), func(r string) bool { return dlqTopics[r] })
		if isDLQ {
			continue
		}
		sources++
		subNames = append(subNames, names(t, m, s, "name")...)
		d := block(s, "dead_letter_policy")
		if d == nil || attr(d, "dead_letter_topic") == nil {
			t.Errorf("subscription %s has no dead_letter_policy", s.Labels[1])
			continue
		}
		attempts, _ := tfEval(t, m.ctx, attr(d, "max_delivery_attempts")).AsBigFloat().Int64()
		for _, c := range configs {
			if int64(c.Worker.MaxDeliveryAttempts) > attempts {
				t.Errorf("max_delivery_attempts %d is below the config's worker.max_delivery_attempts %d (%s): Pub/Sub would dead-letter first, without a reason", attempts, c.Worker.MaxDeliveryAttempts, c.Source.PubSub.Subscription)
			}
		}
		r := block(s, "retry_policy")
		if r == nil || attr(r, "minimum_backoff") == nil || attr(r, "maximum_backoff") == nil {
			t.Errorf("subscription %s has no retry_policy with minimum_backoff and maximum_backoff", s.Labels[1])
		}
	}
	if sources == 0 {
		t.Fatal("no source subscription")
	}
	var topicNames []string
	for _, tp := range m.resources("google_pubsub_topic") {
		topicNames = append(topicNames, names(t, m, tp, "name")...)
	}
	for _, c := range configs {
		if !slices.Contains(subNames, c.Source.PubSub.Subscription) {
			t.Errorf("a config reads subscription %s, which Terraform does not create (%v)", c.Source.PubSub.Subscription, subNames)
		}
		if !slices.Contains(topicNames, c.Source.PubSub.DeadLetterTopic) {
			t.Errorf("a config dead-letters to %s, which Terraform does not create (%v)", c.Source.PubSub.DeadLetterTopic, topicNames)
		}
	}
}

// checkServiceAgent: dead-lettering by the subscription needs the Pub/Sub
// service agent to publish to the DLQ topic and to subscribe to the source.
func checkServiceAgent(t *testing.T, m *tfModule) {
	src := map[string]string{}
	for _, path := range mustGlob(t, filepath.Join(m.dir, "*.tf")) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src[path] = string(b)
	}
	text := func(e hcl.Expression) string {
		r := e.Range()
		return src[r.Filename][r.Start.Byte:r.End.Byte]
	}
	agentLocals := map[string]bool{}
	for _, b := range m.blocks {
		if b.Type == "locals" {
			for name, a := range b.Body.Attributes {
				if strings.Contains(text(a.Expr), "gcp-sa-pubsub") {
					agentLocals["local."+name] = true
				}
			}
		}
	}
	isAgent := func(b *hclsyntax.Block) bool {
		e := attr(b, "member")
		if e == nil {
			return false
		}
		return strings.Contains(text(e), "gcp-sa-pubsub") || slices.ContainsFunc(refs(e), func(r string) bool { return agentLocals[r] })
	}
	for _, want := range []struct{ typ, role string }{
		{"google_pubsub_topic_iam_member", "roles/pubsub.publisher"},
		{"google_pubsub_subscription_iam_member", "roles/pubsub.subscriber"},
	} {
		if !slices.ContainsFunc(m.resources(want.typ), func(b *hclsyntax.Block) bool {
			return isAgent(b) && tfEval(t, m.ctx, attr(b, "role")).AsString() == want.role
		}) {
			t.Errorf("no %s granting %s to the Pub/Sub service agent", want.typ, want.role)
		}
	}
}

// checkPubSubLanes: each config's live and backfill subscriptions are two
// subscriptions on two topics with the same delivery settings and the same
// grants; the worker may read both, the backfill identity may publish to
// the backfill topic (and, by default, only there); every source
// subscription Terraform creates is read by some config.
func checkPubSubLanes(t *testing.T, m *tfModule, configs []*config.Config) {
	subs := map[string]tfInstance{} // subscription name → instance
	for _, in := range m.instances("google_pubsub_subscription") {
		subs[in.s("name")] = in
	}
	topicName := map[string]string{} // id marker or name → topic name
	for _, in := range m.instances("google_pubsub_topic") {
		topicName[in.s("id")], topicName[in.s("name")] = in.s("name"), in.s("name")
	}
	grants := func(typ, on, role string) []string { // members granted role on the named topic or subscription
		var out []string
		for _, in := range m.instances(typ) {
			target := in.s("subscription")
			if typ == "google_pubsub_topic_iam_member" {
				target = topicName[in.s("topic")]
			}
			if target == on && in.s("role") == role {
				out = append(out, in.s("member"))
			}
		}
		return out
	}
	const workerSA, backfillSA = "google_service_account.worker.member", "google_service_account.backfill.member"
	same := []string{
		"ack_deadline_seconds", "message_retention_duration", "enable_exactly_once_delivery", "enable_message_ordering",
		"expiration_policy.ttl", "dead_letter_policy.dead_letter_topic", "dead_letter_policy.max_delivery_attempts",
		"retry_policy.minimum_backoff", "retry_policy.maximum_backoff",
	}
	read := map[string]bool{}
	liveTopics, backfillTopics := map[string]bool{}, map[string]bool{}
	for _, c := range configs {
		var live tfInstance
		for _, s := range configSources(c) {
			name := s.src.PubSub.Subscription
			read[name] = true
			in, ok := subs[name]
			if !ok {
				continue // checkSubscriptions says so
			}
			topic := topicName[in.s("topic")]
			if topic == "" {
				t.Errorf("subscription %s: its topic %q is not a google_pubsub_topic here", name, in.s("topic"))
			}
			members := grants("google_pubsub_subscription_iam_member", name, "roles/pubsub.subscriber")
			if !slices.Contains(members, workerSA) {
				t.Errorf("the worker service account cannot read %s's subscription %s (subscribers: %v)", s.field, name, members)
			}
			if !slices.ContainsFunc(members, func(mb string) bool { return strings.Contains(mb, "gcp-sa-pubsub") }) {
				t.Errorf("the Pub/Sub service agent is not a subscriber on %s: it could not dead-letter from it", name)
			}
			if s.field == "source" {
				live = in
				liveTopics[topic] = true
				continue
			}
			backfillTopics[topic] = true
			if live.block == nil {
				continue
			}
			if name == live.s("name") || topic == topicName[live.s("topic")] {
				t.Errorf("backfill_source %s reads the live subscription or topic (%s): a backlog would queue in front of live feedback at the broker", name, live.s("name"))
			}
			if d := diffSettings(live.settings(same...), in.settings(same...)); len(d) > 0 {
				t.Errorf("live subscription %s and backfill subscription %s differ: %v", live.s("name"), name, d)
			}
		}
	}
	for topic := range backfillTopics {
		if members := grants("google_pubsub_topic_iam_member", topic, "roles/pubsub.publisher"); !slices.Contains(members, backfillSA) {
			t.Errorf("the backfill service account cannot publish to the backfill topic %s (publishers: %v)", topic, members)
		}
	}
	for topic := range liveTopics {
		if backfillTopics[topic] {
			continue
		}
		if members := grants("google_pubsub_topic_iam_member", topic, "roles/pubsub.publisher"); slices.Contains(members, backfillSA) {
			t.Errorf("with the defaults, the backfill service account may publish to the live topic %s: backfills belong on the backfill topic (backfill_publish_to_jobs opts in)", topic)
		}
	}
	for name, in := range subs {
		if block(in.block, "dead_letter_policy") != nil && !read[name] {
			t.Errorf("Terraform creates subscription %s, which no config under deploy/ reads as source or backfill_source", name)
		}
	}
}

// sqsQueue is a queue with a redrive policy, and its dead-letter queue.
type sqsQueue struct {
	in, dlq         tfInstance
	maxReceiveCount int64
}

// sourceQueues returns the queues with a redrive policy, by name.
func sourceQueues(t *testing.T, m *tfModule) map[string]sqsQueue {
	t.Helper()
	byArn := map[string]tfInstance{}
	for _, in := range m.instances("aws_sqs_queue") {
		byArn[in.s("arn")] = in
	}
	out := map[string]sqsQueue{}
	for _, in := range m.instances("aws_sqs_queue") {
		if attr(in.block, "redrive_policy") == nil {
			continue
		}
		var rp struct {
			DeadLetterTargetArn string
			MaxReceiveCount     json.Number
		}
		if err := json.Unmarshal([]byte(in.s("redrive_policy")), &rp); err != nil {
			t.Errorf("%s: redrive_policy does not evaluate to JSON (want jsonencode({...})): %v", in.addr, err)
			continue
		}
		dlq, ok := byArn[rp.DeadLetterTargetArn]
		if !ok {
			t.Errorf("%s: redrive_policy's deadLetterTargetArn %q is not an aws_sqs_queue here", in.addr, rp.DeadLetterTargetArn)
			continue
		}
		n, err := rp.MaxReceiveCount.Int64()
		if err != nil {
			t.Errorf("%s: redrive_policy has no whole maxReceiveCount (%q)", in.addr, rp.MaxReceiveCount)
		}
		out[in.s("name")] = sqsQueue{in: in, dlq: dlq, maxReceiveCount: n}
	}
	return out
}

// queueName is the last path element of a queue URL.
func queueName(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// checkQueues: every queue a config reads (source and backfill_source) has
// a redrive policy to the dead-letter queue the config names, with a
// maxReceiveCount at or above the worker's attempts; the dead-letter queue
// admits it (redrive_allow_policy) and keeps messages longer than it does;
// a config's live and backfill queues are two queues with the same
// settings; every source queue Terraform creates is read by some config.
func checkQueues(t *testing.T, m *tfModule, configs []*config.Config) {
	queues := sourceQueues(t, m)
	if len(queues) == 0 {
		t.Fatal("no aws_sqs_queue with a redrive_policy to another aws_sqs_queue")
	}
	allowed := map[string][]string{} // DLQ id or arn marker → source queue arns it admits ("*": all)
	parseAllow := func(dlqID, policy string) {
		var p struct {
			RedrivePermission string
			SourceQueueArns   []string
		}
		if err := json.Unmarshal([]byte(policy), &p); err != nil {
			t.Errorf("redrive_allow_policy of %s is not JSON: %v", dlqID, err)
			return
		}
		if p.RedrivePermission == "allowAll" {
			p.SourceQueueArns = append(p.SourceQueueArns, "*")
		}
		allowed[dlqID] = append(allowed[dlqID], p.SourceQueueArns...)
	}
	for _, in := range m.instances("aws_sqs_queue") {
		if attr(in.block, "redrive_allow_policy") != nil {
			parseAllow(in.s("id"), in.s("redrive_allow_policy"))
		}
	}
	for _, in := range m.instances("aws_sqs_queue_redrive_allow_policy") {
		parseAllow(in.s("queue_url"), in.s("redrive_allow_policy"))
	}
	for name, q := range queues {
		if a := allowed[q.dlq.s("id")]; !slices.Contains(a, q.in.s("arn")) && !slices.Contains(a, "*") {
			t.Errorf("the dead-letter queue %s has no redrive_allow_policy admitting %s (admits %v)", q.dlq.s("name"), name, a)
		}
		if src, dlq := retention(q.in), retention(q.dlq); dlq <= src {
			t.Errorf("the dead-letter queue %s keeps messages %ds, not longer than %s (%ds): SQS counts a dead letter's age from its first enqueue", q.dlq.s("name"), dlq, name, src)
		}
	}
	same := []string{"visibility_timeout_seconds", "message_retention_seconds", "receive_wait_time_seconds", "sqs_managed_sse_enabled", "fifo_queue", "redrive_policy"}
	read := map[string]bool{}
	for _, c := range configs {
		var live *sqsQueue
		for _, s := range configSources(c) {
			name := queueName(s.src.SQS.QueueURL)
			read[name] = true
			q, ok := queues[name]
			if !ok {
				t.Errorf("a config's %s reads %s, not a queue with a redrive policy that Terraform creates (%v)", s.field, s.src.SQS.QueueURL, slices.Sorted(maps.Keys(queues)))
				continue
			}
			if got := queueName(s.src.SQS.DeadLetterQueueURL); got != q.dlq.s("name") {
				t.Errorf("a config's %s dead-letters to %s, but %s redrives to %s", s.field, s.src.SQS.DeadLetterQueueURL, name, q.dlq.s("name"))
			}
			if int64(c.Worker.MaxDeliveryAttempts) > q.maxReceiveCount {
				t.Errorf("%s: maxReceiveCount %d is below the config's worker.max_delivery_attempts %d: SQS would dead-letter first, without a reason", name, q.maxReceiveCount, c.Worker.MaxDeliveryAttempts)
			}
			if s.field == "source" {
				live = &q
				continue
			}
			if live == nil {
				continue
			}
			if name == live.in.s("name") {
				t.Errorf("backfill_source reads the live queue %s: a backlog would queue in front of live feedback", name)
			}
			if d := diffSettings(live.in.settings(same...), q.in.settings(same...)); len(d) > 0 {
				t.Errorf("live queue %s and backfill queue %s differ: %v", live.in.s("name"), name, d)
			}
		}
	}
	for name := range queues {
		if !read[name] {
			t.Errorf("Terraform creates queue %s, which no config under deploy/ reads as source or backfill_source", name)
		}
	}
}

// retention is a queue's message_retention_seconds, SQS's default 4 days
// when unset.
func retention(in tfInstance) int {
	if v, ok := in.nested("", "message_retention_seconds"); ok {
		n, _ := strconv.Atoi(v)
		return n
	}
	return 345600
}

// policyGrants evaluates a data "aws_iam_policy_document": action → the
// resources (arn markers) its statements grant it on.
func policyGrants(t *testing.T, m *tfModule, name string) map[string][]string {
	t.Helper()
	var doc *tfInstance
	for _, in := range m.instances("aws_iam_policy_document") {
		if in.block.Type == "data" && in.block.Labels[1] == name {
			doc = &in
		}
	}
	if doc == nil {
		t.Fatalf(`no data "aws_iam_policy_document" %q`, name)
	}
	granted := map[string][]string{}
	for _, st := range doc.block.Body.Blocks {
		if st.Type != "statement" {
			continue
		}
		if e := attr(st, "effect"); e != nil && tfEval(t, doc.ctx, e).AsString() != "Allow" {
			continue
		}
		resources := evalStrings(t, doc.ctx, attr(st, "resources"))
		for _, a := range evalStrings(t, doc.ctx, attr(st, "actions")) {
			granted[a] = append(granted[a], resources...)
		}
	}
	return granted
}

// checkWorkerPolicy: what sources/awssqs calls, on every queue a config
// reads and its dead-letter queue. SQS authorises the batch calls with the
// single-message actions.
func checkWorkerPolicy(t *testing.T, m *tfModule, configs []*config.Config) {
	granted := policyGrants(t, m, "worker")
	queues := sourceQueues(t, m)
	for _, c := range configs {
		for _, s := range configSources(c) {
			q, ok := queues[queueName(s.src.SQS.QueueURL)]
			if !ok {
				continue // checkQueues says so
			}
			for _, want := range []struct{ action, on string }{
				{"sqs:ReceiveMessage", q.in.s("arn")}, {"sqs:DeleteMessage", q.in.s("arn")},
				{"sqs:ChangeMessageVisibility", q.in.s("arn")}, {"sqs:GetQueueAttributes", q.in.s("arn")},
				{"sqs:SendMessage", q.dlq.s("arn")},
			} {
				if !slices.Contains(granted[want.action], want.on) {
					t.Errorf("the worker policy does not grant %s on %s (%s; has %v)", want.action, want.on, s.field, granted)
				}
			}
		}
	}
}

// checkBackfillPolicy: `chorus backfill` may send to every backfill queue
// a config reads and, with the defaults, to no live queue.
func checkBackfillPolicy(t *testing.T, m *tfModule, configs []*config.Config) {
	granted := policyGrants(t, m, "backfill")
	queues := sourceQueues(t, m)
	backfill := map[string]bool{}
	for _, c := range configs {
		if c.BackfillSource.Type != "sqs" {
			continue
		}
		q, ok := queues[queueName(c.BackfillSource.SQS.QueueURL)]
		if !ok {
			continue
		}
		backfill[q.in.s("arn")] = true
		if !slices.Contains(granted["sqs:SendMessage"], q.in.s("arn")) {
			t.Errorf("the backfill policy does not grant sqs:SendMessage on the backfill queue %s (has %v)", q.in.s("name"), granted)
		}
	}
	for _, c := range configs {
		q, ok := queues[queueName(c.Source.SQS.QueueURL)]
		if ok && !backfill[q.in.s("arn")] && slices.Contains(granted["sqs:SendMessage"], q.in.s("arn")) {
			t.Errorf("with the defaults, the backfill policy may send to the live queue %s: backfills belong on the backfill queue (backfill_publish_to_jobs opts in)", q.in.s("name"))
		}
	}
}
