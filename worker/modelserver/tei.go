package modelserver

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// versionHeader carries the model version on tei answers. TEI itself has
// no such header; the worker's tei adapter reads it when present.
const versionHeader = "X-Model-Version"

func (s *Server) routeTEI() {
	s.mux.HandleFunc("POST /tei/{name}/predict", s.teiPredict)
	s.mux.HandleFunc("GET /tei/{name}/info", s.teiInfo)
	s.mux.HandleFunc("GET /tei/{name}/health", func(w http.ResponseWriter, r *http.Request) {
		if s.teiModel(w, r) != nil {
			w.WriteHeader(http.StatusOK)
		}
	})
}

// teiError writes TEI's error body: {"error": "...", "error_type": "..."}.
func teiError(w http.ResponseWriter, status int, msg string) {
	typ := "backend"
	switch status {
	case 400, 404, 413, 422:
		typ = "validation"
	case 429:
		typ = "overloaded"
	case 503:
		typ = "unhealthy"
	}
	b, _ := json.Marshal(map[string]string{"error": msg, "error_type": typ})
	writeJSON(w, status, b)
}

func (s *Server) teiModel(w http.ResponseWriter, r *http.Request) *model {
	name := r.PathValue("name")
	m, ok := s.models[name]
	if !ok {
		teiError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
		return nil
	}
	return m
}

func (s *Server) teiInfo(w http.ResponseWriter, r *http.Request) {
	m := s.teiModel(w, r)
	if m == nil {
		return
	}
	id2label := make(map[string]string, len(m.labels))
	label2id := make(map[string]int, len(m.labels))
	for i, l := range m.labels {
		id2label[strconv.Itoa(i)] = l
		label2id[l] = i
	}
	b, _ := json.Marshal(map[string]any{
		"model_id":  m.name,
		"model_sha": m.version,
		"model_type": map[string]any{"classifier": map[string]any{
			"id2label": id2label, "label2id": label2id}},
		"max_client_batch_size": s.opts.MaxBatch,
	})
	writeJSON(w, http.StatusOK, b)
}

// teiInputs is TEI's predict input: one text, or a batch in which each
// element is a text or a one-element array. Arrays of two are text pairs,
// which a single-text classifier cannot score.
type teiInputs struct {
	texts []string
	batch bool
}

func (t *teiInputs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		t.texts = make([]string, 1)
		return json.Unmarshal(b, &t.texts[0])
	}
	// The common shape, [["t1"], ["t2"]], decodes without the generic
	// path's allocations.
	var batch [][]string
	if json.Unmarshal(b, &batch) == nil {
		t.batch = true
		t.texts = make([]string, len(batch))
		for i, e := range batch {
			if len(e) != 1 {
				return fmt.Errorf("input %d: want one text, text pairs are not supported", i)
			}
			t.texts[i] = e[0]
		}
		return nil
	}
	var raw []any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("inputs: want a text or a batch of texts")
	}
	if len(raw) > 0 {
		if _, pair := raw[0].(string); pair {
			return fmt.Errorf("text pairs are not supported")
		}
	}
	t.batch = true
	t.texts = make([]string, len(raw))
	for i, e := range raw {
		switch e := e.(type) {
		case string:
			t.texts[i] = e
		case []any:
			if len(e) != 1 {
				return fmt.Errorf("input %d: want one text, text pairs are not supported", i)
			}
			s, ok := e[0].(string)
			if !ok {
				return fmt.Errorf("input %d: want a text", i)
			}
			t.texts[i] = s
		default:
			return fmt.Errorf("input %d: want a text", i)
		}
	}
	return nil
}

func (s *Server) teiPredict(w http.ResponseWriter, r *http.Request) {
	m := s.teiModel(w, r)
	if m == nil {
		return
	}
	var req struct {
		Inputs teiInputs `json:"inputs"`
	}
	if status, err := decode(w, r, &req); err != nil {
		if status == http.StatusBadRequest {
			status = http.StatusUnprocessableEntity
		}
		teiError(w, status, "invalid predict request: "+err.Error())
		return
	}
	scores, f, ok := s.score(w, r, m, req.Inputs.texts, teiError)
	if !ok {
		return
	}
	w.Header().Set(versionHeader, m.version)
	if f.Garbage {
		writeGarbage(w)
		return
	}
	labels := faultLabels(m, f)
	// A single input gets a single answer, unless a fault added a row.
	wrap := req.Inputs.batch || len(scores) != 1
	respond(w, func(b []byte) []byte {
		order := make([]int, len(labels))
		if wrap {
			b = append(b, '[')
		}
		for i, row := range scores {
			if i > 0 {
				b = append(b, ',')
			}
			// TEI lists labels by descending score.
			for j := range order {
				order[j] = j
			}
			slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(row[y], row[x]) })
			b = append(b, '[')
			for k, j := range order {
				if k > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"score":`...)
				b = appendScore(b, row[j])
				b = append(b, `,"label":`...)
				b = append(b, labels[j]...)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if wrap {
			b = append(b, ']')
		}
		return b
	})
}
