package vertex_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chorusml/chorus/worker/endpoint/internal/adaptertest"
)

// tfServingBatchTooLarge is TF Serving's batcher refusing a request over
// its max_batch_size: HTTP 400 with the message of
// tensorflow/core/kernels/batching_util (ValidateBatchTaskQueueCapacity).
func tfServingBatchTooLarge(_ testing.TB, limit, n int) (int, string) {
	return 400, fmt.Sprintf(`{ "error": "Task size %d is larger than maximum input batch size %d" }`, n, limit)
}

// googleInvalidArgument is a Google API error for a request the server
// refuses (google.rpc.Status as JSON, as Vertex AI writes it).
func googleInvalidArgument(_ testing.TB, msg string) (int, string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}})
	return 400, string(b)
}

// misconfiguredReplies are TF Serving's answers to a request that does not
// fit the model's signature (tensorflow_serving/util/json_tensor.cc).
func misconfiguredReplies(_ testing.TB) []adaptertest.Reply {
	return []adaptertest.Reply{
		{Name: "tf serving signature not found", Status: 400,
			Body: `{ "error": "Serving signature name: \"serving_default\" not found in signature def" }`},
		{Name: "tf serving no such input", Status: 400,
			Body: `{ "error": "Failed to process element: 0 key: text of 'instances' list. Error: Invalid argument: JSON object: does not have named input: text" }`},
	}
}
