package vertex_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
)

// googleError is the AIP-193 error fixture with another code, status
// and message, and without its details: Vertex AI's own error form.
func googleError(t testing.TB, code int, status, msg string) string {
	_, body := fixture(t, "google-error-429-aip193.json")
	var v map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	v["error"]["code"], v["error"]["status"], v["error"]["message"] = code, status, msg
	// Its details name a zone short of capacity, which this error is not.
	delete(v["error"], "details")
	b, _ := json.Marshal(v)
	return string(b)
}

// tfServingBatchTooLarge is TF Serving's batcher refusing a request over
// its max_batch_size (the fixture), with this batch's size and limit.
func tfServingBatchTooLarge(t testing.TB, limit, n int) (int, string) {
	e, body := fixture(t, "tfserving-error-400-batch-too-large.json")
	body = strings.Replace(body, "Task size 65", fmt.Sprintf("Task size %d", n), 1)
	body = strings.Replace(body, "batch size 64", fmt.Sprintf("batch size %d", limit), 1)
	return e.Status, body
}

// hfInvalidInput is the Hugging Face container's answer to a request its
// pipeline raises on (any exception is a 400 {"error": str(e)}), the
// fixture with another message.
func hfInvalidInput(t testing.TB, msg string) (int, string) {
	e, body := fixture(t, "hf-vertex-error-400-no-instances.json")
	var v map[string]string
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	v["error"] = msg
	b, _ := json.Marshal(v)
	return e.Status, string(b)
}

// misconfiguredReplies are the recorded answers that mean the config and
// the server disagree.
func misconfiguredReplies(t testing.TB) []adaptertest.Reply {
	var out []adaptertest.Reply
	for _, f := range []string{
		"tfserving-error-400-bad-signature.json",
		"tfserving-error-400-type-mismatch.json",
		"tfserving-error-404-servable-not-found.json",
		"google-error-403-permission-denied.json",
		"kserve-v1-error-404-model-not-found.json",
	} {
		e, body := fixture(t, f)
		out = append(out, adaptertest.Reply{Name: f, Status: e.Status, Body: body})
	}
	return out
}
