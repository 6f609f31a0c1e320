package openinference

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/endpoint/internal/httpx"
	"github.com/chorusml/chorus/worker/endpoint/internal/jsonscan"
	"github.com/chorusml/chorus/worker/errkind"
)

// output is what decode keeps of one output tensor until it has seen all
// of the tensor's members, which may come in any order.
type output struct {
	name, datatype []byte
	shape          [2]int
	dims           int
	data           []byte
}

func (c *Client) decode(b []byte, p *plan, n int) (*endpoint.Result, error) {
	s, ok := jsonscan.New(b)
	if !ok {
		return nil, httpx.BadResponse("infer response is not JSON: %q", snippet(b))
	}
	if !s.Object() {
		return nil, httpx.BadResponse("infer response is not an object: %q", snippet(b))
	}
	var version string
	var out output
	found, outputs := false, 0
	for {
		k, more := s.Key()
		if !more {
			break
		}
		switch string(k) {
		case "model_version":
			// A string, or null or absent (KServe's Python runtimes).
			version, _ = s.String()
		case "id":
			// Not compared with the request's: Triton and current KServe
			// echo it, but older KServe runtimes and custom predictors
			// answer a fresh uuid, and one HTTP exchange pairs the answer
			// with its request anyway.
		case "outputs":
			if !s.Array() {
				return nil, httpx.BadResponse("outputs is not an array")
			}
			for s.More() {
				o, err := readOutput(s)
				if err != nil {
					return nil, err
				}
				outputs++
				if p.output == "" || string(o.name) == p.output {
					out, found = o, true
				}
			}
		}
		s.Skip() // The value, unless a case above consumed it.
	}
	switch {
	case outputs == 0:
		// Not a verdict on the config: a replica answering with nothing.
		return nil, httpx.BadResponse("no outputs in infer response")
	case p.output == "" && outputs > 1:
		return nil, c.incompatible("the response has several outputs (%s) and the model metadata names none; set open_inference.output.name", outputNames(b))
	case !found:
		return nil, c.incompatible("output %q not in response; the server returned: %s; set open_inference.output.name", p.output, outputNames(b))
	}
	if err := httpx.CheckVersion(version); err != nil {
		return nil, err
	}
	name := string(out.name)
	if out.data == nil {
		return nil, httpx.BadResponse("output %q has no data", name)
	}
	var scores [][]float64
	var err error
	switch c.opts.Output.Format {
	case FormatProbabilities, FormatLogits:
		scores, err = c.decodeScores(&out, name, n)
	case FormatClassIndex:
		scores, err = c.decodeClassIndex(&out, name, n)
	case FormatHFProbabilities:
		scores, err = c.decodeHF(&out, name, n)
	case FormatClassification:
		scores, err = c.decodeClassification(&out, name, n)
	}
	if err != nil {
		return nil, err
	}
	return &endpoint.Result{Scores: scores, Version: version}, nil
}

func readOutput(s *jsonscan.Scanner) (output, error) {
	var o output
	if !s.Object() {
		return o, httpx.BadResponse("output is not an object")
	}
	for {
		k, more := s.Key()
		if !more {
			return o, nil
		}
		switch string(k) {
		case "name":
			o.name, _, _ = s.RawString()
		case "datatype":
			o.datatype, _, _ = s.RawString()
		case "shape":
			if s.Array() {
				for s.More() {
					d, ok := s.Int()
					if !ok {
						return o, httpx.BadResponse("output shape holds %q", s.Snippet(16))
					}
					if o.dims < len(o.shape) {
						o.shape[o.dims] = d
					}
					o.dims++
				}
			}
		case "data":
			// Kept raw: the protocol allows it flat or nested, and it may
			// come before the name says whether it is ours.
			o.data = s.Raw()
		}
		s.Skip()
	}
}

// outputNames lists the outputs of a response, for the message saying
// which to configure. It reads b again: the cold path pays for it.
func outputNames(b []byte) string {
	s := jsonscan.Valid(b)
	var names []string
	if !s.Object() {
		return "none"
	}
	for {
		k, more := s.Key()
		if !more {
			break
		}
		if string(k) == "outputs" && s.Array() {
			for s.More() {
				o, err := readOutput(&s)
				if err != nil {
					break
				}
				if len(names) < 8 {
					names = append(names, httpx.Truncate(string(o.name))+" ("+httpx.Truncate(string(o.datatype))+")")
				}
			}
		}
		s.Skip()
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

var floatTypes = []string{"FP16", "BF16", "FP32", "FP64"}

func isOneOf(dt []byte, types []string) bool {
	return slices.Contains(types, string(dt))
}

// decodeScores reads an [N, L] tensor of probabilities or logits.
func (c *Client) decodeScores(out *output, name string, n int) ([][]float64, error) {
	f := c.opts.Output.Format
	if !isOneOf(out.datatype, floatTypes) {
		return nil, c.incompatible("output %q has datatype %q; format %s takes FP32 or FP64; set open_inference.output.format", name, httpx.Truncate(string(out.datatype)), f)
	}
	l := c.labels.Len()
	switch {
	case out.dims == 2 && out.shape[1] != l:
		return nil, c.incompatible("output %q scores %d labels, but %d are configured; set labels to the model's classes, in order", name, out.shape[1], l)
	case out.dims == 1 && l == 1:
		// [N] for a one-label model.
	case out.dims != 2:
		return nil, c.incompatible("output %q has %d dims, want [N, %d] for format %s", name, out.dims, l, f)
	}
	if err := httpx.CheckCount(out.shape[0], n); err != nil {
		return nil, err
	}
	scores, flat := httpx.NewScores(n, l)
	data := jsonscan.Valid(out.data)
	if data.Peek() != '[' {
		return nil, httpx.BadResponse("output %q data is not an array", name)
	}
	got := 0
	if f == FormatLogits {
		if err := flattenRaw(&data, name, flat, &got); err != nil {
			return nil, err
		}
	} else if err := flatten(&data, name, flat, &got); err != nil {
		return nil, err
	}
	if got != n*l {
		return nil, httpx.BadResponse("output %q has %d values for shape [%d %d]", name, got, n, l)
	}
	if f == FormatLogits {
		for _, row := range scores {
			if err := activate(c.opts.Output.Activation, row); err != nil {
				return nil, err
			}
		}
	}
	return scores, nil
}

// flatten writes the numbers of a flat or nested array into dst in
// row-major order, checking each is a probability, and counts them in n
// (counting past len(dst) without writing).
func flatten(s *jsonscan.Scanner, name string, dst []float64, n *int) error {
	if s.Array() {
		for s.More() {
			if err := flatten(s, name, dst, n); err != nil {
				return err
			}
		}
		return nil
	}
	v, ok := s.Number()
	if !ok {
		// Strings ("NaN", "Infinity"), booleans, null, objects.
		return httpx.BadResponse("output %q holds a non-number: %q", name, s.Snippet(16))
	}
	p, err := httpx.Prob(v)
	if err != nil {
		return httpx.BadResponse("output %q holds %v, not a probability: if the output holds raw scores, set open_inference.output.format to logits", name, v)
	}
	if *n < len(dst) {
		dst[*n] = p
	}
	*n++
	return nil
}

// flattenRaw is flatten for logits: any finite number.
func flattenRaw(s *jsonscan.Scanner, name string, dst []float64, n *int) error {
	if s.Array() {
		for s.More() {
			if err := flattenRaw(s, name, dst, n); err != nil {
				return err
			}
		}
		return nil
	}
	v, ok := s.Number()
	if !ok || math.IsInf(v, 0) {
		return httpx.BadResponse("output %q holds a non-number: %q", name, s.Snippet(16))
	}
	if *n < len(dst) {
		dst[*n] = v
	}
	*n++
	return nil
}

// activate turns a row of logits into probabilities in place.
func activate(a Activation, row []float64) error {
	switch a {
	case ActivationSoftmax:
		// Subtracting the largest keeps exp from overflowing.
		hi := math.Inf(-1)
		for _, v := range row {
			hi = max(hi, v)
		}
		var sum float64
		for i, v := range row {
			row[i] = math.Exp(v - hi)
			sum += row[i]
		}
		for i := range row {
			row[i] /= sum
		}
	case ActivationSigmoid:
		for i, v := range row {
			row[i] = 1 / (1 + math.Exp(-v))
		}
	}
	for i, v := range row {
		p, err := httpx.Prob(v)
		if err != nil {
			return err
		}
		row[i] = p
	}
	return nil
}

var intTypes = []string{"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}

// rowsShape checks an output with one value per text: [N] or [N, 1].
func (c *Client) rowsShape(out *output, name string, n int) error {
	if out.dims == 0 || out.dims > 2 || (out.dims == 2 && out.shape[1] != 1) {
		return c.incompatible("output %q is not shaped [N] or [N,1], as format %s needs", name, c.opts.Output.Format)
	}
	return httpx.CheckCount(out.shape[0], n)
}

// decodeClassIndex reads one predicted class index per text.
func (c *Client) decodeClassIndex(out *output, name string, n int) ([][]float64, error) {
	// XGBoost's runtime writes class ids as FP32 whole numbers.
	float := isOneOf(out.datatype, floatTypes)
	if !float && !isOneOf(out.datatype, intTypes) {
		return nil, c.incompatible("output %q has datatype %q; format %s takes integer class ids (or whole-number floats); set open_inference.output.format", name, httpx.Truncate(string(out.datatype)), FormatClassIndex)
	}
	if err := c.rowsShape(out, name, n); err != nil {
		return nil, err
	}
	l := c.labels.Len()
	scores, _ := httpx.NewScores(n, l)
	i := 0
	err := walk(out.data, func(s *jsonscan.Scanner) error {
		v, ok := 0, false
		if float {
			var f float64
			if f, ok = s.Number(); ok && (f != math.Trunc(f) || math.Abs(f) > 1<<31) {
				return c.incompatible("output %q holds %v, not a class index: is the output probabilities?", name, f)
			}
			v = int(f)
		} else {
			v, ok = s.Int()
		}
		if !ok {
			return httpx.BadResponse("output %q holds a non-integer: %q", name, s.Snippet(16))
		}
		if v < 0 || v >= l {
			return c.incompatible("output %q holds class index %d, outside the %d configured labels; set labels to the model's classes, in order", name, v, l)
		}
		if i < n {
			scores[i][v] = 1
		}
		i++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if i != n {
		return nil, httpx.BadResponse("output %q has %d values for %d instances", name, i, n)
	}
	return scores, nil
}

// walk calls leaf for each value of a flat or nested array.
func walk(data []byte, leaf func(*jsonscan.Scanner) error) error {
	s := jsonscan.Valid(data)
	if s.Peek() != '[' {
		return httpx.BadResponse("output data is not an array")
	}
	var rec func() error
	rec = func() error {
		if s.Array() {
			for s.More() {
				if err := rec(); err != nil {
					return err
				}
			}
			return nil
		}
		return leaf(&s)
	}
	return rec()
}

// bytesValue reads one BYTES element: a JSON string.
func bytesValue(s *jsonscan.Scanner, name string) (string, error) {
	v, ok := s.String()
	if !ok {
		return "", httpx.BadResponse("output %q holds a non-string: %q", name, s.Snippet(16))
	}
	return v, nil
}

// decodeHF reads the KServe Hugging Face runtime's probabilities: one
// Python dict literal per text, {index or 'label': probability, ...}.
func (c *Client) decodeHF(out *output, name string, n int) ([][]float64, error) {
	if string(out.datatype) != DatatypeBytes {
		return nil, c.incompatible("output %q has datatype %q; format %s takes BYTES; set open_inference.output.format", name, httpx.Truncate(string(out.datatype)), FormatHFProbabilities)
	}
	if err := c.rowsShape(out, name, n); err != nil {
		return nil, err
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	i := 0
	err := walk(out.data, func(s *jsonscan.Scanner) error {
		v, err := bytesValue(s, name)
		if err != nil {
			return err
		}
		if i >= n {
			i++
			return nil
		}
		m.Row(scores[i])
		i++
		return c.pyDict(m, name, v)
	})
	if err != nil {
		return nil, err
	}
	if i != n {
		return nil, httpx.BadResponse("output %q has %d values for %d instances", name, i, n)
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	return scores, nil
}

// pyDict reads a Python dict literal of scores such as
// "{0: 0.0002, 1: 0.9998}" or "{'positive': 0.9}" into m's current row.
func (c *Client) pyDict(m *httpx.Matcher, name, v string) error {
	body, ok := strings.CutPrefix(strings.TrimSpace(v), "{")
	if ok {
		body, ok = strings.CutSuffix(body, "}")
	}
	if !ok {
		return httpx.BadResponse("output %q holds %q, not a dict of scores", name, httpx.Truncate(v))
	}
	if strings.TrimSpace(body) == "" {
		return httpx.BadResponse("output %q holds an empty dict", name)
	}
	// The runtime's return_raw_logits answers the same dicts with logits:
	// then the activation runs over every class the server returned, so
	// the row is gathered first.
	act := c.opts.Output.Activation
	var labels []string
	var vals []float64
	for item := range strings.SplitSeq(body, ",") {
		key, val, ok := cutLast(item, ':')
		if !ok {
			return httpx.BadResponse("output %q holds %q, not a dict of scores", name, httpx.Truncate(v))
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
			return httpx.BadResponse("output %q holds score %q", name, httpx.Truncate(val))
		}
		label, err := c.label(strings.TrimSpace(key), name)
		if err != nil {
			return err
		}
		if act == ActivationNone {
			if _, err := httpx.Prob(p); err != nil {
				return httpx.BadResponse("output %q holds score %v, not a probability: for the runtime's raw logits set open_inference.output.activation to softmax", name, p)
			}
			if err := m.Set([]byte(label), p); err != nil {
				return err
			}
			continue
		}
		labels, vals = append(labels, label), append(vals, p)
	}
	if act == ActivationNone {
		return nil
	}
	if err := activate(act, vals); err != nil {
		return err
	}
	for i, label := range labels {
		if err := m.Set([]byte(label), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// label reads a class key: an index into the configured labels, or a
// quoted label name.
func (c *Client) label(key, name string) (string, error) {
	if len(key) >= 2 && (key[0] == '\'' || key[0] == '"') && key[len(key)-1] == key[0] {
		return key[1 : len(key)-1], nil
	}
	j, err := strconv.Atoi(key)
	if err != nil {
		return "", httpx.BadResponse("output %q holds class key %q", name, httpx.Truncate(key))
	}
	return c.indexLabel(j, name)
}

func (c *Client) indexLabel(j int, name string) (string, error) {
	if l := c.labels.Len(); j < 0 || j >= l {
		return "", c.incompatible("output %q holds class index %d, outside the %d configured labels; set labels to the model's classes, in order", name, j, l)
	}
	return c.labels.Names()[j], nil
}

// decodeClassification reads Triton's classification extension: for each
// text, K strings "score:index" or "score:index:label".
func (c *Client) decodeClassification(out *output, name string, n int) ([][]float64, error) {
	// Triton writes BYTES; its docs show STRING.
	if dt := string(out.datatype); dt != DatatypeBytes && dt != "STRING" {
		return nil, c.incompatible("output %q has datatype %q; the classification extension answers BYTES: is the server Triton?", name, httpx.Truncate(dt))
	}
	k := out.shape[1]
	switch {
	case out.dims == 2:
		if err := httpx.CheckCount(out.shape[0], n); err != nil {
			return nil, err
		}
	case out.dims == 1 && n == 1:
		// A model without a batch dimension answers [K].
		k = out.shape[0]
	case out.dims == 1:
		// A model without a batch dimension classifies the whole tensor
		// at once: it can score one text per request.
		return nil, &errkind.Error{Kind: errkind.Permanent, Reason: endpoint.ReasonBatchTooLarge, Err: &endpoint.LimitError{Max: 1,
			Err: fmt.Errorf("output %q has shape [%d] for %d texts: the model does not batch, so Triton classifies the whole tensor, not each text", name, out.shape[0], n)}}
	default:
		return nil, c.incompatible("output %q has %d dims, want [N, K] for format %s", name, out.dims, FormatClassification)
	}
	if k <= 0 {
		return nil, httpx.BadResponse("output %q has shape with K = %d", name, k)
	}
	scores, _ := httpx.NewScores(n, c.labels.Len())
	m := c.labels.Matcher()
	act := c.opts.Output.Activation
	row := make([]classResult, 0, k)
	vals := make([]float64, 0, k)
	i := 0
	flush := func() error {
		m.Row(scores[i])
		vals = vals[:0]
		for _, cl := range row {
			vals = append(vals, cl.v)
		}
		if act != ActivationNone {
			if err := activate(act, vals); err != nil {
				return err
			}
		}
		for j, cl := range row {
			if err := m.Set([]byte(cl.label), vals[j]); err != nil {
				return err
			}
		}
		row = row[:0]
		i++
		return nil
	}
	total := 0
	err := walk(out.data, func(s *jsonscan.Scanner) error {
		v, err := bytesValue(s, name)
		if err != nil {
			return err
		}
		total++
		if i >= n {
			return nil
		}
		cl, err := c.classResult(v, name)
		if err != nil {
			return err
		}
		if act == ActivationNone {
			if _, err := httpx.Prob(cl.v); err != nil {
				return httpx.BadResponse("output %q: %q scores %v, not a probability: Triton classifies raw output values; if they are logits, set open_inference.output.activation to softmax (sigmoid for multi-label models)", name, httpx.Truncate(v), cl.v)
			}
		}
		row = append(row, cl)
		if len(row) == k {
			return flush()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if total != n*k {
		return nil, httpx.BadResponse("output %q has %d values for shape [%d %d]", name, total, n, k)
	}
	if err := m.Done(); err != nil {
		return nil, err
	}
	return scores, nil
}

type classResult struct {
	label string
	v     float64
}

// classResult reads one "score:index[:label]" string; the label, which may
// itself hold colons, wins over the index.
func (c *Client) classResult(v, name string) (classResult, error) {
	score, rest, ok := strings.Cut(v, ":")
	if !ok {
		return classResult{}, httpx.BadResponse("output %q holds %q, not score:index[:label]", name, httpx.Truncate(v))
	}
	index, label, hasLabel := strings.Cut(rest, ":")
	f, err := strconv.ParseFloat(score, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return classResult{}, httpx.BadResponse("output %q holds %q, not score:index[:label]", name, httpx.Truncate(v))
	}
	j, err := strconv.Atoi(index)
	if err != nil {
		return classResult{}, httpx.BadResponse("output %q holds %q, not score:index[:label]", name, httpx.Truncate(v))
	}
	if hasLabel && label != "" {
		return classResult{label, f}, nil
	}
	label, err = c.indexLabel(j, name)
	if err != nil {
		return classResult{}, err
	}
	return classResult{label, f}, nil
}

func snippet(b []byte) []byte { return b[:min(len(b), 64)] }
