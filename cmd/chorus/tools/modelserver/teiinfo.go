package modelserver

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
)

// teiInfoBody is TEI's Info schema (GET /info), the fields a real TEI
// writes, with the values a TEI of the defaults would report for
// a small classifier on CPU.
type teiInfoBody struct {
	ModelID               string       `json:"model_id"`
	ModelSHA              *string      `json:"model_sha"`
	ModelDtype            string       `json:"model_dtype"`
	ServedModelName       string       `json:"served_model_name"`
	ModelType             teiModelType `json:"model_type"`
	MaxConcurrentRequests int          `json:"max_concurrent_requests"`
	MaxInputLength        int          `json:"max_input_length"`
	MaxBatchTokens        int          `json:"max_batch_tokens"`
	MaxBatchRequests      *int         `json:"max_batch_requests"`
	MaxClientBatchSize    int          `json:"max_client_batch_size"`
	AutoTruncate          bool         `json:"auto_truncate"`
	TokenizationWorkers   int          `json:"tokenization_workers"`
	Version               string       `json:"version"`
	SHA                   *string      `json:"sha"`
	DockerLabel           *string      `json:"docker_label"`
}

// teiModelType is serde's form of TEI's ModelType enum, here always a
// classifier.
type teiModelType struct {
	Classifier struct {
		ID2Label map[string]string `json:"id2label"`
		Label2ID map[string]int    `json:"label2id"`
	} `json:"classifier"`
}

// TEI's defaults (its launcher's flags), reported as they are.
const (
	teiMaxConcurrent  = 512
	teiMaxInputLength = 512
	teiMaxBatchTokens = 16384
	teiWorkers        = 4
	teiVersion        = "1.8.2"
)

func (s *Server) teiInfo(w http.ResponseWriter, r *http.Request) {
	m := s.teiModel(w, r)
	if m == nil {
		return
	}
	info := teiInfoBody{
		ModelID:               m.name,
		ModelSHA:              &m.version,
		ModelDtype:            "float32",
		ServedModelName:       m.name,
		MaxConcurrentRequests: teiMaxConcurrent,
		MaxInputLength:        teiMaxInputLength,
		MaxBatchTokens:        teiMaxBatchTokens,
		MaxClientBatchSize:    s.opts.MaxBatch,
		TokenizationWorkers:   teiWorkers,
		Version:               teiVersion,
	}
	if info.MaxClientBatchSize <= 0 {
		// TEI has no "unlimited"; no limit reads as the largest batch
		// its u32-sized counters could hold.
		info.MaxClientBatchSize = math.MaxInt32
	}
	info.ModelType.Classifier.ID2Label = make(map[string]string, len(m.labels))
	info.ModelType.Classifier.Label2ID = make(map[string]int, len(m.labels))
	for i, l := range m.labels {
		info.ModelType.Classifier.ID2Label[strconv.Itoa(i)] = l
		info.ModelType.Classifier.Label2ID[l] = i
	}
	b, _ := json.Marshal(info)
	writeJSON(w, http.StatusOK, b)
}
