package tei

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/errkind"
)

// infoResponse is the part of TEI's GET /info answer the adapter uses.
type infoResponse struct {
	ModelID  string  `json:"model_id"`
	ModelSHA *string `json:"model_sha"`
	// ModelType is one of {"classifier": {...}}, {"embedding": {...}},
	// {"reranker": {...}}: serde's form of a Rust enum.
	ModelType          map[string]json.RawMessage `json:"model_type"`
	MaxClientBatchSize int                        `json:"max_client_batch_size"`
	// MaxBatchTokens bounds the tokens TEI packs into one forward pass.
	// It is not a limit on a request: TEI queues a request's texts one by
	// one and fills its own batches up to it, so a request holding more
	// tokens is served over several passes, not refused. Only one text
	// over max_input_length is refused (with truncate false), on its own.
	MaxBatchTokens int `json:"max_batch_tokens"`
}

type classifierModel struct {
	ID2Label map[string]string `json:"id2label"`
}

type embeddingModel struct {
	Pooling string `json:"pooling"`
}

// Start reads GET /info: the server's batch-size limit, the model's id and
// revision as its version, and the model type and label set, checked
// against the spec. A server without a usable /info (a proxy that routes
// only /predict) is used without it; only a failure worth retrying
// (5xx, 429, a timeout) fails Start.
func (c *Client) Start(ctx context.Context) (endpoint.Info, error) {
	if c.opts.SkipInfo {
		return endpoint.Info{}, nil
	}
	var info infoResponse
	var decodeErr error
	err := c.call.Get(ctx, c.info, func(b []byte, _ http.Header) error {
		decodeErr = json.Unmarshal(b, &info)
		if decodeErr == nil && info.ModelID == "" && info.ModelType == nil {
			decodeErr = errNotInfo
		}
		return nil
	})
	if err != nil {
		if keepsModelFromStarting(err) {
			return endpoint.Info{}, httpx.Wrap(err, "model %q: GET /info", c.spec.Name)
		}
		c.warnOnce("info unavailable", "GET /info failed ("+httpx.Truncate(err.Error())+"); going on without it: no batch-size cap, model version or label check from the server")
		return endpoint.Info{}, nil
	}
	if decodeErr != nil {
		c.warnOnce("info unreadable", "GET /info did not answer TEI's model info; going on without it: no batch-size cap, model version or label check from the server")
		return endpoint.Info{}, nil
	}
	if err := c.checkModelType(&info); err != nil {
		return endpoint.Info{}, err
	}
	return endpoint.Info{MaxBatch: max(info.MaxClientBatchSize, 0), Version: c.version(&info)}, nil
}

// errNotInfo marks a JSON answer to GET /info that is not TEI's.
var errNotInfo = httpx.BadResponse("not TEI's /info")

// keepsModelFromStarting reports whether a failed GET /info must fail
// Start. A server that may answer on a retry (5xx, 429, timeouts, a lost
// connection) must; anything else says only that /info is not to be had
// here (a 404 or 403 from a proxy, a redirect, an odd body), which does
// not stop /predict from working, and /predict reports its own errors.
func keepsModelFromStarting(err error) bool {
	switch errkind.KindOf(err) {
	case errkind.Canceled:
		return true
	case errkind.Retryable:
		return errkind.ReasonOf(err) != endpoint.ReasonBadResponse
	}
	return false
}

// checkModelType refuses a model that is not a classifier and compares a
// classifier's labels with the spec's.
func (c *Client) checkModelType(info *infoResponse) error {
	model := httpx.Truncate(info.ModelID)
	if raw, ok := info.ModelType["classifier"]; ok {
		var cm classifierModel
		if err := json.Unmarshal(raw, &cm); err != nil || len(cm.ID2Label) == 0 {
			return nil
		}
		return c.checkLabels(model, serverLabels(cm.ID2Label))
	}
	if raw, ok := info.ModelType["embedding"]; ok {
		var em embeddingModel
		_ = json.Unmarshal(raw, &em)
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: the server serves %q, an embedding model (pooling %q), not a classifier: it has no labels to score; point url at a TEI serving a sequence-classification model",
			c.spec.Name, model, httpx.Truncate(em.Pooling))
	}
	if _, ok := info.ModelType["reranker"]; ok {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: the server serves %q, a reranker: it scores a query against passages, not a text against labels; point url at a TEI serving a sequence-classification model",
			c.spec.Name, model)
	}
	c.warnOnce("model type", "GET /info names no model type this adapter knows; the labels are not checked against the server's")
	return nil
}

// serverLabels lists id2label's names in id order, the model's own.
func serverLabels(id2label map[string]string) []string {
	ids := make([]string, 0, len(id2label))
	for id := range id2label {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return x - y
	})
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id2label[id]
	}
	return out
}

// checkLabels compares the spec's labels with the model's. A configured
// label the model lacks can never be scored: that is the config to fix.
// A model label not configured is dropped from every response (say so
// once), or refused when the spec is strict.
func (c *Client) checkLabels(model string, server []string) error {
	var missing, extra []string
	for _, l := range c.labels.Names() {
		if !slices.Contains(server, l) {
			missing = append(missing, l)
		}
	}
	for _, l := range server {
		if c.labels.Index([]byte(l)) < 0 {
			extra = append(extra, l)
		}
	}
	if len(missing) > 0 {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: labels lists %s, which the server's model %q does not have (its labels: %s): set the model's labels to names the server has",
			c.spec.Name, list(missing), model, list(server))
	}
	if len(extra) == 0 {
		return nil
	}
	if c.spec.StrictLabels {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: strict_labels is set and the server's model %q also scores %s, which labels does not list: add them to labels or unset strict_labels",
			c.spec.Name, model, list(extra))
	}
	c.warnedDrop.Store(true)
	c.warnOnce("labels dropped", "server's model "+strconv.Quote(model)+" scores labels that are not configured; they are dropped (set strict_labels to refuse them): "+list(extra))
	return nil
}

// list joins label names for a message, bounded: a model may have
// hundreds of labels.
func list(names []string) string { return httpx.Truncate(strings.Join(names, ", ")) }

// shortSHA is how much of a model revision goes into the version: as many
// hex digits as git prints for a short hash, enough to tell one model's
// revisions apart, and it leaves room within endpoint.MaxVersionBytes for
// a long model id or local path.
const shortSHA = 12

// version names the served model as "model_id@revision". A model loaded
// from a local path has no revision; then the id (the path) alone names
// it. An id too long keeps its end, which names the model, where a path's
// start is only where it is mounted. A version that could not go into a
// row (control characters, invalid UTF-8) is left out, not fatal: the
// model still scores.
func (c *Client) version(info *infoResponse) string {
	id, sha := info.ModelID, ""
	if info.ModelSHA != nil && *info.ModelSHA != "" {
		sha = *info.ModelSHA
		if len(sha) > shortSHA {
			sha = sha[:shortSHA]
		}
		sha = "@" + sha
	}
	// The revision is at most 13 bytes, so the id keeps over 100.
	if room := endpoint.MaxVersionBytes - len(sha); len(id) > room {
		const ellipsis = "…"
		id = id[len(id)-(room-len(ellipsis)):]
		for len(id) > 0 && !utf8.RuneStart(id[0]) {
			id = id[1:]
		}
		id = ellipsis + id
	}
	v := id + sha
	if err := httpx.CheckVersion(v); err != nil {
		c.warnOnce("version", "the model id and revision GET /info reports cannot be a model version ("+httpx.Truncate(err.Error())+"); rows carry none unless responses set "+VersionHeader)
		return ""
	}
	return v
}

// onceSet reports each condition once.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *Client) warnOnce(key, msg string) {
	if c.spec.Warn == nil {
		return
	}
	c.warned.mu.Lock()
	done := c.warned.seen[key]
	if !done {
		if c.warned.seen == nil {
			c.warned.seen = map[string]bool{}
		}
		c.warned.seen[key] = true
	}
	c.warned.mu.Unlock()
	if !done {
		c.spec.Warn(msg)
	}
}
