package modelserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// maxPooled keeps one huge answer from pinning its buffer in the pool.
const maxPooled = 4 << 20

// respond hands a pooled buffer to fill and writes it as a 200 JSON body.
func respond(w http.ResponseWriter, fill func(b []byte) []byte) {
	p := bufPool.Get().(*[]byte)
	b := fill((*p)[:0])
	writeJSON(w, http.StatusOK, b)
	if cap(b) <= maxPooled {
		*p = b[:0]
		bufPool.Put(p)
	}
}

// marshal writes v as JSON without escaping <, > and &, as the servers
// emulated here (none written in Go) do not.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeGarbage answers 200 with a body no JSON decoder accepts.
func writeGarbage(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, []byte(`{"predictions": [<html>upstream reset</html>`))
}

// appendScore writes a score as an FP32 server would. NaN and infinities
// have no JSON number, so they go out as strings, as protobuf's JSON
// mapping writes them.
func appendScore(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, float64(float32(v)), 'g', -1, 32)
}

// decode reads a JSON request body into v. It returns the HTTP status to
// answer with when the body is unusable.
func decode(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBytes)).Decode(v)
	if err == nil {
		return 0, nil
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge, err
	}
	return http.StatusBadRequest, err
}

// unknownLabel is the label name the UnknownLabel fault puts first.
var unknownLabel = quote("LABEL_0")

// faultLabels returns the quoted labels to answer with under f.
func faultLabels(m *model, f Fault) [][]byte {
	if !f.UnknownLabel || len(m.qLabels) == 0 {
		return m.qLabels
	}
	l := append([][]byte(nil), m.qLabels...)
	l[0] = unknownLabel
	return l
}
