package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/modelserver"
	"github.com/chorusml/chorus/cmd/chorus/tools/refmodel"
	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sinks/pgsink/pgtest"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/gcppubsub/pubsubtest"
	"github.com/chorusml/chorus/worker/ensemble"
	"github.com/chorusml/chorus/worker/job"
)

// Isolation end to end (issue 9): a poison key, a SIGTERM behind a stalled
// model, and the backfill lane, each through the real binary against the
// real servers.

// A message of 10 jobs, one with a 3 KB response_id (over Postgres's btree
// key limit), and a message whose run_id attribute has 3,000 characters:
// both are dead-lettered at decode (field_too_long) on their first
// delivery, the other 9 rows commit, both messages are acked, nothing is
// nacked and the worker stays ready.
func TestPoisonKeysDeadLetteredOnFirstDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Pub/Sub emulator, Postgres and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The subscription's own dead-letter policy makes Pub/Sub report
	// delivery attempts, which the dead letters must say is 1.
	ps := startPubSub(ctx, t, []string{"chorus-jobs", "chorus-dead", "broker-dead"},
		subscription{"chorus-jobs-sub", "chorus-jobs", pubsubtest.SubOpts{AckDeadline: 10 * time.Second, DeadLetterTopic: "broker-dead", MaxDeliveryAttempts: 5}},
		subscription{"chorus-dead-sub", "chorus-dead", pubsubtest.SubOpts{}},
		subscription{"broker-dead-sub", "broker-dead", pubsubtest.SubOpts{}})
	pg := pgtest.Start(t)

	longID := strings.Repeat("x", 3000)
	var want []string
	var b strings.Builder
	var badJob string
	b.WriteByte('[')
	for i := range 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("a-%02d", i)
		if i == 3 {
			id = longID
		}
		j := fmt.Sprintf(`{"response_id":%q,"tenant":"acme","text":"The invoice export failed again, case %d."}`, id, i)
		if i == 3 {
			badJob = j
		} else {
			want = append(want, "acme/"+id)
		}
		b.WriteString(j)
	}
	b.WriteByte(']')
	msgA := pubsubtest.Message{Data: []byte(b.String()), Attributes: map[string]string{"origin": "e2e-poison"}}
	msgB := pubsubtest.Message{
		Data:       []byte(`{"response_id":"b-1","tenant":"globex","text":"Support never called back."}`),
		Attributes: map[string]string{job.AttrRunID: strings.Repeat("r", 3000)},
	}
	ids, err := ps.Publish(ctx, "chorus-jobs", msgA, msgB)
	if err != nil {
		t.Fatal(err)
	}

	cfg, env := pubsubToPostgres(t, ps, pg, liveSource, modelsYAML(referenceModels(t)))
	w := startWorker(t, cfg, env)
	addr := w.metricsAddr()

	var dead []pubsubtest.Received
	committed := func() []string {
		rows, err := pgsink.ReadAll(ctx, pg.DSN(), "public", "chorus_results")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.Tenant+"/"+r.ResponseID)
		}
		sort.Strings(keys)
		return keys
	}
	w.eventually(90*time.Second, "9 rows committed, 2 dead letters and both messages acked", func() (bool, string) {
		got, err := ps.PullAll(ctx, "chorus-dead-sub")
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, got...)
		rows := committed()
		acked := scrape(addr, "chorus_messages_acked_total")
		return len(rows) == len(want) && len(dead) >= 2 && acked == 2,
			fmt.Sprintf("%d rows, %d dead letters, %v acked", len(rows), len(dead), acked)
	})
	if got := committed(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rows %v, want %v", got, want)
	}
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for _, d := range dead {
		a := d.Attributes
		var wantBody, wantID string
		switch {
		case bytes.Contains(d.Data, []byte(longID)):
			wantBody, wantID = badJob, ids[0]
			if a["origin"] != "e2e-poison" {
				t.Errorf("job dead letter lost the message's attributes: %v", a)
			}
		default:
			wantBody, wantID = string(msgB.Data), ids[1]
			if a[job.AttrRunID] != msgB.Attributes[job.AttrRunID] || !strings.Contains(a[sources.AttrError], job.AttrRunID) {
				t.Errorf("message dead letter: run_id attribute of %d bytes, detail %q", len(a[job.AttrRunID]), a[sources.AttrError])
			}
		}
		if string(d.Data) != wantBody {
			t.Errorf("dead letter body %.200q, want %.200q", d.Data, wantBody)
		}
		if a[sources.AttrErrorClass] != string(job.ReasonFieldTooLong) || a[sources.AttrFailedAt] != "decode" ||
			a[sources.AttrDeliveryAttempt] != "1" || a[sources.AttrSourceMessageID] != wantID || a[sources.AttrError] == "" {
			t.Errorf("dead letter of message %s: attributes %v, want reason %s at decode on delivery attempt 1",
				wantID, abbreviated(a), job.ReasonFieldTooLong)
		}
	}
	// Nothing was nacked or retried: both poison pieces went on the first
	// delivery, and the worker is ready (the sink holds nothing for retry).
	w.eventually(30*time.Second, "/readyz to answer 200", func() (bool, string) {
		code, body := httpGet(addr, "/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	if n := scrape(addr, "chorus_messages_nacked_total"); n != 0 {
		t.Errorf("%v messages nacked, want none", n)
	}
	if n := scrape(addr, "chorus_messages_received_total"); n != 2 {
		t.Errorf("%v messages received, want 2 (one delivery each)", n)
	}
	if n := scrape(addr, `chorus_dead_letters_total{reason="field_too_long",stage="decode"}`); n != 2 {
		t.Errorf("chorus_dead_letters_total{field_too_long,decode} = %v, want 2", n)
	}

	w.signal(syscall.SIGTERM)
	if code := w.wait(60 * time.Second); code != 0 || !strings.Contains(w.out.String(), `"clean":true`) {
		t.Fatalf("exit %d after SIGTERM, want 0 after a clean drain; output:\n%s", code, tailOf(w.out.String()))
	}
	if n, err := ps.Backlog(ctx, "chorus-jobs-sub"); err != nil || n != 0 {
		t.Errorf("backlog of chorus-jobs-sub %d (%v), want 0", n, err)
	}
	if got, err := ps.PullAll(ctx, "broker-dead-sub"); err != nil || len(got) != 0 {
		t.Errorf("%d messages forwarded by the subscription's own dead-letter policy (%v), want none", len(got), err)
	}
}

// A model stalled (every request hangs) with its queue full on SQS at the
// default 20s wait_time: SIGTERM ends the run within drain_timeout plus
// the close budgets, with exit 0, releasing the held messages at once;
// with the model answering again, a second run scores every job exactly
// once and dead-letters nothing. Meanwhile the tenants that do not use
// the stalled model were scored.
func TestSIGTERMWithStalledModelLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sq := startSQS(ctx, t, 30*time.Second, 10)
	moto, queue, dlq := sq.moto, sq.queue, sq.dlq
	// acme's pipeline needs sentiment-vader, which will hang; globex's and
	// initech's do not.
	const acmeMsgs, otherMsgs, per = 60, 40, 10
	var msgs []sources.OutMessage
	for i := range max(acmeMsgs, otherMsgs) {
		if i < acmeMsgs {
			msgs = append(msgs, tenantJobs("acme", fmt.Sprintf("acme-%03d", i), per))
		}
		if i < otherMsgs {
			msgs = append(msgs, tenantJobs([]string{"globex", "initech"}[i%2], fmt.Sprintf("other-%03d", i), per))
		}
	}
	if _, err := sq.pub.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	const total = (acmeMsgs + otherMsgs) * per

	addr, srv := referenceModelServer(t, modelserver.Options{})
	if err := srv.SetFault(refmodel.NameSentimentVader, modelserver.Fault{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	const drain = 3 * time.Second
	// The stalled model's timeout is long so that it is slow, not failing:
	// its jobs wait in the worker and nothing is deferred or nacked.
	cfg := fmt.Sprintf(`
worker: {max_outstanding_messages: 200, drain_timeout: %[1]s}
source:
  type: sqs
  sqs: {queue_url: %[2]q, dead_letter_queue_url: %[3]q, endpoint: %[4]q, region: us-east-1}
sink: {type: file, file: {path: %[5]q}}
models:
  - {name: sentiment-nb, protocol: open-inference, url: "http://%[6]s", labels: [negative, positive], batch: {max_items: 32}}
  - {name: sentiment-vader, protocol: open-inference, url: "http://%[6]s", labels: [negative, neutral, positive],
     batch: {max_items: 8, max_waiting: 16}, max_in_flight: 2, timeout: 5m, retry: {max_elapsed: 10m}}
  - {name: topics, protocol: open-inference, url: "http://%[6]s",
     labels: [pricing, support, reliability, performance, usability, features, billing, onboarding], batch: {max_items: 32}}
pipelines:
  - {name: default, version: "2026-11-25.1", sentiment: {models: [{model: sentiment-nb}]}, topics: {models: [{model: topics}]}}
  - {name: vader, version: "2026-11-25.1", sentiment: {models: [{model: sentiment-vader}]}, topics: {models: [{model: topics}]}}
tenants: [{name: acme, pipeline: vader}, {name: "*", pipeline: default}]
log: {format: json, level: info}
`, drain, queue, dlq, moto.Endpoint(), out, addr)

	w := startWorker(t, cfg, moto.Env())
	maddr := w.metricsAddr()
	// Full: every other tenant's job committed and deleted; all of acme's
	// messages held, their jobs far over sentiment-vader's max_waiting,
	// its requests hanging (the server counts a request in flight only
	// after its delay, so: asked, never answered).
	w.eventually(120*time.Second, "the other tenants scored and acme's messages all held behind the stalled model", func() (bool, string) {
		keys := fileKeys(t, out)
		d, err := moto.Depth(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		held := scrape(maddr, "chorus_inflight_messages")
		st := srv.Stats(refmodel.NameSentimentVader)
		return len(keys) == otherMsgs*per && held == acmeMsgs && d.Visible == 0 && d.NotVisible == acmeMsgs && st.Requests > 0 && st.Batches == 0,
			fmt.Sprintf("%d rows, %v messages held, queue %+v, sentiment-vader %+v", len(keys), held, d, st)
	})
	for k := range fileKeys(t, out) {
		if strings.HasPrefix(k, "acme/") {
			t.Fatalf("acme row %s written while its model hangs", k)
		}
	}
	start := time.Now()
	w.signal(syscall.SIGTERM)
	code := w.wait(drain + 60*time.Second)
	took := time.Since(start)
	t.Logf("SIGTERM with the queue full: exit %d after %v", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0 (nothing is lost: the held messages are released); output:\n%s", code, tailOf(w.out.String()))
	}
	if limit := drain + 2*closeSlack; took > limit {
		t.Errorf("exited %v after SIGTERM, want within drain_timeout %v + %v", took, drain, 2*closeSlack)
	}
	if log := w.out.String(); !strings.Contains(log, `"clean":false`) || strings.Contains(log, string(ensemble.ReasonQuorumNotMet)) {
		t.Errorf("want a drain cut off at drain_timeout (clean false) and no quorum_not_met; output:\n%s", tailOf(log))
	}
	// Released, not left to the visibility timeout (30s, extended while
	// held): visible again well before it.
	waitFor(t, 20*time.Second, 10*time.Millisecond, "acme's messages visible again", func() (bool, string) {
		d, err := moto.Depth(ctx, queue)
		return err == nil && d.Visible == acmeMsgs && d.NotVisible == 0, fmt.Sprintf("queue %+v (%v)", d, err)
	})

	if err := srv.SetFault(refmodel.NameSentimentVader, modelserver.Fault{}); err != nil {
		t.Fatal(err)
	}
	w = startWorker(t, cfg, moto.Env())
	w.eventually(120*time.Second, "every job scored and the queue empty", func() (bool, string) {
		keys := fileKeys(t, out)
		d, err := moto.Depth(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys) == total && d.Empty(), fmt.Sprintf("%d of %d keys, queue %+v", len(keys), total, d)
	})
	w.signal(syscall.SIGTERM)
	if code := w.wait(drain + 2*closeSlack + 30*time.Second); code != 0 || !strings.Contains(w.out.String(), `"clean":true`) {
		t.Fatalf("second run: exit %d after SIGTERM, want 0 after a clean drain; output:\n%s", code, tailOf(w.out.String()))
	}
	keys := fileKeys(t, out)
	if len(keys) != total {
		t.Fatalf("%d distinct jobs in the sink, want %d", len(keys), total)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("%s written %d times, want once", k, n)
		}
	}
	for _, m := range msgs {
		var jobs []job.Job
		if err := json.Unmarshal(m.Body, &jobs); err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if keys[j.Tenant+"/"+j.ResponseID] == 0 {
				t.Fatalf("%s/%s never written", j.Tenant, j.ResponseID)
			}
		}
	}
	if got, err := moto.ReceiveAll(ctx, dlq); err != nil || len(got) != 0 {
		t.Fatalf("%d dead letters (%v), want none", len(got), err)
	}
}

// A backlog on the backfill subscription and a live trickle on the live
// one, through `backfill_source`: live rows are committed while most of
// the backlog still waits, every row commits, every message is acked on
// the subscription it came from and both end empty, nothing is
// dead-lettered.
func TestBackfillLaneThroughBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Pub/Sub emulator, Postgres and the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	long := pubsubtest.SubOpts{AckDeadline: 60 * time.Second}
	ps := startPubSub(ctx, t, []string{"chorus-jobs", "chorus-backfill", "chorus-dead"},
		subscription{"chorus-jobs-sub", "chorus-jobs", long}, subscription{"chorus-backfill-sub", "chorus-backfill", long},
		subscription{"chorus-dead-sub", "chorus-dead", long})
	pg := pgtest.Start(t)
	const backlog, per = 8000, 20
	var msgs []pubsubtest.Message
	for _, m := range packedJobs(backlog, per) {
		msgs = append(msgs, pubsubtest.Message{Data: m.Body, Attributes: m.Attributes})
	}
	if _, err := ps.Publish(ctx, "chorus-backfill", msgs...); err != nil {
		t.Fatal(err)
	}
	// Each model scores one batch of at most 64 at a time in 200 ms: the
	// backlog takes at least 8000/64 × 0.2 s = 25 s, whatever the machine.
	cfg, env := pubsubToPostgres(t, ps, pg, liveSource+`backfill_source:
  type: pubsub
  pubsub: {project: %[1]q, subscription: chorus-backfill-sub, dead_letter_topic: chorus-dead}
`, modelsYAML(referenceModelsWith(t, modelserver.Options{BatchCost: 200 * time.Millisecond, MaxConcurrent: 1})))
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	counts := func() (live, bf int) {
		err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE response_id LIKE 'live-%'), count(*) FILTER (WHERE response_id NOT LIKE 'live-%') FROM public.chorus_results`).Scan(&live, &bf)
		if err != nil {
			t.Fatal(err)
		}
		return live, bf
	}

	w := startWorker(t, cfg, env)
	maddr := w.metricsAddr()
	w.eventually(120*time.Second, "the backlog under way", func() (bool, string) {
		_, bf := counts()
		return bf >= 300, fmt.Sprintf("%d backfill rows", bf)
	})
	const liveMsgs, livePer = 5, 2
	var live []pubsubtest.Message
	for i := range liveMsgs {
		var jobs []string
		for k := range livePer {
			jobs = append(jobs, fmt.Sprintf(`{"response_id":"live-%d-%d","tenant":"globex","text":"The new dashboard is great, message %d."}`, i, k, i))
		}
		live = append(live, pubsubtest.Message{Data: []byte("[" + strings.Join(jobs, ",") + "]")})
	}
	if _, err := ps.Publish(ctx, "chorus-jobs", live...); err != nil {
		t.Fatal(err)
	}
	var bfAtLive int
	w.eventually(120*time.Second, "the live rows", func() (bool, string) {
		l, bf := counts()
		bfAtLive = bf
		return l == liveMsgs*livePer, fmt.Sprintf("%d live rows, %d backfill rows", l, bf)
	})
	t.Logf("live rows all committed with %d of %d backfill rows committed", bfAtLive, backlog)
	// Behind the backlog (one FIFO), the live rows would come with its last
	// rows; served first, they come with the backlog's next batches. Half
	// the backlog is more than 12 s of the endpoint's capacity.
	if bfAtLive > backlog/2 {
		t.Errorf("live rows committed only after %d of %d backfill rows: live work was not served first", bfAtLive, backlog)
	}
	w.eventually(180*time.Second, "every row committed and every message acked", func() (bool, string) {
		l, bf := counts()
		acked := scrape(maddr, "chorus_messages_acked_total")
		return l == liveMsgs*livePer && bf == backlog && acked == float64(len(msgs)+len(live)),
			fmt.Sprintf("%d live rows, %d backfill rows, %v of %d messages acked", l, bf, acked, len(msgs)+len(live))
	})
	for _, m := range []string{"chorus_settle_failures_total", "chorus_messages_nacked_total", "chorus_dead_letters_total", "chorus_messages_deferred_total"} {
		if n := scrape(maddr, m); n != 0 {
			t.Errorf("%s = %v, want 0", m, n)
		}
	}
	w.signal(syscall.SIGTERM)
	if code := w.wait(60 * time.Second); code != 0 || !strings.Contains(w.out.String(), `"clean":true`) {
		t.Fatalf("exit %d after SIGTERM, want 0 after a clean drain; output:\n%s", code, tailOf(w.out.String()))
	}
	for _, sub := range []string{"chorus-jobs-sub", "chorus-backfill-sub"} {
		if n, err := ps.Backlog(ctx, sub); err != nil || n != 0 {
			t.Errorf("backlog of %s: %d (%v), want 0", sub, n, err)
		}
	}
	if dead, err := ps.PullAll(ctx, "chorus-dead-sub"); err != nil || len(dead) != 0 {
		t.Errorf("%d dead letters (%v), want none", len(dead), err)
	}
}

// tenantJobs is one message of n jobs of tenant, response ids prefix-k.
func tenantJobs(tenant, prefix string, n int) sources.OutMessage {
	var jobs []string
	for k := range n {
		jobs = append(jobs, fmt.Sprintf(`{"response_id":"%s-%02d","tenant":%q,"text":"The mobile app logs me out every day, case %d."}`, prefix, k, tenant, k))
	}
	return sources.OutMessage{Body: []byte("[" + strings.Join(jobs, ",") + "]")}
}

// fileKeys counts the lines the file sink wrote per tenant/response_id
// (filesink.ReadAll keeps one row per key and would hide a rewrite).
func fileKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	keys := map[string]int{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return keys
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return keys // a line without its newline is still being written
		}
		if err != nil {
			t.Fatal(err)
		}
		var row sinks.Result
		if err := json.Unmarshal(line, &row); err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		keys[row.Tenant+"/"+row.ResponseID]++
	}
}

// referenceModelServer is referenceModelsWith, also returning the server
// so that a test can inject faults and read its counters.
func referenceModelServer(t *testing.T, o modelserver.Options) (string, *modelserver.Server) {
	t.Helper()
	models, err := refmodel.LoadAll(chorus.Data)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := modelserver.New(models, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), srv
}

func httpGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape sums the samples of a metric from /metrics: name is a metric
// name (every series of it) or one series with its labels as exposed. An
// unreachable endpoint reads as -1.
func scrape(addr, name string) float64 {
	code, body := httpGet(addr, "/metrics")
	if code != http.StatusOK {
		return -1
	}
	sum := 0.0
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series := line[:i]
		metric := series
		if j := strings.IndexByte(series, '{'); j >= 0 {
			metric = series[:j]
		}
		if series != name && metric != name {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// abbreviated is attrs with long values cut, for messages.
func abbreviated(attrs map[string]string) map[string]string {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if len(v) > 80 {
			v = fmt.Sprintf("%s…(%d bytes)", v[:80], len(v))
		}
		out[k] = v
	}
	return out
}
