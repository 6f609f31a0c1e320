package modelserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The tensors a Chorus classifier exchanges over the open inference
// protocol.
const (
	chorusInput  = "text"
	chorusOutput = "probabilities"
)

func (s *Server) routeOpenInference() {
	switch s.opts.Dialects.OpenInference {
	case OIPTriton:
		s.routeTriton()
		return
	case OIPKServeHF:
		s.routeKServe()
		return
	}
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	s.mux.HandleFunc("GET /v2/health/live", ok)
	s.mux.HandleFunc("GET /v2/health/ready", ok)
	s.mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"name": "chorus-modelserver", "version": "1", "extensions": []string{}})
		writeJSON(w, http.StatusOK, b)
	})
	s.routeModels(s.oipMetadata, s.oipReady, s.oipInfer)
}

// routeModels routes a model's metadata, ready and infer paths, with and
// without a version.
func (s *Server) routeModels(metadata, ready, infer http.HandlerFunc) {
	s.mux.HandleFunc("GET /v2/models/{name}", metadata)
	s.mux.HandleFunc("GET /v2/models/{name}/versions/{version}", metadata)
	s.mux.HandleFunc("GET /v2/models/{name}/ready", ready)
	s.mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", ready)
	s.mux.HandleFunc("POST /v2/models/{name}/infer", infer)
	s.mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", infer)
}

// oipError writes the protocol's error body: {"error": "..."}.
func oipError(w http.ResponseWriter, status int, msg string) {
	b := marshal(map[string]string{"error": msg})
	writeJSON(w, status, b)
}

// oipModel finds the model a path names, answering 404 itself if none.
func (s *Server) oipModel(w http.ResponseWriter, r *http.Request) *model {
	return s.findModel(w, r, func(name, version string) string {
		if version == "" {
			return fmt.Sprintf("model %q not found", name)
		}
		return fmt.Sprintf("model %q has no version %q", name, version)
	})
}

// findModel finds the model a path names. If there is none, or not at the
// path's version, it answers 404 with notFound's words (version is "" for
// an unknown model).
func (s *Server) findModel(w http.ResponseWriter, r *http.Request, notFound func(name, version string) string) *model {
	name := r.PathValue("name")
	m, ok := s.models[name]
	if !ok {
		oipError(w, http.StatusNotFound, notFound(name, ""))
		return nil
	}
	if v := r.PathValue("version"); v != "" && v != m.version {
		oipError(w, http.StatusNotFound, notFound(name, v))
		return nil
	}
	return m
}

type oipTensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// oipModelMeta is the model metadata answer every open-inference dialect
// gives; only the Chorus one carries parameters (its labels).
type oipModelMeta struct {
	Name       string          `json:"name"`
	Versions   []string        `json:"versions"`
	Platform   string          `json:"platform"`
	Inputs     []oipTensorMeta `json:"inputs"`
	Outputs    []oipTensorMeta `json:"outputs"`
	Parameters map[string]any  `json:"parameters,omitempty"`
}

func (s *Server) oipMetadata(w http.ResponseWriter, r *http.Request) {
	m := s.oipModel(w, r)
	if m == nil {
		return
	}
	b, _ := json.Marshal(oipModelMeta{
		Name:       m.name,
		Versions:   []string{m.version},
		Platform:   "chorus_refmodel",
		Inputs:     []oipTensorMeta{{chorusInput, "BYTES", []int{-1, 1}}},
		Outputs:    []oipTensorMeta{{chorusOutput, "FP32", []int{-1, len(m.labels)}}},
		Parameters: map[string]any{"labels": m.labels, "multi_label": m.m.MultiLabel()},
	})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) oipReady(w http.ResponseWriter, r *http.Request) {
	if s.oipModel(w, r) != nil {
		w.WriteHeader(http.StatusOK)
	}
}

type oipRequest struct {
	ID      string      `json:"id"`
	Inputs  []oipInput  `json:"inputs"`
	Outputs []oipOutput `json:"outputs"`
}

type oipInput struct {
	Name     string          `json:"name"`
	Shape    []int           `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type oipOutput struct {
	Name       string `json:"name"`
	Parameters struct {
		// Classification asks Triton's classification extension for
		// the top K classes.
		Classification int `json:"classification"`
	} `json:"parameters"`
}

func (s *Server) oipInfer(w http.ResponseWriter, r *http.Request) {
	m := s.oipModel(w, r)
	if m == nil {
		return
	}
	req, scores, f, ok := s.oipScore(w, r, m, "invalid inference request: ", oipTexts)
	if !ok {
		return
	}
	cols := len(m.labels)
	if f.UnknownLabel {
		cols++
	}
	respond(w, func(b []byte) []byte {
		b = append(b, `{"model_name":`...)
		b = append(b, m.qName...)
		b = append(b, `,"model_version":`...)
		b = append(b, m.qVersion...)
		if req.ID != "" {
			b = append(b, `,"id":`...)
			b = append(b, quote(req.ID)...)
		}
		b = append(b, `,"outputs":[{"name":"`+chorusOutput+`","datatype":"FP32","shape":[`...)
		b = strconv.AppendInt(b, int64(len(scores)), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(cols), 10)
		b = append(b, `],"data":[`...)
		for i, row := range scores {
			for j, v := range row {
				if i+j > 0 {
					b = append(b, ',')
				}
				b = appendScore(b, v)
			}
			if f.UnknownLabel {
				b = append(b, ",0"...)
			}
		}
		return append(b, "]}]}"...)
	})
}

// oipScore decodes an open-inference request and scores the texts that
// texts takes from it. What it refuses it answers in the protocol's error
// body: a body that does not decode (badBody's words, then the decoder's),
// texts' error (400), score's refusals and faults, garbage included. When
// it has answered, ok is false.
func (s *Server) oipScore(w http.ResponseWriter, r *http.Request, m *model, badBody string, texts func(*oipRequest) ([]string, error)) (req oipRequest, scores [][]float64, f Fault, ok bool) {
	if status, err := decode(w, r, &req); err != nil {
		oipError(w, status, badBody+err.Error())
		return req, nil, f, false
	}
	in, err := texts(&req)
	if err != nil {
		oipError(w, http.StatusBadRequest, err.Error())
		return req, nil, f, false
	}
	if scores, f, ok = s.score(w, r, m, in, refusals{fail: oipError}); ok && f.Garbage {
		writeGarbage(w)
		ok = false
	}
	return req, scores, f, ok
}

// oipTexts takes the texts from the one BYTES input, shaped [N] or [N, 1],
// with its data flat or nested.
func oipTexts(req *oipRequest) ([]string, error) {
	if len(req.Inputs) != 1 {
		return nil, fmt.Errorf("expected 1 input, got %d", len(req.Inputs))
	}
	for _, o := range req.Outputs {
		if o.Name != chorusOutput {
			return nil, fmt.Errorf("unknown output %q", o.Name)
		}
	}
	in := req.Inputs[0]
	if in.Datatype != "BYTES" {
		return nil, fmt.Errorf("input %q: datatype %q, want BYTES", in.Name, in.Datatype)
	}
	if len(in.Shape) == 0 || len(in.Shape) > 2 || (len(in.Shape) == 2 && in.Shape[1] != 1) {
		return nil, fmt.Errorf("input %q: shape %v, want [N] or [N, 1]", in.Name, in.Shape)
	}
	texts, err := inputTexts(in)
	if err != nil {
		return nil, err
	}
	if in.Shape[0] != len(texts) {
		return nil, fmt.Errorf("input %q: shape %v for %d elements", in.Name, in.Shape, len(texts))
	}
	return texts, nil
}

// inputTexts reads a BYTES input's data, flat or nested one deep.
func inputTexts(in oipInput) ([]string, error) {
	var texts []string
	data := bytes.TrimSpace(in.Data)
	if len(data) > 1 && data[0] == '[' && bytes.TrimSpace(data[1:])[0] == '[' {
		var nested [][]string
		if err := json.Unmarshal(data, &nested); err != nil {
			return nil, fmt.Errorf("input %q: data: %w", in.Name, err)
		}
		for _, row := range nested {
			if len(row) != 1 {
				return nil, fmt.Errorf("input %q: data row of %d, want 1", in.Name, len(row))
			}
			texts = append(texts, row[0])
		}
	} else if err := json.Unmarshal(data, &texts); err != nil {
		return nil, fmt.Errorf("input %q: data: %w", in.Name, err)
	}
	return texts, nil
}
