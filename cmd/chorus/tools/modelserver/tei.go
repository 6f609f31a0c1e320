package modelserver

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// TEI's error types: its ErrorType variants as serde writes them, by
// name.
const (
	teiValidation = "Validation"
	teiEmpty      = "Empty"
	teiBackend    = "Backend"
	teiOverloaded = "Overloaded"
	teiUnhealthy  = "Unhealthy"
)

// teiError writes TEI's error body: {"error": "...", "error_type": "..."},
// the type read from the status as TEI maps types to statuses.
func teiError(w http.ResponseWriter, status int, msg string) {
	typ := teiBackend
	switch status {
	case 400, 404, 413, 422:
		typ = teiValidation
	case 429:
		typ = teiOverloaded
	case 503:
		typ = teiUnhealthy
	}
	writeTEIError(w, status, typ, msg)
}

func writeTEIError(w http.ResponseWriter, status int, typ, msg string) {
	b := marshal(map[string]string{"error": msg, "error_type": typ})
	writeJSON(w, status, b)
}

// teiTooLarge is TEI's refusal of a batch over max_client_batch_size.
func teiTooLarge(w http.ResponseWriter, _ *model, n, limit int) {
	writeTEIError(w, http.StatusUnprocessableEntity, teiValidation,
		fmt.Sprintf("batch size %d > maximum allowed batch size %d", n, limit))
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
	if req.Inputs.batch && len(req.Inputs.texts) == 0 {
		writeTEIError(w, http.StatusBadRequest, teiEmpty, "Input validation error: `inputs` cannot be empty")
		return
	}
	scores, f, ok := s.score(w, r, m, req.Inputs.texts, refusals{fail: teiError, tooLarge: teiTooLarge})
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
