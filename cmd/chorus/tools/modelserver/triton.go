package modelserver

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The Triton dialect serves each model as a Triton model repository entry
// would: one BYTES input of dims [1] with batching on, one FP32 output of
// raw logits with a label file, on the Python backend (which tokenizes
// text itself). Triton's metadata names a backend model's platform by its
// backend; its config leaves platform empty.
const (
	tritonInput   = "TEXT"
	tritonOutput  = "logits"
	tritonBackend = "python"
	// tritonVersion is every model's version: Triton numbers a model's
	// versions (its repository's directories), so the refmodel's hash
	// cannot be one.
	tritonVersion = "1"
	// tritonNoID is what Triton's request log prefix names a request
	// without an id.
	tritonNoID = "<id_unknown>"
)

func (s *Server) routeTriton() {
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	s.mux.HandleFunc("GET /v2/health/live", ok)
	s.mux.HandleFunc("GET /v2/health/ready", ok)
	s.mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"name": "triton", "version": "2.52.0", "extensions": []string{
			"classification", "sequence", "model_repository", "model_repository(unload_dependents)",
			"schedule_policy", "model_configuration", "system_shared_memory", "cuda_shared_memory",
			"binary_tensor_data", "parameters", "statistics", "trace", "logging"}})
		writeJSON(w, http.StatusOK, b)
	})
	s.routeModels(s.tritonMetadata, func(w http.ResponseWriter, r *http.Request) {
		if s.tritonModel(w, r) != nil {
			w.WriteHeader(http.StatusOK)
		}
	}, s.tritonInfer)
	s.mux.HandleFunc("GET /v2/models/{name}/config", s.tritonConfig)
	s.mux.HandleFunc("GET /v2/models/{name}/versions/{version}/config", s.tritonConfig)
}

// tritonModel finds a model with Triton's words for one it does not have.
// A version must be an integer, and only tritonVersion is served.
func (s *Server) tritonModel(w http.ResponseWriter, r *http.Request) *model {
	name, v := r.PathValue("name"), r.PathValue("version")
	if v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			oipError(w, http.StatusBadRequest, fmt.Sprintf("failed to get model version from specified version string '%s'", v))
			return nil
		}
	}
	m, ok := s.models[name]
	switch {
	case !ok:
		oipError(w, http.StatusNotFound, fmt.Sprintf("Request for unknown model: '%s' is not found", name))
		return nil
	case v != "" && v != tritonVersion:
		oipError(w, http.StatusNotFound, fmt.Sprintf("Request for unknown model: '%s' version %s is not found", name, v))
		return nil
	}
	return m
}

// tritonMaxBatch is the max_batch_size the model config reports. Triton
// has no "unlimited" (0 turns batching off), so no limit is the largest
// int32.
func (s *Server) tritonMaxBatch() int {
	if s.opts.MaxBatch > 0 {
		return s.opts.MaxBatch
	}
	return math.MaxInt32
}

func (s *Server) tritonMetadata(w http.ResponseWriter, r *http.Request) {
	m := s.tritonModel(w, r)
	if m == nil {
		return
	}
	b, _ := json.Marshal(oipModelMeta{
		Name:     m.name,
		Versions: []string{tritonVersion},
		Platform: tritonBackend,
		// A batching model lists its batch dimension as -1.
		Inputs:  []oipTensorMeta{{tritonInput, "BYTES", []int{-1, 1}}},
		Outputs: []oipTensorMeta{{tritonOutput, "FP32", []int{-1, len(m.labels)}}},
	})
	writeJSON(w, http.StatusOK, b)
}

type tritonTensorConfig struct {
	Name          string `json:"name"`
	DataType      string `json:"data_type"`
	Dims          []int  `json:"dims"`
	LabelFilename string `json:"label_filename,omitempty"`
}

// tritonConfig answers the model configuration extension: the config.pbtxt
// in its JSON form, where a client finds max_batch_size.
func (s *Server) tritonConfig(w http.ResponseWriter, r *http.Request) {
	m := s.tritonModel(w, r)
	if m == nil {
		return
	}
	b, _ := json.Marshal(struct {
		Name         string               `json:"name"`
		Platform     string               `json:"platform"`
		Backend      string               `json:"backend"`
		MaxBatchSize int                  `json:"max_batch_size"`
		Input        []tritonTensorConfig `json:"input"`
		Output       []tritonTensorConfig `json:"output"`
	}{
		Name:         m.name,
		Platform:     "",
		Backend:      tritonBackend,
		MaxBatchSize: s.tritonMaxBatch(),
		Input:        []tritonTensorConfig{{Name: tritonInput, DataType: "TYPE_STRING", Dims: []int{1}}},
		Output:       []tritonTensorConfig{{Name: tritonOutput, DataType: "TYPE_FP32", Dims: []int{len(m.labels)}, LabelFilename: "labels.txt"}},
	})
	writeJSON(w, http.StatusOK, b)
}

// tritonLog is the prefix Triton's core puts on a request's validation
// errors.
func tritonLog(id string) string {
	if id == "" {
		id = tritonNoID
	}
	return "[request id: " + id + "] "
}

func (s *Server) tritonInfer(w http.ResponseWriter, r *http.Request) {
	m := s.tritonModel(w, r)
	if m == nil {
		return
	}
	var req oipRequest
	// Triton's JSON helpers code their errors INTERNAL: a body it cannot
	// parse is answered 500, not 400.
	if status, err := decode(w, r, &req); err != nil {
		if status == http.StatusBadRequest {
			status = http.StatusInternalServerError
		}
		oipError(w, status, "failed to parse the request JSON buffer: "+err.Error())
		return
	}
	texts, k, status, refused := tritonTexts(&req, m.name)
	if refused != "" {
		oipError(w, status, refused)
		return
	}
	scores, f, ok := s.score(w, r, m, texts, refusals{fail: oipError, tooLarge: func(w http.ResponseWriter, m *model, n, limit int) {
		oipError(w, http.StatusBadRequest, fmt.Sprintf("%sinference request batch-size must be <= %d for '%s'", tritonLog(req.ID), limit, m.name))
	}})
	if !ok {
		return
	}
	if f.Garbage {
		writeGarbage(w)
		return
	}
	logits := toLogits(scores, m.m.MultiLabel())
	if f.UnknownLabel && k == 0 {
		// The tensor carries no label names: the fault is a column the
		// configured labels do not have. Classification names labels, so
		// there the fault renames one (faultLabels).
		for i := range logits {
			logits[i] = append(logits[i], 0)
		}
	}
	respond(w, func(b []byte) []byte {
		// Triton writes the id first, when the request has one.
		b = append(b, '{')
		if req.ID != "" {
			b = append(b, `"id":`...)
			b = append(b, quote(req.ID)...)
			b = append(b, ',')
		}
		b = append(b, `"model_name":`...)
		b = append(b, m.qName...)
		b = append(b, `,"model_version":`...)
		b = append(b, `"`+tritonVersion+`"`...)
		b = append(b, `,"outputs":[{"name":"`+tritonOutput+`","datatype":`...)
		if k > 0 {
			b = appendClassification(b, logits, k, faultLabels(m, f))
		} else {
			b = appendLogits(b, logits)
		}
		return append(b, "}]}"...)
	})
}

// tritonShapeNote is what Triton adds to a shape error for a batching
// model.
const tritonShapeNote = ". NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended to each input shape. " +
	"If you want to specify the full shape including the batch dim in your input dims config, try setting max_batch_size to zero. " +
	"See the model configuration docs for more info on max_batch_size."

// tritonTexts checks the request as Triton does, in its order and words
// (only some carry the request log prefix), and returns the texts and the
// classification count asked of the output (0 for the tensor itself). A
// refusal comes with its status: 400 for Triton's request validation, 500
// for what its JSON helpers refuse.
func tritonTexts(req *oipRequest, model string) (texts []string, k, status int, refused string) {
	log := tritonLog(req.ID)
	if req.Inputs == nil {
		return nil, 0, http.StatusInternalServerError, "Unable to parse 'inputs': attempt to access non-existing object member 'inputs'"
	}
	if len(req.Inputs) != 1 {
		return nil, 0, http.StatusBadRequest, tritonInputCount(log, req.Inputs, model)
	}
	for _, o := range req.Outputs {
		if o.Name != tritonOutput {
			return nil, 0, http.StatusBadRequest, fmt.Sprintf("unexpected inference output '%s' for model '%s'", o.Name, model)
		}
		k = max(k, o.Parameters.Classification)
	}
	in := req.Inputs[0]
	if in.Name != tritonInput {
		return nil, 0, http.StatusBadRequest, fmt.Sprintf("unexpected inference input '%s' for model '%s'", in.Name, model)
	}
	if in.Datatype != "BYTES" {
		return nil, 0, http.StatusBadRequest, fmt.Sprintf("%sinference input '%s' data-type is '%s', but model '%s' expects 'BYTES'", log, in.Name, in.Datatype, model)
	}
	if len(in.Shape) != 2 || in.Shape[1] != 1 || in.Shape[0] < 1 {
		return nil, 0, http.StatusBadRequest, fmt.Sprintf("%sunexpected shape for input '%s' for model '%s'. Expected [-1,1], got %s%s", log, in.Name, model, shapeString(in.Shape), tritonShapeNote)
	}
	texts, err := inputTexts(in)
	if err != nil {
		return nil, 0, http.StatusInternalServerError, "Unable to parse 'data': attempt to access JSON non-string as string"
	}
	if len(texts) != in.Shape[0] {
		return nil, 0, http.StatusInternalServerError, "Failed to parse 'data' field: shape does not match true shape"
	}
	return texts, k, 0, ""
}

// tritonInputCount is Triton's refusal of a request whose inputs are not
// the model's one. It writes an empty missing list as "]", as Triton does.
func tritonInputCount(log string, inputs []oipInput, model string) string {
	got := make([]string, len(inputs))
	missing := "]"
	for i, in := range inputs {
		got[i] = "'" + in.Name + "'"
	}
	if !slices.ContainsFunc(inputs, func(in oipInput) bool { return in.Name == tritonInput }) {
		missing = "['" + tritonInput + "']"
	}
	return fmt.Sprintf("%sexpected 1 inputs but got %d inputs for model '%s'. Got input(s) [%s], but missing required input(s) %s. Please provide all required input(s).",
		log, len(inputs), model, strings.Join(got, ","), missing)
}

// shapeString writes dims as Triton's messages do: [2,1].
func shapeString(dims []int) string {
	b := []byte{'['}
	for i, d := range dims {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	return string(append(b, ']'))
}

// minProb keeps a logit finite for a probability of 0 (or 1).
const minProb = 1e-9

// toLogits turns probabilities back into logits the model could have
// produced: log p for one distribution (softmax gives p back), log-odds
// for labels scored one by one (the sigmoid gives p back). A fault's
// score out of [0, 1] is clamped into it first.
func toLogits(scores [][]float64, multiLabel bool) [][]float64 {
	out := make([][]float64, len(scores))
	for i, row := range scores {
		l := make([]float64, len(row))
		for j, p := range row {
			if math.IsNaN(p) {
				l[j] = p
				continue
			}
			p = min(max(p, minProb), 1-minProb)
			if multiLabel {
				l[j] = math.Log(p / (1 - p))
			} else {
				l[j] = math.Log(p)
			}
		}
		out[i] = l
	}
	return out
}

// appendLogits writes the output's datatype onward for the tensor itself.
func appendLogits(b []byte, logits [][]float64) []byte {
	cols := 0
	if len(logits) > 0 {
		cols = len(logits[0])
	}
	b = append(b, `"FP32","shape":[`...)
	b = strconv.AppendInt(b, int64(len(logits)), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(cols), 10)
	b = append(b, `],"data":[`...)
	first := true
	for _, row := range logits {
		for _, v := range row {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendScore(b, v)
		}
	}
	return append(b, ']')
}

// appendClassification writes the output's datatype onward as Triton's
// classification extension answers: per row, the top k classes by value
// as BYTES "value:index:label" (the label left off where the label file
// has none), shape [N, k].
func appendClassification(b []byte, logits [][]float64, k int, labels [][]byte) []byte {
	cols := 0
	if len(logits) > 0 {
		cols = len(logits[0])
	}
	k = min(k, cols)
	b = append(b, `"BYTES","shape":[`...)
	b = strconv.AppendInt(b, int64(len(logits)), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `],"data":[`...)
	order := make([]int, cols)
	first := true
	for _, row := range logits {
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(row[y], row[x]) })
		for _, j := range order[:k] {
			if !first {
				b = append(b, ',')
			}
			first = false
			// std::to_string of a float: six decimals.
			entry := strconv.FormatFloat(float64(float32(row[j])), 'f', 6, 64) + ":" + strconv.Itoa(j)
			if j < len(labels) {
				var l string
				_ = json.Unmarshal(labels[j], &l)
				entry += ":" + l
			}
			b = append(b, quote(entry)...)
		}
	}
	return append(b, ']')
}
