package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// wildcardTenant routes every tenant not listed by name.
const wildcardTenant = "*"

// Validate checks the whole config and returns an Errors listing every
// problem, each naming its field path, or nil. It checks the config as
// given; call ApplyDefaults first for a Config built in code (Parse does
// both). It does not read the environment or files: Parse checks that auth
// variables are set, and Resolve loads TLS files.
func (c *Config) Validate() error {
	return c.validate(nil)
}

// validate also checks auth env vars when getenv is non-nil.
func (c *Config) validate(getenv func(string) string) error {
	v := &validator{c: c, getenv: getenv}
	v.index()
	v.worker()
	v.limits()
	v.source("source", &v.c.Source)
	if v.c.BackfillSource.Type != "" {
		v.source("backfill_source", &v.c.BackfillSource)
		if v.c.BackfillSource.Type != v.c.Source.Type {
			v.addf("backfill_source.type", "%q differs from source.type %q: one worker reads one broker", v.c.BackfillSource.Type, v.c.Source.Type)
		}
	}
	v.sink()
	for i := range c.Models {
		v.checkModel(i, &c.Models[i])
	}
	if len(c.Models) == 0 {
		v.addf("models", "at least one model is required")
	}
	for i := range c.Pipelines {
		v.checkPipeline(i, &c.Pipelines[i])
	}
	if len(c.Pipelines) == 0 {
		v.addf("pipelines", "at least one pipeline is required")
	}
	v.tenants()
	v.enum("log.level", c.Log.Level, []string{"debug", "info", "warn", "error"})
	v.enum("log.format", c.Log.Format, []string{"json", "console", "auto"})
	if a := c.Metrics.Addr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			v.addf("metrics.addr", "%q is not a host:port listen address (e.g. \":9090\")", a)
		}
	}
	return v.err()
}

type validator struct {
	errs
	c      *Config
	getenv func(string) string

	models    map[string]int // name → index of its first model
	pipelines map[string]bool
	tenantSet map[string]bool
}

func (v *validator) index() {
	v.models = map[string]int{}
	for i, m := range v.c.Models {
		if _, dup := v.models[m.Name]; !dup {
			v.models[m.Name] = i
		}
	}
	v.pipelines = map[string]bool{}
	for _, p := range v.c.Pipelines {
		v.pipelines[p.Name] = true
	}
	v.tenantSet = map[string]bool{}
	for _, t := range v.c.Tenants {
		v.tenantSet[t.Name] = true
	}
}

func (v *validator) worker() {
	w := &v.c.Worker
	v.within("worker.max_outstanding_messages", w.MaxOutstandingMessages, maxOutstandingMessages)
	v.within("worker.max_outstanding_bytes", w.MaxOutstandingBytes, maxOutstandingBytes)
	v.within("worker.pullers", w.Pullers, maxConcurrency)
	v.within("worker.receive_batch", w.ReceiveBatch, maxReceiveBatch)
	v.positiveDuration("worker.drain_timeout", w.DrainTimeout)
	v.backoff("worker.nack_backoff", w.NackBackoff)
	if s := w.Lanes.BackfillMinShare; s != nil && (*s < 0 || *s > 1 || *s != *s) {
		v.addf("worker.lanes.backfill_min_share", "%v is not a share between 0 and 1", *s)
	}
	v.enum("worker.lanes.run_id", w.Lanes.RunID, []string{LaneBackfill, LaneLive})
}

func (v *validator) limits() {
	l := &v.c.Limits
	v.within("limits.max_text_bytes", l.MaxTextBytes, maxTextBytes)
	v.within("limits.max_jobs_per_message", l.MaxJobsPerMessage, maxJobsPerMessage)
	v.within("limits.max_message_bytes", l.MaxMessageBytes, maxMessageBytes)
	// Postgres refuses a btree key over ~2.7 KB; the three key columns
	// together must stay well under it.
	v.within("limits.max_key_bytes", l.MaxKeyBytes, maxKeyBytes)
	v.within("limits.max_attribute_bytes", l.MaxAttributeBytes, maxKeyBytes)
}

func (v *validator) source(p0 string, s *Source) {
	if !v.enum(p0+".type", s.Type, []string{"memory", "file", "pubsub", "sqs"}) {
		return
	}
	switch s.Type {
	case "file":
		v.required(p0+".file.path", s.File.Path)
	case "pubsub":
		ps := &s.PubSub
		v.required(p0+".pubsub.project", ps.Project)
		v.required(p0+".pubsub.subscription", ps.Subscription)
		// Without it bad input would have nowhere to go but a nack loop.
		v.required(p0+".pubsub.dead_letter_topic", ps.DeadLetterTopic)
		v.within(p0+".pubsub.streams", ps.Streams, maxStreams)
		v.positiveDuration(p0+".pubsub.max_extension", ps.MaxExtension)
		v.nonNegativeDuration(p0+".pubsub.max_extension_period", ps.MaxExtensionPeriod)
	case "sqs":
		q := &s.SQS
		if v.required(p0+".sqs.queue_url", q.QueueURL) {
			v.absURL(p0+".sqs.queue_url", q.QueueURL)
		}
		if v.required(p0+".sqs.dead_letter_queue_url", q.DeadLetterQueueURL) {
			v.absURL(p0+".sqs.dead_letter_queue_url", q.DeadLetterQueueURL)
		}
		if q.Endpoint != "" {
			v.absURL(p0+".sqs.endpoint", q.Endpoint)
		}
		v.within(p0+".sqs.pollers", q.Pollers, maxConcurrency)
		if v.positiveDuration(p0+".sqs.wait_time", q.WaitTime) && q.WaitTime > 20*time.Second {
			v.addf(p0+".sqs.wait_time", "%s is longer than SQS's 20s long-poll limit", q.WaitTime)
		}
		if v.positiveDuration(p0+".sqs.visibility_timeout", q.VisibilityTimeout) && q.VisibilityTimeout > 12*time.Hour {
			v.addf(p0+".sqs.visibility_timeout", "%s is longer than SQS's 12h limit", q.VisibilityTimeout)
		}
		v.positiveDuration(p0+".sqs.max_extension", q.MaxExtension)
	}
}

// sqlIdent checks a schema, table or dataset name: it is quoted in SQL, but
// a plain identifier keeps every tool happy.
func (v *validator) sqlIdent(p, s string) {
	if !identRE.MatchString(s) {
		v.addf(p, "%q is not a plain identifier (letters, digits and _, not starting with a digit, at most 63)", s)
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// absURL checks that s is an absolute http(s) URL.
func (v *validator) absURL(p, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.addf(p, "%q is not an absolute http(s) URL", s)
	}
}

func (v *validator) sink() {
	s := &v.c.Sink
	if v.enum("sink.type", s.Type, []string{"file", "postgres", "bigquery"}) {
		switch s.Type {
		case "file":
			v.required("sink.file.path", s.File.Path)
		case "postgres":
			pg := &s.Postgres
			v.envVar("sink.postgres.dsn_env", pg.DSNEnv)
			// Zero fields take the driver's defaults (see ApplyDefaults).
			if pg.Schema != "" {
				v.sqlIdent("sink.postgres.schema", pg.Schema)
			}
			if pg.Table != "" {
				v.sqlIdent("sink.postgres.table", pg.Table)
			}
			if pg.MaxConns != 0 {
				v.within("sink.postgres.max_conns", pg.MaxConns, maxConcurrency)
			}
			if pg.StatementTimeout != 0 {
				v.positiveDuration("sink.postgres.statement_timeout", pg.StatementTimeout)
			}
		case "bigquery":
			bq := &s.BigQuery
			v.required("sink.bigquery.project", bq.Project)
			if v.required("sink.bigquery.dataset", bq.Dataset) {
				v.sqlIdent("sink.bigquery.dataset", bq.Dataset)
			}
			v.sqlIdent("sink.bigquery.table", bq.Table)
		}
	}
	b := &s.Batch
	v.within("sink.batch.max_waiting", b.MaxWaiting, maxWaiting)
	if v.within("sink.batch.max_rows", b.MaxRows, maxBatchItems) && b.MaxWaiting < b.MaxRows {
		v.addf("sink.batch.max_waiting", "%d is less than max_rows (%d): a full write could never form", b.MaxWaiting, b.MaxRows)
	}
	v.nonNegativeDuration("sink.batch.linger", b.Linger)
	v.within("sink.batch.max_in_flight", b.MaxInFlight, maxConcurrency)
	v.retry("sink.batch.retry", b.Retry)
}

func (v *validator) checkModel(i int, m *Model) {
	p := fmt.Sprintf("models[%d]", i)
	if v.required(p+".name", m.Name) {
		if first := v.models[m.Name]; first != i {
			v.addf(p+".name", "duplicate model name %q (also models[%d])", m.Name, first)
		}
	}
	v.enum(p+".protocol", m.Protocol, []string{"open-inference", "vertex", "tei", "openai", "sagemaker"})
	// A SageMaker endpoint is named by its region and name; a url only
	// overrides the regional runtime URL.
	if (m.Protocol == "sagemaker" && m.URL != "") || (m.Protocol != "sagemaker" && v.required(p+".url", m.URL)) {
		if u, err := url.Parse(m.URL); err != nil {
			v.addf(p+".url", "not a URL")
		} else if u.User = nil; (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.addf(p+".url", "%q is not an absolute http(s) URL", u.String())
		} else if u.Scheme == "http" && m.TLS != (TLS{}) {
			v.addf(p+".tls", "set, but url %q is not https", u.String())
		}
	}
	v.labels(p+".labels", m.Labels)
	for j, t := range m.Tenants {
		if !v.tenantSet[t] && !v.tenantSet[wildcardTenant] {
			v.addf(fmt.Sprintf("%s.tenants[%d]", p, j), "%q is not a configured tenant and there is no %q tenant (have: %s)",
				t, wildcardTenant, names(v.c.Tenants, func(t Tenant) string { return t.Name }))
		}
	}

	b := &m.Batch
	v.within(p+".batch.max_waiting", b.MaxWaiting, maxWaiting)
	if v.within(p+".batch.max_items", b.MaxItems, maxBatchItems) && b.MaxWaiting < b.MaxItems {
		v.addf(p+".batch.max_waiting", "%d is less than max_items (%d): a full batch could never form", b.MaxWaiting, b.MaxItems)
	}
	v.within(p+".batch.max_bytes", b.MaxBytes, maxBatchBytes)
	v.nonNegativeDuration(p+".batch.linger", b.Linger)
	v.within(p+".max_in_flight", m.MaxInFlight, maxConcurrency)
	v.positiveDuration(p+".timeout", m.Timeout)
	v.retry(p+".retry", m.Retry)
	v.positiveDuration(p+".breaker.cooldown", m.Breaker.Cooldown)
	v.auth(p+".auth", &m.Auth)
	if t := m.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		v.addf(p+".tls", "cert_file and key_file must be set together")
	}
	if m.MaxResponseBytes < 1 || m.MaxResponseBytes > maxResponseBytes {
		v.addf(p+".max_response_bytes", "%d is outside 1..%d (64MiB)", m.MaxResponseBytes, maxResponseBytes)
	}
	v.version(p+".version", m.Version)
	blocks := []struct {
		protocol, field string
		set             bool
	}{
		{"open-inference", "open_inference", !m.OpenInference.isZero()},
		{"vertex", "vertex", !m.Vertex.isZero()},
		{"tei", "tei", !m.TEI.isZero()},
		{"openai", "openai", !m.OpenAI.isZero()},
		{"sagemaker", "sagemaker", !m.SageMaker.isZero()},
	}
	for _, b := range blocks {
		if b.set && m.Protocol != b.protocol {
			v.addf(p+"."+b.field, "set, but protocol is %q: this block is for protocol %s", m.Protocol, b.protocol)
		}
	}
	switch m.Protocol {
	case "open-inference":
		m.OpenInference.check(v, p+".open_inference", m)
	case "vertex":
		m.Vertex.check(v, p+".vertex", m)
	case "tei":
		m.TEI.check(v, p+".tei", m)
	case "openai":
		m.OpenAI.check(v, p+".openai", m)
	case "sagemaker":
		m.SageMaker.check(v, p+".sagemaker", m)
	}
}

// maxResponseBytes bounds models[].max_response_bytes.
const maxResponseBytes = 64 << 20

// maxNameBytes bounds labels and versions, which go into every row.
const maxNameBytes = 128

// version checks a model version: written into rows and request paths, so
// bounded and printable.
func (v *validator) version(p, s string) {
	if len(s) > maxNameBytes {
		v.addf(p, "%d bytes, at most %d", len(s), maxNameBytes)
	} else if strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s) {
		v.addf(p, "holds control characters or invalid UTF-8")
	}
}

// model returns the configured model of that name, or nil.
func (v *validator) model(name string) *Model {
	if i, ok := v.models[name]; ok {
		return &v.c.Models[i]
	}
	return nil
}

func (v *validator) labels(p string, labels []string) {
	if len(labels) == 0 {
		v.addf(p, "required: at least one label")
		return
	}
	seen := map[string]int{}
	for j, l := range labels {
		lp := fmt.Sprintf("%s[%d]", p, j)
		if strings.TrimSpace(l) == "" {
			v.addf(lp, "empty label")
			continue
		}
		if len(l) > maxNameBytes || strings.IndexFunc(l, unicode.IsControl) >= 0 || !utf8.ValidString(l) {
			v.addf(lp, "label must be at most %d bytes of printable UTF-8", maxNameBytes)
			continue
		}
		if k, dup := seen[l]; dup {
			v.addf(lp, "duplicate label %q (also [%d])", l, k)
			continue
		}
		seen[l] = j
	}
}

// auth checks that headers can be sent and, when getenv is given, that the
// variables they come from are set. Values are never printed.
func (v *validator) auth(p string, a *Auth) {
	// Headers from all three sources must not collide: which one wins would
	// otherwise depend on map order.
	from := map[string]string{} // canonical header name → field path
	claim := func(name, path string) {
		key := strings.ToLower(name)
		if prev, ok := from[key]; ok {
			v.addf(path, "header %q is also set by %s", name, prev)
			return
		}
		from[key] = path
	}
	if a.BearerTokenEnv != "" {
		v.envVar(p+".bearer_token_env", a.BearerTokenEnv)
		claim("Authorization", p+".bearer_token_env")
	}
	for _, name := range sortedKeys(a.HeadersEnv) {
		hp := p + ".headers_env." + name
		if v.headerName(hp, name) {
			claim(name, hp)
		}
		v.envVar(hp, a.HeadersEnv[name])
	}
	for _, name := range sortedKeys(a.Headers) {
		hp := p + ".headers." + name
		if v.headerName(hp, name) {
			claim(name, hp)
		}
	}
}

func (v *validator) envVar(p, name string) {
	if !validEnvName(name) {
		// Not quoted: a value pasted where a name belongs may be the secret.
		v.addf(p, "must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), not hold a value")
		return
	}
	if v.getenv != nil && v.getenv(name) == "" {
		v.addf(p, "environment variable %s is unset or empty", name)
	}
}

func (v *validator) headerName(p, name string) bool {
	if !validHeaderName(name) {
		v.addf(p, "%q is not a valid HTTP header name", name)
		return false
	}
	return true
}

func (v *validator) checkPipeline(i int, pl *Pipeline) {
	p := fmt.Sprintf("pipelines[%d]", i)
	if v.required(p+".name", pl.Name) {
		for j := range i {
			if v.c.Pipelines[j].Name == pl.Name {
				v.addf(p+".name", "duplicate pipeline name %q (also pipelines[%d])", pl.Name, j)
				break
			}
		}
	}
	v.required(p+".version", pl.Version)

	s := &pl.Sentiment
	v.refs(p+".sentiment.models", s.Models)
	if s.PositiveLabel == s.NegativeLabel {
		v.addf(p+".sentiment.negative_label", "%q is also the positive_label", s.NegativeLabel)
	}
	for j, r := range s.Models {
		m := v.model(r.Model)
		if m == nil {
			continue
		}
		for _, want := range []string{s.PositiveLabel, s.NegativeLabel} {
			if !slices.Contains(m.Labels, want) {
				v.addf(fmt.Sprintf("%s.sentiment.models[%d].model", p, j), "model %q has no label %q (has: %s)",
					m.Name, want, strings.Join(m.Labels, ", "))
			}
		}
	}
	v.unit(p+".sentiment.positive_threshold", s.PositiveThreshold)
	v.unit(p+".sentiment.negative_threshold", s.NegativeThreshold)
	if s.NegativeThreshold > s.PositiveThreshold {
		v.addf(p+".sentiment.negative_threshold", "%g is above positive_threshold (%g)", s.NegativeThreshold, s.PositiveThreshold)
	}

	t := &pl.Topics
	if v.refs(p+".topics.models", t.Models) {
		// Only with every topic model known: a dangling reference is
		// already reported and would make every label look unknown.
		var have []string
		for _, r := range t.Models {
			have = append(have, v.model(r.Model).Labels...)
		}
		for _, label := range sortedKeys(t.LabelThresholds) {
			if !slices.Contains(have, label) {
				v.addf(p+".topics.label_thresholds."+label, "no topic model in this pipeline has label %q", label)
			}
		}
	}
	v.unit(p+".topics.threshold", t.Threshold)
	for _, label := range sortedKeys(t.LabelThresholds) {
		v.unit(p+".topics.label_thresholds."+label, t.LabelThresholds[label])
	}
	v.positive(p+".topics.top_k", t.TopK)

	distinct := map[string]bool{}
	for _, r := range slices.Concat(s.Models, t.Models) {
		distinct[r.Model] = true
	}
	switch n := len(distinct); {
	case n == 0:
		v.addf(p, "no models: set sentiment.models or topics.models")
	case pl.Quorum < 0:
		v.addf(p+".quorum", "%d is negative (0 means all models)", pl.Quorum)
	case pl.Quorum > n:
		v.addf(p+".quorum", "%d is more than the %d models in the pipeline", pl.Quorum, n)
	}
}

// refs checks one output's model list and reports whether every reference
// names a configured model.
func (v *validator) refs(p string, refs []ModelRef) bool {
	ok := true
	seen := map[string]int{}
	for j, r := range refs {
		rp := fmt.Sprintf("%s[%d]", p, j)
		switch k, dup := seen[r.Model]; {
		case r.Model == "":
			v.addf(rp+".model", "required")
			ok = false
		case v.model(r.Model) == nil:
			v.addf(rp+".model", "%q is not a configured model (have: %s)", r.Model,
				names(v.c.Models, func(m Model) string { return m.Name }))
			ok = false
		case dup:
			v.addf(rp+".model", "%q is listed twice (also [%d])", r.Model, k)
		default:
			seen[r.Model] = j
		}
		if !(r.Weight > 0) || math.IsInf(r.Weight, 0) {
			v.addf(rp+".weight", "%g is not a positive number", r.Weight)
		}
		if c := r.Calibration; c != nil {
			v.finite(rp+".calibration.scale", c.Scale)
			v.finite(rp+".calibration.bias", c.Bias)
		}
	}
	return ok
}

func (v *validator) tenants() {
	if len(v.c.Tenants) == 0 {
		v.addf("tenants", "at least one tenant is required (name %q routes every tenant)", wildcardTenant)
	}
	for i, t := range v.c.Tenants {
		p := fmt.Sprintf("tenants[%d]", i)
		if v.required(p+".name", t.Name) {
			for j := range i {
				if v.c.Tenants[j].Name != t.Name {
					continue
				}
				if t.Name == wildcardTenant {
					v.addf(p+".name", "only one %q tenant is allowed (also tenants[%d])", wildcardTenant, j)
				} else {
					v.addf(p+".name", "duplicate tenant name %q (also tenants[%d])", t.Name, j)
				}
				break
			}
		}
		if t.Weight != 0 {
			v.within(p+".weight", t.Weight, maxTenantWeight)
		}
		if v.required(p+".pipeline", t.Pipeline) && !v.pipelines[t.Pipeline] {
			v.addf(p+".pipeline", "%q is not a configured pipeline (have: %s)", t.Pipeline,
				names(v.c.Pipelines, func(p Pipeline) string { return p.Name }))
		}
	}
}

func (v *validator) retry(p string, r Retry) {
	v.within(p+".max_attempts", r.MaxAttempts, maxAttempts)
	v.backoff(p+".backoff", r.Backoff)
	v.positiveDuration(p+".max_elapsed", r.MaxElapsed)
	v.nonNegativeDuration(p+".max_retry_after", r.MaxRetryAfter)
}

func (v *validator) backoff(p string, b Backoff) {
	if v.positiveDuration(p+".initial", b.Initial) && b.Max < b.Initial {
		v.addf(p+".max", "%s is less than initial (%s)", b.Max, b.Initial)
	}
}

func (v *validator) required(p, s string) bool {
	if s == "" {
		v.addf(p, "required")
		return false
	}
	return true
}

func (v *validator) enum(p, got string, allowed []string) bool {
	switch {
	case got == "":
		v.addf(p, "required, one of %s", strings.Join(allowed, ", "))
	case !slices.Contains(allowed, got):
		v.addf(p, "got %q, expected one of %s", got, strings.Join(allowed, ", "))
	default:
		return true
	}
	return false
}

// Upper bounds of the limits: each is far above any real deployment and
// far below what would take the worker down (a queue of 10^9 slots is a
// fatal out-of-memory before the first message), so a typo fails here,
// naming the bound, instead of at run time.
const (
	maxOutstandingMessages = 1_000_000
	maxOutstandingBytes    = 16 << 30
	maxConcurrency         = 1024 // pullers, pollers, connections, batches in flight
	maxReceiveBatch        = 1000
	maxStreams             = 64
	maxTextBytes           = 1 << 20
	maxJobsPerMessage      = 100_000
	maxMessageBytes        = 256 << 20
	maxBatchItems          = 100_000
	maxBatchBytes          = 256 << 20
	maxWaiting             = 1_000_000
	maxAttempts            = 100
	maxKeyBytes            = 1024
	maxTenantWeight        = 1000
)

// within checks 1 ≤ n ≤ most.
func (v *validator) within(p string, n, most int) bool {
	if !v.positive(p, n) {
		return false
	}
	if n > most {
		v.addf(p, "%d is over the limit of %d", n, most)
		return false
	}
	return true
}

func (v *validator) positive(p string, n int) bool {
	if n <= 0 {
		v.addf(p, "%d is not positive", n)
		return false
	}
	return true
}

func (v *validator) positiveDuration(p string, d time.Duration) bool {
	if d <= 0 {
		v.addf(p, "%s is not positive", d)
		return false
	}
	return true
}

func (v *validator) nonNegativeDuration(p string, d time.Duration) {
	if d < 0 {
		v.addf(p, "%s is negative", d)
	}
}

// unit checks a probability threshold.
func (v *validator) unit(p string, f float64) {
	if !(f >= 0 && f <= 1) {
		v.addf(p, "%g is not in [0, 1]", f)
	}
}

func (v *validator) finite(p string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		v.addf(p, "%g is not a finite number", f)
	}
}

// names lists items' names in config order for "have: …" hints.
func names[T any](items []T, name func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
