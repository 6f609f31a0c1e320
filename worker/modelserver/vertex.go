package modelserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func (s *Server) routeVertex() {
	// ServeMux wildcards are whole segments, so "{name}:predict" is taken
	// as one segment and split here.
	s.mux.HandleFunc("POST /v1/models/{target}", s.vertexPredict)
	s.mux.HandleFunc("POST /v1/models/{name}/versions/{target}", s.vertexPredict)
	s.mux.HandleFunc("POST /v1/projects/{project}/locations/{location}/endpoints/{target}", s.vertexPredict)
}

// vertexError writes a Google API error body.
func vertexError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": googleStatus(status)}})
	writeJSON(w, status, b)
}

func googleStatus(status int) string {
	switch status {
	case 400, 413, 422:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// vertexInstance is an AutoML text instance.
type vertexInstance struct {
	Content  string `json:"content"`
	MIMEType string `json:"mimeType"`
}

// vertexInstances also takes bare strings, as TF Serving clients send.
type vertexInstances []vertexInstance

func (v *vertexInstances) UnmarshalJSON(b []byte) error {
	var objs []vertexInstance
	err := json.Unmarshal(b, &objs)
	if err == nil {
		*v = objs
		return nil
	}
	var strs []string
	if json.Unmarshal(b, &strs) != nil {
		return err
	}
	*v = make([]vertexInstance, len(strs))
	for i, s := range strs {
		(*v)[i].Content = s
	}
	return nil
}

func (s *Server) vertexPredict(w http.ResponseWriter, r *http.Request) {
	target, ok := strings.CutSuffix(r.PathValue("target"), ":predict")
	if !ok {
		vertexError(w, http.StatusNotFound, fmt.Sprintf("no method %q", r.URL.Path))
		return
	}
	name, version := target, ""
	if n := r.PathValue("name"); n != "" {
		name, version = n, target
	}
	m, ok := s.models[name]
	if !ok {
		vertexError(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
		return
	}
	if version != "" && version != m.version {
		vertexError(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q", name, version))
		return
	}
	var req struct {
		Instances vertexInstances `json:"instances"`
	}
	if status, err := decode(w, r, &req); err != nil {
		vertexError(w, status, "invalid predict request: "+err.Error())
		return
	}
	texts := make([]string, len(req.Instances))
	for i, in := range req.Instances {
		if in.MIMEType != "" && in.MIMEType != "text/plain" {
			vertexError(w, http.StatusBadRequest, fmt.Sprintf("instance %d: mimeType %q, want text/plain", i, in.MIMEType))
			return
		}
		texts[i] = in.Content
	}
	scores, f, ok := s.score(w, r, m, texts, vertexError)
	if !ok {
		return
	}
	if f.Garbage {
		writeGarbage(w)
		return
	}
	head := m.vertexHead
	if f.UnknownLabel {
		head = vertexHead(faultLabels(m, f))
	}
	respond(w, func(b []byte) []byte {
		b = append(b, `{"predictions":[`...)
		for i, row := range scores {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, head...)
			for j, v := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendScore(b, v)
			}
			b = append(b, "]}"...)
		}
		b = append(b, `],"deployedModelId":`...)
		b = append(b, m.qName...)
		b = append(b, `,"modelDisplayName":`...)
		b = append(b, m.qName...)
		b = append(b, `,"modelVersionId":`...)
		b = append(b, m.qVersion...)
		return append(b, '}')
	})
}

// vertexHead is the start of one prediction, up to its confidences:
// annotation spec ids (int64s, written as strings) and display names.
func vertexHead(labels [][]byte) []byte {
	b := []byte(`{"ids":[`)
	for i := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '"')
	}
	b = append(b, `],"displayNames":[`...)
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l...)
	}
	return append(b, `],"confidences":[`...)
}
