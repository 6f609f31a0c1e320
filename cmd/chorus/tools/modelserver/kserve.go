package modelserver

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// The KServe dialect is KServe's Hugging Face runtime serving a sequence
// classifier with --return_probabilities over the open inference protocol.
// The runtime reads the first input whatever its name (its docs send
// "input-0") and answers with its own output name; its metadata lists no
// tensors.
const kserveOutput = "output-0"

func (s *Server) routeKServe() {
	s.mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"live":true}`))
	})
	s.mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"ready":true}`))
	})
	s.mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"name": "kserve", "version": "0.14.1", "extensions": []string{"model_repository_extension"}})
		writeJSON(w, http.StatusOK, b)
	})
	s.routeModels(s.kserveMetadata, func(w http.ResponseWriter, r *http.Request) {
		if m := s.kserveModel(w, r); m != nil {
			b, _ := json.Marshal(map[string]any{"name": m.name, "ready": true})
			writeJSON(w, http.StatusOK, b)
		}
	}, s.kserveInfer)
}

// kserveModel finds a model with KServe's words for one it does not have.
// KServe's v2 routes take a version but refuse any (NotImplementedError,
// which its handler answers 501).
func (s *Server) kserveModel(w http.ResponseWriter, r *http.Request) *model {
	if r.PathValue("version") != "" {
		oipError(w, http.StatusNotImplemented, "Model versioning not supported yet.")
		return nil
	}
	return s.findModel(w, r, func(name, _ string) string {
		return fmt.Sprintf("Model with name %s does not exist.", name)
	})
}

func (s *Server) kserveMetadata(w http.ResponseWriter, r *http.Request) {
	m := s.kserveModel(w, r)
	if m == nil {
		return
	}
	b, _ := json.Marshal(oipModelMeta{Name: m.name, Versions: nil, Platform: "", Inputs: []oipTensorMeta{}, Outputs: []oipTensorMeta{}})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) kserveInfer(w http.ResponseWriter, r *http.Request) {
	m := s.kserveModel(w, r)
	if m == nil {
		return
	}
	req, scores, f, ok := s.oipScore(w, r, m, kserveUnrecognized+": ", kserveTexts)
	if !ok {
		return
	}
	id := req.ID
	if id == "" {
		// KServe names every response; an unnamed request gets a uuid4.
		id = uuid4()
	}
	respond(w, func(b []byte) []byte {
		b = append(b, `{"model_name":`...)
		b = append(b, m.qName...)
		b = append(b, `,"model_version":null,"id":`...)
		b = append(b, quote(id)...)
		b = append(b, `,"parameters":null,"outputs":[{"name":"`+kserveOutput+`","shape":[`...)
		b = strconv.AppendInt(b, int64(len(scores)), 10)
		b = append(b, `],"datatype":"BYTES","parameters":null,"data":[`...)
		var d []byte
		for i, row := range scores {
			if i > 0 {
				b = append(b, ',')
			}
			d = appendPyDict(d[:0], row, f.UnknownLabel)
			b = append(b, quote(string(d))...)
		}
		return append(b, "]}]}"...)
	})
}

// kserveUnrecognized is how the runtime begins its answer to a request it
// cannot read.
const kserveUnrecognized = "Unrecognized request format"

// kserveTexts takes the texts from the first input, whatever its name.
func kserveTexts(req *oipRequest) ([]string, error) {
	if len(req.Inputs) == 0 {
		return nil, fmt.Errorf("%s: no inputs", kserveUnrecognized)
	}
	return inputTexts(req.Inputs[0])
}

// appendPyDict writes a row as the runtime's str() of {index: probability}
// with each probability rounded to 4 places: "{0: 0.125, 1: 0.75}". An
// extra key stands for an unknown label.
func appendPyDict(b []byte, row []float64, extra bool) []byte {
	b = append(b, '{')
	for j, v := range row {
		if j > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(j), 10)
		b = append(b, ": "...)
		b = appendPyFloat(b, math.Round(v*1e4)/1e4)
	}
	if extra {
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(len(row)), 10)
		b = append(b, ": 0.0"...)
	}
	return append(b, '}')
}

// appendPyFloat writes a float as Python's repr does: the shortest digits,
// a ".0" on whole numbers, exponent form below 1e-4 or from 1e16 (1e-05),
// and nan / inf.
func appendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		// Go's exponent form is Python's: 1e-05, 1.5e+16.
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[n:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b
}

// uuid4 is a random UUID in its text form.
func uuid4() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
