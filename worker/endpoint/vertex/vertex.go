// Package vertex is the endpoint adapter for the ":predict" REST APIs that
// take {"instances": [...]} and answer {"predictions": [...]}: Vertex AI
// online prediction, TensorFlow Serving and KServe's V1 protocol.
//
// A batch is one POST to the spec's URL when it ends in ":predict" (a
// Vertex endpoint), else to {URL}/v1/models/{name}[/versions/{v}]:predict.
// Servers differ in how a text is wrapped into an instance and how a
// prediction is written, so both are options (Instance, Prediction); the
// model version is Vertex's modelVersionId when the response has one,
// else the version the path pins.
package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
	"github.com/chorusml/chorus/worker/errkind"
)

// Instance is how one text is written into the request's instances.
type Instance string

// Instance forms.
const (
	// InstanceAutoMLText is Vertex AutoML text: {"content": text,
	// "mimeType": "text/plain"}.
	InstanceAutoMLText Instance = "automl_text"
	// InstanceString is the text itself, for a model with one string
	// input (TF Serving, KServe's V1 runtimes).
	InstanceString Instance = "string"
	// InstanceInputs is {"inputs": text}.
	InstanceInputs Instance = "inputs"
	// InstanceKey is {InstanceKey: text}: a named input tensor.
	InstanceKey Instance = "key"
)

// Prediction is how the server writes one prediction.
type Prediction string

// Prediction forms.
const (
	// PredictionAutoML is Vertex AutoML classification: {"ids": [...],
	// "displayNames": [...], "confidences": [...]}.
	PredictionAutoML Prediction = "automl"
	// PredictionScoresClasses is {"scores": [...], "classes": [...]}: TF
	// classification signatures and Vertex tabular classification.
	PredictionScoresClasses Prediction = "scores_classes"
	// PredictionProbabilities is a list of numbers, one per label in the
	// spec's label order.
	PredictionProbabilities Prediction = "probabilities"
	// PredictionLabelScore is a list of {"label", "score"} objects (or
	// one such object), as Hugging Face text-classification pipelines
	// write them.
	PredictionLabelScore Prediction = "label_score"
	// PredictionClassIndex is the index of the predicted label in the
	// spec's labels; it scores 1, the others 0.
	PredictionClassIndex Prediction = "class_index"
)

// Instances and Predictions list the forms, for config validation.
var (
	Instances   = []Instance{InstanceAutoMLText, InstanceString, InstanceInputs, InstanceKey}
	Predictions = []Prediction{PredictionAutoML, PredictionScoresClasses, PredictionProbabilities, PredictionLabelScore, PredictionClassIndex}
)

// MIMEType is the AutoML instance type for text classification.
const MIMEType = "text/plain"

// Options select the request and response forms. The zero value is
// Vertex AutoML text classification.
type Options struct {
	Instance    Instance // default InstanceAutoMLText
	InstanceKey string   // the input name, for InstanceKey
	MIMEType    string   // for InstanceAutoMLText; default MIMEType
	Prediction  Prediction
	// Parameters is sent as the request's "parameters" object (Vertex:
	// e.g. confidenceThreshold, maxPredictions). Each value is JSON text.
	Parameters map[string]string
	// SignatureName is sent as "signature_name" (TF Serving).
	SignatureName string
}

// Client calls one model. It is safe for concurrent use.
type Client struct {
	call   *httpx.Caller
	url    string
	model  string
	labels *httpx.Labels
	pred   Prediction
	// pinned is the version the request path names, reported when the
	// response names none (TF Serving's does not).
	pinned string
	// The request is written by hand from these parts: head opens it up
	// to the instances array, and each text goes between pre and post.
	head, pre, post []byte
}

var _ endpoint.Client = (*Client)(nil)

// New checks spec and opts and returns a client for them.
func New(spec endpoint.Spec, opts Options) (*Client, error) {
	b, err := httpx.NewBase(spec)
	if err != nil {
		return nil, err
	}
	target, pinned := b.URL, ""
	if !strings.HasSuffix(target, ":predict") {
		target += "/v1/models/" + url.PathEscape(httpx.RemoteName(spec))
		if spec.Version != "" {
			target += "/versions/" + url.PathEscape(spec.Version)
			pinned = spec.Version
		}
		target += ":predict"
	}
	c := &Client{call: b.Caller, url: target, model: spec.Name, labels: b.Labels, pred: opts.Prediction, pinned: pinned}
	if c.pred == "" {
		c.pred = PredictionAutoML
	}
	if !slices.Contains(Predictions, c.pred) {
		return nil, httpx.SpecError("model %q: prediction form %q is not one of %s", spec.Name, c.pred, list(Predictions))
	}
	if err := c.buildRequest(spec.Name, opts); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) buildRequest(model string, opts Options) error {
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	switch opts.Instance {
	case InstanceAutoMLText, "":
		mime := opts.MIMEType
		if mime == "" {
			mime = MIMEType
		}
		c.pre, c.post = []byte(`{"content":`), []byte(`,"mimeType":`+str(mime)+`}`)
	case InstanceString:
	case InstanceInputs:
		c.pre, c.post = []byte(`{"inputs":`), []byte(`}`)
	case InstanceKey:
		if opts.InstanceKey == "" {
			return httpx.SpecError("model %q: instance form %q needs an instance key", model, InstanceKey)
		}
		c.pre, c.post = []byte(`{`+str(opts.InstanceKey)+`:`), []byte(`}`)
	default:
		return httpx.SpecError("model %q: instance form %q is not one of %s", model, opts.Instance, list(Instances))
	}
	var head bytes.Buffer
	head.WriteByte('{')
	if opts.SignatureName != "" {
		head.WriteString(`"signature_name":` + str(opts.SignatureName) + `,`)
	}
	if len(opts.Parameters) > 0 {
		keys := make([]string, 0, len(opts.Parameters))
		for k := range opts.Parameters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		head.WriteString(`"parameters":{`)
		for i, k := range keys {
			if i > 0 {
				head.WriteByte(',')
			}
			head.WriteString(str(k) + ":")
			if err := json.Compact(&head, []byte(opts.Parameters[k])); err != nil {
				return httpx.SpecError("model %q: parameter %q is not JSON text: %v", model, k, err)
			}
		}
		head.WriteString(`},`)
	}
	head.WriteString(`"instances":[`)
	c.head = head.Bytes()
	return nil
}

func list[T ~string](forms []T) string {
	s := make([]string, len(forms))
	for i, f := range forms {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Predict scores texts with one predict request.
func (c *Client) Predict(ctx context.Context, texts []string) (*endpoint.Result, error) {
	if len(texts) == 0 {
		return &endpoint.Result{Scores: [][]float64{}}, nil
	}
	body := httpx.NewBuffer()
	body.Write(c.head)
	for i, t := range texts {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(c.pre)
		body.Write(appendString(body.AvailableBuffer(), t))
		body.Write(c.post)
	}
	body.WriteString("]}")
	var res *endpoint.Result
	err := c.call.Post(ctx, c.url, body, func(b []byte, _ http.Header) error {
		var err error
		res, err = c.decode(b, len(texts))
		return err
	})
	if err != nil {
		return nil, c.classify(err)
	}
	return res, nil
}

// configErrors are the servers' answers (HTTP 400) to a request whose
// form does not fit: TF Serving's ({"error": ...}) when the instances do
// not match the model's signature, Google's when a request member is not
// in Vertex's PredictRequest. They depend on the config, not on a text, so
// bisecting the batch would only find that every text is refused.
var configErrors = []struct{ text, fix string }{
	{"Invalid JSON payload received. Unknown name", "vertex.signature_name and vertex.parameters"},
	{"not found in signature def", "vertex.signature_name"},
	{"does not have named input", "vertex.instance / vertex.instance_key"},
	{"must only have keys", "vertex.instance / vertex.instance_key"},
	{"instances is a plain list, but expecting list of objects", "vertex.instance"},
	{"is not of expected type", "vertex.instance (the model's input is not a string tensor)"},
}

func (c *Client) classify(err error) error {
	if errkind.ReasonOf(err) != endpoint.ReasonBadRequest {
		return err
	}
	msg := err.Error()
	for _, e := range configErrors {
		if strings.Contains(msg, e.text) {
			return httpx.Misconfigured(endpoint.ReasonIncompatible, "model %q: the server refuses the request's form, not a text (check %s): %w", c.model, e.fix, err)
		}
	}
	return err
}

func (c *Client) decode(b []byte, n int) (*endpoint.Result, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return nil, httpx.BadResponse("predict response is not JSON: %q", b[:min(len(b), 64)])
	}
	if !s.Object() {
		return nil, httpx.BadResponse("predict response is not an object: %q", b[:min(len(b), 64)])
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	var version string
	got := 0
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "modelVersionId":
			version, _ = s.String()
		case "predictions":
			if !s.Array() {
				return nil, httpx.BadResponse("predictions is not an array")
			}
			for s.More() {
				if got >= n {
					return nil, httpx.BadResponse("more than %d predictions for %d instances", n, n)
				}
				at := *s
				m.Row(scores[got])
				if err := c.readPrediction(s, m, scores[got]); err != nil {
					return nil, c.explain(err, &at, got)
				}
				got++
			}
		}
		s.Skip()
	}
	if err := httpx.CheckCount(got, n); err != nil {
		return nil, err
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	if err := httpx.CheckVersion(version); err != nil {
		return nil, err
	}
	if version == "" {
		version = c.pinned
	}
	return &endpoint.Result{Scores: scores, Version: version}, nil
}

// shapeError is a prediction that is not of the configured form at all;
// explain tells a server speaking another form from a broken answer.
type shapeError string

func (e shapeError) Error() string { return string(e) }

func (c *Client) readPrediction(s *jsonscan.Scanner, m *httpx.Matcher, row []float64) error {
	switch c.pred {
	case PredictionScoresClasses:
		return readPairs(s, m, "classes", "scores")
	case PredictionProbabilities:
		return c.readProbabilities(s, row)
	case PredictionLabelScore:
		return readLabelScores(s, m)
	case PredictionClassIndex:
		return c.readClassIndex(s, row)
	default:
		return readPairs(s, m, "displayNames", "confidences")
	}
}

// explain turns a shapeError into Misconfigured when the prediction at is
// plainly of another known form (the config names the wrong one), else
// into a bad response.
func (c *Client) explain(err error, at *jsonscan.Scanner, i int) error {
	se, ok := err.(shapeError)
	if !ok {
		return httpx.Wrap(err, "prediction %d", i)
	}
	form, what := detect(at.Raw())
	if form != "" && form != c.pred {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: vertex.prediction is %s, which expects %s, but prediction %d is %s: set vertex.prediction to %s",
			c.model, c.pred, expects[c.pred], i, what, form)
	}
	return httpx.BadResponse("prediction %d: %s (got %s)", i, string(se), what)
}

var expects = map[Prediction]string{
	PredictionAutoML:        "{ids, displayNames, confidences}",
	PredictionScoresClasses: "{scores, classes}",
	PredictionProbabilities: "a list of numbers in label order",
	PredictionLabelScore:    "a list of {label, score}",
	PredictionClassIndex:    "a class index",
}

// detect names the form a prediction is written in, if it is a known
// one, and describes it for an error message. It runs only on the error
// path.
func detect(raw []byte) (Prediction, string) {
	s := jsonscan.Valid(raw)
	switch s.Peek() {
	case '{':
		keys := objectKeys(&s)
		has := func(k string) bool { return slices.Contains(keys, k) }
		what := "an object with keys " + httpx.Truncate(strings.Join(keys, ", "))
		if len(keys) == 0 {
			what = "an empty object"
		}
		switch {
		case has("displayNames") || has("confidences"):
			return PredictionAutoML, what
		case has("scores") || has("classes"):
			return PredictionScoresClasses, what
		case has("label") && has("score"):
			return PredictionLabelScore, what
		case len(keys) > 0 && !slices.ContainsFunc(keys, func(k string) bool { _, ok := classIndex([]byte(k)); return !ok }):
			return PredictionProbabilities, "an object of class index to probability"
		}
		return "", what
	case '[':
		s.Array()
		if !s.More() {
			return "", "an empty list"
		}
		switch s.Peek() {
		case '{':
			if slices.Contains(objectKeys(&s), "label") {
				return PredictionLabelScore, "a list of {label, score} objects"
			}
			return "", "a list of objects"
		case '[':
			return "", "a list of lists"
		case '"':
			return "", "a list of strings"
		case 't', 'f', 'n':
			return "", "a list of literals"
		}
		return PredictionProbabilities, "a list of numbers"
	case '"':
		return "", "a string"
	case 't', 'f':
		return "", "a boolean"
	case 'n':
		return "", "null"
	}
	if _, ok := s.Int(); ok {
		return PredictionClassIndex, "an integer"
	}
	return "", "a number"
}

func objectKeys(s *jsonscan.Scanner) []string {
	var keys []string
	s.Object()
	for {
		k, more := s.Key()
		if !more {
			return keys
		}
		if len(keys) < 8 {
			keys = append(keys, string(k))
		}
		s.Skip()
	}
}

// readPairs reads an object holding a list of label names and a list of
// scores that pair up by position (AutoML's displayNames and confidences,
// TF's classes and scores). Both must be there: a prediction without them
// is not a prediction of no labels (an empty object is: see below).
// Other members (AutoML's ids) add nothing the names do not say.
func readPairs(s *jsonscan.Scanner, m *httpx.Matcher, nameKey, scoreKey string) error {
	if !s.Object() {
		return shapeError("not an object")
	}
	// The two lists may come in either order, so both are kept raw until
	// the object ends.
	var names, confs []byte
	members := 0
	for {
		k, more := s.Key()
		if !more {
			break
		}
		members++
		switch string(k) {
		case nameKey:
			names = s.Raw()
		case scoreKey:
			confs = s.Raw()
		}
		s.Skip()
	}
	if names == nil && confs == nil && members == 0 {
		// Proto3 JSON leaves out empty lists: {} is how Vertex writes a
		// prediction with no label above confidenceThreshold.
		return nil
	}
	if names == nil || confs == nil {
		return shapeError(fmt.Sprintf("no %s and %s", nameKey, scoreKey))
	}
	ns, cs := jsonscan.Valid(names), jsonscan.Valid(confs)
	if !ns.Array() {
		return httpx.BadResponse("%s is not a list: %q", nameKey, ns.Snippet(16))
	}
	if !cs.Array() {
		return httpx.BadResponse("%s is not a list: %q", scoreKey, cs.Snippet(16))
	}
	for i := 0; ; i++ {
		nm, cm := ns.More(), cs.More()
		if nm != cm {
			return httpx.BadResponse("%s and %s differ in length", nameKey, scoreKey)
		}
		if !nm {
			return nil
		}
		label, escaped, ok := ns.RawString()
		if !ok {
			return httpx.BadResponse("%s[%d] is not a string: %q", nameKey, i, ns.Snippet(16))
		}
		if escaped {
			label = []byte(jsonscan.Unescape(label))
		}
		v, ok := cs.Number()
		if !ok {
			return httpx.BadResponse("%s[%d] is not a number: %q", scoreKey, i, cs.Snippet(16))
		}
		if err := m.Set(label, v); err != nil {
			return err
		}
	}
}

// readLabelScores reads a list of {label, score} objects, or one object
// (a pipeline asked for its top label only).
func readLabelScores(s *jsonscan.Scanner, m *httpx.Matcher) error {
	switch s.Peek() {
	case '{':
		return readLabelScore(s, m)
	case '[':
		s.Array()
		for s.More() {
			if err := readLabelScore(s, m); err != nil {
				return err
			}
		}
		return nil
	}
	return shapeError("not a list of {label, score}")
}

func readLabelScore(s *jsonscan.Scanner, m *httpx.Matcher) error {
	if !s.Object() {
		return shapeError("not a {label, score} object")
	}
	var label []byte
	var score float64
	var haveLabel, haveScore bool
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "label":
			raw, escaped, ok := s.RawString()
			if !ok {
				return httpx.BadResponse("label is not a string: %q", s.Snippet(16))
			}
			if escaped {
				raw = []byte(jsonscan.Unescape(raw))
			}
			label, haveLabel = raw, true
		case "score":
			v, ok := s.Number()
			if !ok {
				return httpx.BadResponse("score is not a number: %q", s.Snippet(16))
			}
			score, haveScore = v, true
		}
		s.Skip()
	}
	if !haveLabel || !haveScore {
		return shapeError("no label and score")
	}
	return m.Set(label, score)
}

// readProbabilities reads a list of one probability per label, in the
// spec's label order, or an object from class index to probability
// (KServe's Hugging Face runtime with --return_probabilities).
func (c *Client) readProbabilities(s *jsonscan.Scanner, row []float64) error {
	if s.Peek() == '{' {
		return c.readIndexedProbabilities(s, row)
	}
	if !s.Array() {
		return shapeError("not a list of numbers")
	}
	j := 0
	for s.More() {
		v, ok := s.Number()
		if !ok {
			if j == 0 {
				return shapeError("not a list of numbers")
			}
			return httpx.BadResponse("probability %d is not a number: %q", j, s.Snippet(16))
		}
		if j < len(row) {
			p, err := httpx.Prob(v)
			if err != nil {
				return err
			}
			row[j] = p
		}
		j++
	}
	if j != len(row) {
		// The model's class count is fixed, so this is the label list.
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: the server returns %d probabilities per prediction but %d labels are configured: set labels to the model's classes, in its output order",
			c.model, j, len(row))
	}
	return nil
}

// readIndexedProbabilities reads {"0": p0, "1": p1, ...}.
func (c *Client) readIndexedProbabilities(s *jsonscan.Scanner, row []float64) error {
	s.Object()
	n := 0
	for {
		k, more := s.Key()
		if !more {
			break
		}
		j, ok := classIndex(k)
		if !ok {
			return shapeError("not an object of class index to probability")
		}
		v, ok := s.Number()
		if !ok {
			return httpx.BadResponse("probability of class %d is not a number: %q", j, s.Snippet(16))
		}
		if j >= len(row) {
			return httpx.Misconfigured(endpoint.ReasonIncompatible,
				"model %q: the server scores class %d but %d labels are configured: set labels to the model's classes, in index order",
				c.model, j, len(row))
		}
		p, err := httpx.Prob(v)
		if err != nil {
			return err
		}
		row[j] = p
		n++
	}
	if n != len(row) {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: the server returns %d probabilities per prediction but %d labels are configured: set labels to the model's classes, in index order",
			c.model, n, len(row))
	}
	return nil
}

// classIndex reads an object key that is a class index ("0", "12").
func classIndex(k []byte) (int, bool) {
	if len(k) == 0 || len(k) > 6 {
		return 0, false
	}
	n := 0
	for _, d := range k {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

// readClassIndex reads the index of the predicted label.
func (c *Client) readClassIndex(s *jsonscan.Scanner, row []float64) error {
	if p := s.Peek(); p != '-' && (p < '0' || p > '9') {
		return shapeError("not a class index")
	}
	v, ok := s.Int()
	if !ok {
		return shapeError("not an integer class index")
	}
	if v < 0 || v >= len(row) {
		return httpx.Misconfigured(endpoint.ReasonIncompatible,
			"model %q: the server predicts class %d but %d labels are configured: set labels to the model's classes, in index order",
			c.model, v, len(row))
	}
	row[v] = 1
	return nil
}

// appendString appends s to b as a JSON string. It is json.Marshal's
// result without its HTML escaping (as the shared encoder is set) and
// without boxing each text into an interface, which was one allocation
// per text. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
