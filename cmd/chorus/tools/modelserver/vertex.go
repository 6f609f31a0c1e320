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
	if s.opts.Dialects.Vertex == VertexTFServing {
		s.mux.HandleFunc("GET /v1/models/{target}", s.tfStatus)
		s.mux.HandleFunc("GET /v1/models/{name}/versions/{target}", s.tfStatus)
	}
}

// vertexError writes a Google API error body.
func vertexError(w http.ResponseWriter, status int, msg string) {
	b := marshal(map[string]any{"error": map[string]any{
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

// vertexTarget finds the model a predict path names, answering itself
// (in the dialect's words) when there is none.
func (s *Server) vertexTarget(w http.ResponseWriter, r *http.Request, suffix string) *model {
	tf := s.opts.Dialects.Vertex == VertexTFServing
	fail := vertexError
	if tf {
		fail = tfError
	}
	target, ok := strings.CutSuffix(r.PathValue("target"), suffix)
	switch {
	case !ok && tf:
		fail(w, http.StatusBadRequest, fmt.Sprintf("Malformed request: %s %s", r.Method, r.URL.Path))
		return nil
	case !ok:
		fail(w, http.StatusNotFound, fmt.Sprintf("no method %q", r.URL.Path))
		return nil
	}
	name, version := target, ""
	if n := r.PathValue("name"); n != "" {
		name, version = n, target
	}
	m, ok := s.models[name]
	switch {
	case ok && (version == "" || version == m.version):
		return m
	case tf:
		fail(w, http.StatusNotFound, tfNotFound(name, version))
	case !ok:
		fail(w, http.StatusNotFound, fmt.Sprintf("model %q not found", name))
	default:
		fail(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q", name, version))
	}
	return nil
}

func (s *Server) vertexPredict(w http.ResponseWriter, r *http.Request) {
	m := s.vertexTarget(w, r, ":predict")
	if m == nil {
		return
	}
	if s.opts.Dialects.Vertex == VertexTFServing {
		s.tfPredict(w, r, m)
		return
	}
	tabular := s.opts.Dialects.Vertex == VertexTabular
	var texts []string
	var err error
	if tabular {
		texts, err = tabularTexts(w, r)
	} else {
		texts, err = automlTexts(w, r)
	}
	if err != nil {
		return
	}
	scores, f, ok := s.score(w, r, m, texts, refusals{fail: vertexError})
	if !ok {
		return
	}
	if f.Garbage {
		writeGarbage(w)
		return
	}
	var head []byte
	switch {
	case tabular:
		head = []byte(`{"scores":[`)
	case f.UnknownLabel:
		head = vertexHead(faultLabels(m, f))
	default:
		head = m.vertexHead
	}
	respond(w, func(b []byte) []byte {
		b = append(b, `{"predictions":[`...)
		for i, row := range scores {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, head...)
			b = appendScores(b, row)
			if tabular {
				b = append(b, `],"classes":[`...)
				for j, l := range faultLabels(m, f) {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, l...)
				}
			}
			b = append(b, "]}"...)
		}
		b = append(b, `],"deployedModelId":`...)
		b = append(b, m.qName...)
		if tabular {
			// Vertex names the model resource; the AutoML dialect
			// predates this and is kept as it was.
			b = append(b, `,"model":`...)
			b = append(b, quote(modelResource(r, m.name))...)
		}
		b = append(b, `,"modelDisplayName":`...)
		b = append(b, m.qName...)
		b = append(b, `,"modelVersionId":`...)
		b = append(b, m.qVersion...)
		return append(b, '}')
	})
}

// modelResource is the Vertex model resource name an answer reports:
// the endpoint path's project and location when it has them.
func modelResource(r *http.Request, model string) string {
	project, location := r.PathValue("project"), r.PathValue("location")
	if project == "" {
		project, location = "chorus", "local"
	}
	return "projects/" + project + "/locations/" + location + "/models/" + model
}

// automlTexts reads AutoML text instances (or bare strings), answering
// the request itself when they are unusable.
func automlTexts(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req struct {
		Instances vertexInstances `json:"instances"`
	}
	if status, err := decode(w, r, &req); err != nil {
		vertexError(w, status, "invalid predict request: "+err.Error())
		return nil, err
	}
	texts := make([]string, len(req.Instances))
	for i, in := range req.Instances {
		if in.MIMEType != "" && in.MIMEType != "text/plain" {
			err := fmt.Errorf("instance %d: mimeType %q, want text/plain", i, in.MIMEType)
			vertexError(w, http.StatusBadRequest, err.Error())
			return nil, err
		}
		texts[i] = in.Content
	}
	return texts, nil
}

// tabularTexts reads tabular instances: objects of feature columns, of
// which a text classifier has one, a string. Its name is the model's
// business, so any one name is taken.
func tabularTexts(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req struct {
		Instances []json.RawMessage `json:"instances"`
	}
	if status, err := decode(w, r, &req); err != nil {
		vertexError(w, status, "invalid predict request: "+err.Error())
		return nil, err
	}
	texts := make([]string, len(req.Instances))
	for i, raw := range req.Instances {
		var cols map[string]string
		if err := json.Unmarshal(raw, &cols); err != nil || len(cols) != 1 {
			err := fmt.Errorf("instance %d: want an object with one string column, the text", i)
			vertexError(w, http.StatusBadRequest, err.Error())
			return nil, err
		}
		for _, t := range cols {
			texts[i] = t
		}
	}
	return texts, nil
}

// appendScores writes a row's scores, comma-separated.
func appendScores(b []byte, row []float64) []byte {
	for j, v := range row {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendScore(b, v)
	}
	return b
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
