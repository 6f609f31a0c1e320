package tei_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/call"
	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
	"github.com/chorusml/chorus/worker/endpoint/tei"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/retry"
)

// fixtureDir holds TEI's bodies; manifest.json records each one's origin.
var fixtureDir = filepath.Join("..", "..", "..", "testdata", "protocols", "tei")

func body(t testing.TB, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reply is a fixture as a server answer, at its recorded status.
func reply(t testing.TB, file string) adaptertest.Reply {
	t.Helper()
	rep, err := loadReply(file)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// mustReply is reply for the suite's hooks, which have no t.
func mustReply(file string) adaptertest.Reply {
	rep, err := loadReply(file)
	if err != nil {
		panic(err)
	}
	return rep
}

func loadReply(file string) (adaptertest.Reply, error) {
	return adaptertest.FixtureReply(fixtureDir, file)
}

// goEmotions reads the 28-label prediction fixture's scores by label.
func goEmotions(t *testing.T) []map[string]float64 {
	var preds [][]struct {
		Score float64
		Label string
	}
	if err := json.Unmarshal([]byte(body(t, "predict-go-emotions-batch.json")), &preds); err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]float64, len(preds))
	for i, p := range preds {
		out[i] = map[string]float64{}
		for _, l := range p {
			out[i][l.Label] = l.Score
		}
	}
	return out
}

// fixtureCase is what one fixture must come to.
type fixtureCase struct {
	name   string
	file   string
	status int // overrides the recorded status (TEI before 1.9 answered validation errors 413)
	labels []string
	strict bool
	start  bool // the fixture is /info: run Start; else Predict
	kind   errkind.Kind
	reason errkind.Reason
	msg    string // the error must say this
	limit  int    // the batch limit the error must carry
	info   endpoint.Info
	warned string // one warning, saying this
}

var configured = []string{"neutral", "approval", "joy"}

func fixtureCases() []fixtureCase {
	return []fixtureCase{
		{name: "28 labels, 3 configured: the rest dropped", file: "predict-go-emotions-batch.json", labels: configured, warned: "annoyance"},
		{name: "28 labels, 3 configured, strict", file: "predict-go-emotions-batch.json", labels: configured, strict: true, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "strict_labels"},
		{name: "28 labels, none configured", file: "predict-go-emotions-batch.json", labels: []string{"pricing"}, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "none of the server's labels"},
		{name: "info: classifier, labels a subset", file: "info-classifier-go-emotions.json", start: true, labels: configured,
			info: endpoint.Info{MaxBatch: 32, Version: "SamLowe/roberta-base-go_emotions@fca14538aa99"}, warned: "admiration"},
		{name: "info: classifier, strict", file: "info-classifier-go-emotions.json", start: true, labels: configured, strict: true, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "strict_labels"},
		{name: "info: classifier lacks a configured label", file: "info-classifier-go-emotions.json", start: true, labels: []string{"neutral", "pricing"}, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: `labels lists pricing`},
		{name: "info: embedding model", file: "info-embedding.json", start: true, labels: configured, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "an embedding model"},
		{name: "info: reranker", file: "info-reranker.json", start: true, labels: configured, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "a reranker"},
		{name: "batch size 422", file: "error-batch-size.json", labels: configured, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 3},
		{name: "batch size 413 (TEI < 1.9)", file: "error-batch-size.json", status: 413, labels: configured, kind: errkind.Permanent, reason: endpoint.ReasonBatchTooLarge, limit: 3},
		{name: "too many tokens 422", file: "error-too-many-tokens.json", labels: configured, kind: errkind.Permanent, reason: endpoint.ReasonBadRequest, msg: "less than 512 tokens"},
		{name: "too many tokens 413 (TEI < 1.9)", file: "error-too-many-tokens.json", status: 413, labels: configured, kind: errkind.Permanent, reason: endpoint.ReasonBadRequest, msg: "less than 512 tokens"},
		{name: "empty input", file: "error-empty.json", labels: configured, kind: errkind.Permanent, reason: endpoint.ReasonBadRequest},
		{name: "predict to an embedding model", file: "error-not-classifier.json", labels: configured, kind: errkind.Misconfigured, reason: endpoint.ReasonIncompatible, msg: "not a classifier"},
		{name: "overloaded", file: "error-overloaded.json", labels: configured, kind: errkind.Retryable, reason: endpoint.ReasonRateLimited},
	}
}

func TestFixtures(t *testing.T) {
	want := goEmotions(t)
	for _, tc := range fixtureCases() {
		t.Run(tc.name, func(t *testing.T) {
			rep := reply(t, tc.file)
			if tc.status != 0 {
				rep.Status = tc.status
			}
			srv := adaptertest.Serve(t, rep.Status, rep.Header, rep.Body)
			var w warnings
			spec := adaptertest.Spec(srv.URL)
			spec.Labels, spec.StrictLabels, spec.Warn = tc.labels, tc.strict, w.warn
			c, err := tei.New(spec, tei.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var info endpoint.Info
			var res *endpoint.Result
			if tc.start {
				info, err = c.Start(adaptertest.Context(t))
			} else {
				res, err = c.Predict(adaptertest.Context(t), []string{"a", "b"})
			}
			checkKind(t, err, tc.kind, tc.reason)
			if err != nil {
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				if got, _ := endpoint.BatchLimit(err); got != tc.limit {
					t.Errorf("batch limit %d, want %d", got, tc.limit)
				}
				return
			}
			if info != tc.info {
				t.Errorf("info %+v, want %+v", info, tc.info)
			}
			if res != nil {
				for i, row := range res.Scores {
					for j, l := range tc.labels {
						if row[j] != want[i][l] {
							t.Errorf("text %d %s: %v, want %v", i, l, row[j], want[i][l])
						}
					}
				}
			}
			if got := w.all(); tc.warned != "" && (len(got) != 1 || !strings.Contains(got[0], tc.warned)) {
				t.Errorf("warnings %q, want one naming %s", got, tc.warned)
			}
		})
	}
}

// Every fixture in the manifest is proven by some case.
func TestEveryFixtureUsed(t *testing.T) {
	used := map[string]bool{}
	for _, tc := range fixtureCases() {
		used[tc.file] = true
	}
	for _, f := range protocol().Misconfigured {
		used[f.Name] = true
	}
	adaptertest.CheckFixtures(t, fixtureDir, used)
}

// After Start read /info, the first response does not name the dropped
// labels again; rows carry /info's version unless a response has its own.
func TestStartThenPredict(t *testing.T) {
	for _, header := range []string{"", "v7"} {
		pred := reply(t, "predict-go-emotions-batch.json")
		if header != "" {
			pred.Header = http.Header{tei.VersionHeader: {header}}
		}
		srv := infoServer(t, reply(t, "info-classifier-go-emotions.json"), pred)
		var w warnings
		spec := adaptertest.Spec(srv.URL)
		spec.Labels, spec.Warn = configured, w.warn
		c, err := tei.New(spec, tei.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sizer := call.NewSizer(64, nil)
		r := &call.Runner{Client: c, Policy: fastPolicy, Sizer: sizer}
		out := make([]call.Outcome, 2)
		r.Predict(adaptertest.Context(t), []string{"a", "b"}, out)
		if out[0].Err != nil {
			t.Fatal(out[0].Err)
		}
		wantVersion := "SamLowe/roberta-base-go_emotions@fca14538aa99"
		if header != "" {
			wantVersion = header
		}
		if out[0].Version != wantVersion {
			t.Errorf("version %q, want %q", out[0].Version, wantVersion)
		}
		if got := sizer.Limit(); got != 32 {
			t.Errorf("batch size %d after /info's max_client_batch_size 32", got)
		}
		if got := w.all(); len(got) != 1 {
			t.Errorf("warnings %q, want the dropped labels named once", got)
		}
	}
}

func TestStartWithoutInfo(t *testing.T) {
	ok := reply(t, "predict-go-emotions-batch.json")
	tests := []struct {
		name   string
		info   adaptertest.Reply
		kind   errkind.Kind
		reason errkind.Reason
	}{
		{"404 from a proxy", adaptertest.Reply{Status: 404, Body: "404 page not found"}, errkind.Unknown, ""},
		{"403 on /info only", adaptertest.Reply{Status: 403}, errkind.Unknown, ""},
		{"200 not TEI's info", adaptertest.Reply{Status: 200, Body: `<html>app</html>`}, errkind.Unknown, ""},
		{"200 other JSON", adaptertest.Reply{Status: 200, Body: `{"status":"ok"}`}, errkind.Unknown, ""},
		{"503", adaptertest.Reply{Status: 503, Body: body(t, "error-overloaded.json")}, errkind.Retryable, endpoint.ReasonServerError},
		{"429", reply(t, "error-overloaded.json"), errkind.Retryable, endpoint.ReasonRateLimited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := infoServer(t, tc.info, ok)
			var w warnings
			spec := adaptertest.Spec(srv.URL)
			spec.Labels, spec.Warn = configured, w.warn
			c, err := tei.New(spec, tei.Options{})
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Start(adaptertest.Context(t))
			checkKind(t, err, tc.kind, tc.reason)
			if err != nil {
				return
			}
			if info != (endpoint.Info{}) {
				t.Errorf("info %+v, want none", info)
			}
			if got := w.all(); len(got) != 1 || !strings.Contains(got[0], "/info") {
				t.Errorf("warnings %q, want one about /info", got)
			}
		})
	}
}

func TestInfoVersion(t *testing.T) {
	long := strings.Repeat("d", 150) + "/models--acme--topics"
	tests := []struct {
		id, sha string
		want    string
	}{
		{"acme/topics", `"0123456789abcdef0123456789abcdef01234567"`, "acme/topics@0123456789ab"},
		{"/data/acme-topics", "null", "/data/acme-topics"},
		{long, `"0123456789abcdef"`, "…" + long[len(long)-(endpoint.MaxVersionBytes-13-len("…")):] + "@0123456789ab"},
		{"bad\nid", "null", ""},
	}
	for _, tc := range tests {
		idJSON, _ := json.Marshal(tc.id)
		info := `{"model_id":` + string(idJSON) + `,"model_sha":` + tc.sha + `,"model_type":{"classifier":{"id2label":{"0":"neutral","1":"approval","2":"joy"}}},"max_client_batch_size":8}`
		srv := infoServer(t, adaptertest.Reply{Status: 200, Body: info}, adaptertest.Reply{Status: 500})
		spec := adaptertest.Spec(srv.URL)
		spec.Labels = configured
		c, err := tei.New(spec, tei.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Start(adaptertest.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != tc.want || len(got.Version) > endpoint.MaxVersionBytes {
			t.Errorf("id %.20q: version %q (%d bytes), want %q", tc.id, got.Version, len(got.Version), tc.want)
		}
	}
}

var sizeNumbers = regexp.MustCompile(`batch size \d+ > maximum allowed batch size \d+`)

// batchTooLarge is the real batch-size answer with the case's numbers.
func batchTooLarge(limit, n int) (int, string) {
	rep := mustReply("error-batch-size.json")
	return rep.Status, sizeNumbers.ReplaceAllString(rep.Body, "batch size "+strconv.Itoa(n)+" > maximum allowed batch size "+strconv.Itoa(limit))
}

// invalidInput is the real validation answer carrying msg.
func invalidInput(msg string) (int, string) {
	rep := mustReply("error-too-many-tokens.json")
	var e map[string]string
	_ = json.Unmarshal([]byte(rep.Body), &e)
	e["error"] = "Input validation error: " + msg
	b, _ := json.Marshal(e)
	return rep.Status, string(b)
}

// fastPolicy retries quickly so that the cases run in milliseconds.
var fastPolicy = retry.Policy{MaxAttempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxElapsed: 5 * time.Second, MaxRetryAfter: 5 * time.Millisecond}
