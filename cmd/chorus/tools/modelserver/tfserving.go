package modelserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
)

// The TF Serving dialect serves each model as a SavedModel whose default
// signature takes one string tensor, named tfInput, and gives one float
// tensor of probabilities by label position.
const tfInput = "text"

// tfError writes TF Serving's REST error body: {"error": "..."}.
func tfError(w http.ResponseWriter, status int, msg string) {
	b := marshal(map[string]string{"error": msg})
	writeJSON(w, status, b)
}

// tfNotFound is TF Serving's answer for a model or version it does not
// serve (version "" is the latest).
func tfNotFound(name, version string) string {
	if version == "" {
		return fmt.Sprintf("Servable not found for request: Latest(%s)", name)
	}
	return fmt.Sprintf("Servable not found for request: Specific(%s, %s)", name, version)
}

// tfStatus answers GET /v1/models/{name}[/versions/{v}]: the model's one
// version, available.
func (s *Server) tfStatus(w http.ResponseWriter, r *http.Request) {
	m := s.vertexTarget(w, r, "")
	if m == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{"model_version_status": []any{map[string]any{
		"version": m.version, "state": "AVAILABLE",
		"status": map[string]string{"error_code": "OK", "error_message": ""}}}})
	writeJSON(w, http.StatusOK, b)
}

// tfPredict answers the row form ({"instances": [...]} → {"predictions":
// [...]}) and the columnar form ({"inputs": [...]} → {"outputs": [...]}).
func (s *Server) tfPredict(w http.ResponseWriter, r *http.Request, m *model) {
	var req struct {
		SignatureName json.RawMessage `json:"signature_name"`
		Instances     json.RawMessage `json:"instances"`
		Inputs        json.RawMessage `json:"inputs"`
	}
	if status, err := decode(w, r, &req); err != nil {
		msg := "JSON Parse error: Invalid value"
		if errors.Is(err, io.EOF) {
			msg = "JSON Parse error: The document is empty"
		}
		tfError(w, status, msg)
		return
	}
	if req.SignatureName != nil {
		var sig string
		if err := json.Unmarshal(req.SignatureName, &sig); err != nil {
			tfError(w, http.StatusBadRequest, "'signature_name' key must be a string value.")
			return
		}
		if sig != "serving_default" {
			tfError(w, http.StatusBadRequest, fmt.Sprintf("Serving signature name: \"%s\" not found in signature def", sig))
			return
		}
	}
	key, list := "predictions", req.Instances
	switch {
	case req.Instances != nil && req.Inputs != nil:
		tfError(w, http.StatusBadRequest, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists")
		return
	case req.Inputs != nil:
		key, list = "outputs", req.Inputs
	case req.Instances == nil:
		tfError(w, http.StatusBadRequest, "Missing 'inputs' or 'instances' key")
		return
	}
	texts, refused := tfTexts(list)
	if refused != "" {
		tfError(w, http.StatusBadRequest, refused)
		return
	}
	scores, f, ok := s.score(w, r, m, texts, refusals{fail: tfError, tooLarge: func(w http.ResponseWriter, m *model, n, limit int) {
		tfError(w, http.StatusBadRequest, fmt.Sprintf("Task size %d is larger than maximum input batch size %d", n, limit))
	}})
	if !ok {
		return
	}
	if f.Garbage {
		writeGarbage(w)
		return
	}
	respond(w, func(b []byte) []byte {
		b = append(b, `{"`+key+`":[`...)
		for i, row := range scores {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, v := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendTFFloat(b, v)
			}
			if f.UnknownLabel {
				// No label names on the wire: an extra position.
				b = append(b, ",0"...)
			}
			b = append(b, ']')
		}
		return append(b, "]}"...)
	})
}

// appendTFFloat writes a float as TF Serving does: six significant digits
// (absl's StrCat), and NaN and infinities as the bare tokens rapidjson
// writes, which are not JSON.
func appendTFFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "Infinity"...)
	case math.IsInf(v, -1):
		return append(b, "-Infinity"...)
	}
	return strconv.AppendFloat(b, float64(float32(v)), 'g', 6, 32)
}

// tfTexts reads the texts as TF Serving fills a one-input signature's
// string tensor: each element a string, or an object naming the input.
// refused is TF Serving's words for a list it cannot read.
func tfTexts(list json.RawMessage) (texts []string, refused string) {
	var elems []json.RawMessage
	if err := json.Unmarshal(list, &elems); err != nil {
		return nil, "Expecting 'instances' to be an list/array"
	}
	texts = make([]string, len(elems))
	for i, e := range elems {
		e = bytes.TrimSpace(e)
		if len(e) > 0 && e[0] == '{' {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(e, &obj); err != nil {
				return nil, "JSON Parse error: " + err.Error()
			}
			v, ok := obj[tfInput]
			if !ok || len(obj) != 1 {
				for k := range obj {
					if k != tfInput {
						return nil, "JSON object: does not have named input: " + k
					}
				}
				return nil, "JSON object: does not have named input: " + tfInput
			}
			e = v
		}
		if err := json.Unmarshal(e, &texts[i]); err != nil {
			return nil, fmt.Sprintf("JSON Value: %s Type: %s is not of expected type: string", e, jsonType(e))
		}
	}
	return texts, ""
}

// jsonType names a JSON value's type as RapidJSON does in TF Serving's
// messages.
func jsonType(v []byte) string {
	if len(v) == 0 {
		return "Null"
	}
	switch v[0] {
	case '{':
		return "Object"
	case '[':
		return "Array"
	case '"':
		return "String"
	case 't', 'f':
		return "Bool"
	case 'n':
		return "Null"
	}
	return "Number"
}
