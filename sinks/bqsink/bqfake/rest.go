package bqfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
)

// maxJobs bounds the query results kept for jobs.getQueryResults.
const maxJobs = 256

type queryJob struct {
	project, id, location string
	cols                  []*column
	schema                *bq.TableSchema
	recs                  [][]any
}

// restHandler serves the REST API, with or without the /bigquery/v2
// prefix.
func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /projects/{project}/datasets", s.datasetsInsert)
	mux.HandleFunc("GET /projects/{project}/datasets/{dataset}", s.datasetsGet)
	mux.HandleFunc("DELETE /projects/{project}/datasets/{dataset}", s.datasetsDelete)
	mux.HandleFunc("POST /projects/{project}/datasets/{dataset}/tables", s.tablesInsert)
	mux.HandleFunc("GET /projects/{project}/datasets/{dataset}/tables/{table}", s.tablesGet)
	mux.HandleFunc("DELETE /projects/{project}/datasets/{dataset}/tables/{table}", s.tablesDelete)
	mux.HandleFunc("GET /projects/{project}/datasets/{dataset}/tables/{table}/data", s.tabledataList)
	mux.HandleFunc("POST /projects/{project}/queries", s.jobsQuery)
	mux.HandleFunc("GET /projects/{project}/queries/{job}", s.jobsGetQueryResults)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{codes.Unimplemented, "invalid", fmt.Sprintf("bqfake does not implement %s %s", r.Method, r.URL.Path)})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/bigquery/v2"), "/")
		mux.ServeHTTP(w, r)
	})
}

// call runs the reactors of op; it returns true if they answered.
func (s *Server) call(w http.ResponseWriter, r *http.Request, op string, body any) bool {
	handled, ret, err := s.react(op, &RESTCall{
		Op:      op,
		Project: r.PathValue("project"),
		Dataset: r.PathValue("dataset"),
		Table:   r.PathValue("table"),
		JobID:   r.PathValue("job"),
		Body:    body,
	})
	if !handled {
		return false
	}
	if err != nil {
		writeError(w, err)
	} else {
		writeJSON(w, ret)
	}
	return true
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, errInvalid("bad request body: %v", err))
		return false
	}
	return true
}

func (s *Server) datasetsInsert(w http.ResponseWriter, r *http.Request) {
	var in bq.Dataset
	if !decodeBody(w, r, &in) || s.call(w, r, RESTDatasetsInsert, &in) {
		return
	}
	if in.DatasetReference == nil {
		writeError(w, errInvalid("datasetReference is required"))
		return
	}
	project := r.PathValue("project")
	if p := in.DatasetReference.ProjectId; p != "" && p != project {
		writeError(w, errInvalid("datasetReference.projectId %q does not match the request path", p))
		return
	}
	s.mu.Lock()
	ds, err := s.createDatasetLocked(project, in.DatasetReference.DatasetId, in.Location, in.Description)
	var out bq.Dataset
	if err == nil {
		out = *ds.meta
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, &out)
}

func (s *Server) datasetsGet(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTDatasetsGet, nil) {
		return
	}
	s.mu.Lock()
	ds, err := s.datasetLocked(r.PathValue("project"), r.PathValue("dataset"))
	var out bq.Dataset
	if err == nil {
		out = *ds.meta
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, &out)
}

func (s *Server) datasetsDelete(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTDatasetsDelete, nil) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	project, id := r.PathValue("project"), r.PathValue("dataset")
	ds, err := s.datasetLocked(project, id)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(ds.tables) > 0 && r.URL.Query().Get("deleteContents") != "true" {
		writeError(w, &apiError{codes.FailedPrecondition, "resourceInUse", fmt.Sprintf("Dataset %s:%s is still in use", project, id)})
		return
	}
	delete(s.datasets, project+"."+id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) tablesInsert(w http.ResponseWriter, r *http.Request) {
	var in bq.Table
	if !decodeBody(w, r, &in) || s.call(w, r, RESTTablesInsert, &in) {
		return
	}
	s.mu.Lock()
	t, err := s.createTableLocked(r.PathValue("project"), r.PathValue("dataset"), &in)
	var out *bq.Table
	if err == nil {
		out = t.tableMeta()
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, out)
}

func (s *Server) tablesGet(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTTablesGet, nil) {
		return
	}
	s.mu.Lock()
	t, err := s.tableLocked(r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table"))
	var out *bq.Table
	if err == nil {
		out = t.tableMeta()
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, out)
}

func (s *Server) tablesDelete(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTTablesDelete, nil) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	project, dsID, id := r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table")
	if _, err := s.tableLocked(project, dsID, id); err != nil {
		writeError(w, err)
		return
	}
	delete(s.datasets[project+"."+dsID].tables, id)
	for name, st := range s.streams {
		if st.tbl.project == project && st.tbl.dataset == dsID && st.tbl.id == id {
			delete(s.streams, name)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) tabledataList(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTTabledataList, nil) {
		return
	}
	s.mu.Lock()
	t, err := s.tableLocked(r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table"))
	var (
		cols []*column
		recs [][]any
	)
	if err == nil {
		cols, recs = t.cols, t.visibleRows()
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	page, next, err := pageOf(recs, q.Get("startIndex"), q.Get("pageToken"), q.Get("maxResults"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, &bq.TableDataList{
		Kind:            "bigquery#tableDataList",
		Rows:            renderRows(cols, page, q.Get("formatOptions.useInt64Timestamp") == "true"),
		TotalRows:       int64(len(recs)),
		PageToken:       next,
		ForceSendFields: []string{"TotalRows"},
	})
}

// selectAllFrom parses the one statement jobs.query runs, SELECT * FROM
// table, and returns the table reference.
func selectAllFrom(query string) (string, bool) {
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(query), ";"))
	if len(f) != 4 || !strings.EqualFold(f[0], "SELECT") || f[1] != "*" || !strings.EqualFold(f[2], "FROM") {
		return "", false
	}
	return f[3], true
}

func (s *Server) jobsQuery(w http.ResponseWriter, r *http.Request) {
	var in bq.QueryRequest
	if !decodeBody(w, r, &in) || s.call(w, r, RESTJobsQuery, &in) {
		return
	}
	project := r.PathValue("project")
	ref, ok := selectAllFrom(in.Query)
	if !ok {
		writeError(w, errInvalid("bqfake runs one statement, SELECT * FROM `project.dataset.table`; got %q", in.Query))
		return
	}
	parts := strings.Split(strings.ReplaceAll(ref, "`", ""), ".")
	switch {
	case len(parts) == 3:
	case len(parts) == 2:
		parts = append([]string{project}, parts...)
	case len(parts) == 1 && in.DefaultDataset != nil:
		parts = []string{in.DefaultDataset.ProjectId, in.DefaultDataset.DatasetId, parts[0]}
		if parts[0] == "" {
			parts[0] = project
		}
	default:
		writeError(w, errInvalid("table %q is not project.dataset.table", ref))
		return
	}

	s.mu.Lock()
	t, err := s.tableLocked(parts[0], parts[1], parts[2])
	var job *queryJob
	if err == nil {
		job = &queryJob{
			project:  project,
			id:       fmt.Sprintf("bqfake_job_%d", s.nextSeq()),
			location: t.meta.Location,
			cols:     t.cols,
			schema:   t.restSchema(),
			recs:     t.visibleRows(),
		}
		s.jobs[job.id] = job
		s.jobOrder = append(s.jobOrder, job.id)
		if len(s.jobOrder) > maxJobs {
			delete(s.jobs, s.jobOrder[0])
			s.jobOrder = s.jobOrder[1:]
		}
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	int64ts := in.FormatOptions != nil && in.FormatOptions.UseInt64Timestamp
	page, next, err := pageOf(job.recs, "", "", strconv.FormatInt(in.MaxResults, 10))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, &bq.QueryResponse{
		Kind:            "bigquery#queryResponse",
		JobComplete:     true,
		JobReference:    &bq.JobReference{ProjectId: project, JobId: job.id, Location: job.location},
		Location:        job.location,
		QueryId:         job.id,
		Schema:          job.schema,
		Rows:            renderRows(job.cols, page, int64ts),
		TotalRows:       uint64(len(job.recs)),
		PageToken:       next,
		ForceSendFields: []string{"TotalRows", "JobComplete"},
	})
}

func (s *Server) jobsGetQueryResults(w http.ResponseWriter, r *http.Request) {
	if s.call(w, r, RESTJobsGetQueryResults, nil) {
		return
	}
	s.mu.Lock()
	job := s.jobs[r.PathValue("job")]
	s.mu.Unlock()
	if job == nil {
		writeError(w, errNotFound("Not found: Job %s:%s", r.PathValue("project"), r.PathValue("job")))
		return
	}
	q := r.URL.Query()
	page, next, err := pageOf(job.recs, q.Get("startIndex"), q.Get("pageToken"), q.Get("maxResults"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, &bq.GetQueryResultsResponse{
		Kind:            "bigquery#getQueryResultsResponse",
		JobComplete:     true,
		JobReference:    &bq.JobReference{ProjectId: job.project, JobId: job.id, Location: job.location},
		Schema:          job.schema,
		Rows:            renderRows(job.cols, page, q.Get("formatOptions.useInt64Timestamp") == "true"),
		TotalRows:       uint64(len(job.recs)),
		PageToken:       next,
		ForceSendFields: []string{"TotalRows", "JobComplete"},
	})
}

// pageOf cuts one page from recs; the page token is the next start index.
func pageOf(recs [][]any, startIndex, pageToken, maxResults string) ([][]any, string, error) {
	start := 0
	for _, v := range []string{startIndex, pageToken} {
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "", errInvalid("bad start index or page token %q", v)
		}
		start = n
	}
	start = min(start, len(recs))
	end := len(recs)
	if n, err := strconv.Atoi(maxResults); err == nil && n > 0 {
		end = min(end, start+n)
	}
	next := ""
	if end < len(recs) {
		next = strconv.Itoa(end)
	}
	return recs[start:end], next, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if v == nil {
		_, _ = w.Write([]byte("{}"))
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes err as a googleapi error body.
func writeError(w http.ResponseWriter, err error) {
	code, reason, msg := http.StatusInternalServerError, "internalError", err.Error()
	var ae *apiError
	var ge *googleapi.Error
	switch {
	case errors.As(err, &ge):
		code, msg = ge.Code, ge.Message
		if len(ge.Errors) > 0 {
			reason = ge.Errors[0].Reason
		}
	case errors.As(err, &ae):
		code, reason, msg = httpStatus(ae.code), ae.reason, ae.msg
	}
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []map[string]any{{"message": msg, "domain": "global", "reason": reason}},
		"status":  strings.ToUpper(strings.ReplaceAll(http.StatusText(code), " ", "_")),
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.FailedPrecondition:
		return http.StatusBadRequest
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
