package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/ops"
)

// ---------------------------------------------------------------------------
// 4. Grafana: every metric and label the dashboard queries is exported.

// exported describes a metric series name the binary exports.
type exported struct {
	labels map[string]bool
}

// targetLabels are added by Prometheus at scrape time, not by the binary.
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

func TestDeployGrafana(t *testing.T) {
	names := exportedMetrics(t)
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "chorus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash obj
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("chorus.json: %v", err)
	}
	hasDatasourceVar := false
	var queries []struct{ where, expr string }
	for _, v := range list(dash, "templating", "list") {
		vm, _ := v.(obj)
		if str(vm, "type") == "datasource" && str(vm, "query") == "prometheus" {
			hasDatasourceVar = true
		}
		q := str(vm, "definition")
		if s, ok := vm["query"].(string); ok && str(vm, "type") == "query" {
			q = s
		} else if s := str(vm, "query", "query"); s != "" {
			q = s
		}
		if q != "" && str(vm, "type") == "query" {
			queries = append(queries, struct{ where, expr string }{"variable $" + str(vm, "name"), q})
		}
	}
	if !hasDatasourceVar {
		t.Error("no Prometheus datasource template variable")
	}
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			pm, _ := p.(obj)
			walk(list(pm, "panels"))
			if str(pm, "type") == "row" {
				continue
			}
			targets := list(pm, "targets")
			if len(targets) == 0 {
				t.Errorf("panel %q has no queries", str(pm, "title"))
			}
			for _, tg := range targets {
				tm, _ := tg.(obj)
				queries = append(queries, struct{ where, expr string }{"panel " + strconv.Quote(str(pm, "title")), str(tm, "expr")})
			}
		}
	}
	walk(list(dash, "panels"))
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in chorus.json", len(queries))
	}
	for _, q := range queries {
		t.Run(q.where, func(t *testing.T) {
			for _, p := range checkQuery(q.expr, names) {
				t.Errorf("%s: %s", q.expr, p)
			}
		})
	}
}

var (
	quotedRE      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricRE      = regexp.MustCompile(`\bchorus_[A-Za-z0-9_:]+`)
	selectorRE    = regexp.MustCompile(`\b(chorus_[A-Za-z0-9_:]+)\s*\{([^}]*)\}`)
	matcherRE     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelValuesRE = regexp.MustCompile(`label_values\(\s*(chorus_[A-Za-z0-9_:]+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)`)
)

// checkQuery returns what is wrong with one PromQL expression: metrics the
// binary does not export, and labels those metrics do not have.
func checkQuery(expr string, names map[string]exported) []string {
	var problems []string
	bare := quotedRE.ReplaceAllString(expr, `""`)
	used := slices.Compact(slices.Sorted(slices.Values(metricRE.FindAllString(bare, -1))))
	for _, m := range used {
		if _, ok := names[m]; !ok {
			problems = append(problems, fmt.Sprintf("%s is not exported by chorus (worker/metrics)", m))
		}
	}
	has := func(m, label string) bool {
		e, ok := names[m]
		return !ok || e.labels[label] || slices.Contains(targetLabels, label)
	}
	for _, s := range selectorRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range matcherRE.FindAllStringSubmatch(s[2], -1) {
			if !has(s[1], l[1]) {
				problems = append(problems, fmt.Sprintf("%s has no label %q", s[1], l[1]))
			}
		}
	}
	for _, g := range groupingRE.FindAllStringSubmatch(bare, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			for _, m := range used {
				if label != "" && !has(m, label) {
					problems = append(problems, fmt.Sprintf("groups by %q, which %s does not have", label, m))
				}
			}
		}
	}
	for _, lv := range labelValuesRE.FindAllStringSubmatch(bare, -1) {
		if !has(lv[1], lv[2]) {
			problems = append(problems, fmt.Sprintf("label_values: %s has no label %q", lv[1], lv[2]))
		}
	}
	return problems
}

// recordingRegisterer remembers what is registered through it.
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
	r.Registerer.MustRegister(cs...)
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// exportedMetrics lists the series names `chorus run` exports, from its
// collectors' descriptions: Gather would miss every *Vec not yet observed.
func exportedMetrics(t *testing.T) map[string]exported {
	t.Helper()
	rec := &recordingRegisterer{Registerer: ops.NewRegistry()}
	metrics.New(rec) // as runCmd does
	out := map[string]exported{}
	for _, c := range rec.collectors {
		histogram := isHistogram(c)
		ch := make(chan *prometheus.Desc)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			labels := map[string]bool{}
			for _, l := range strings.Split(m[2], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels[l] = true
				}
			}
			out[m[1]] = exported{labels}
			if histogram {
				bucket := map[string]bool{"le": true}
				for l := range labels {
					bucket[l] = true
				}
				out[m[1]+"_bucket"] = exported{bucket}
				out[m[1]+"_sum"] = exported{labels}
				out[m[1]+"_count"] = exported{labels}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("metrics.New registered nothing")
	}
	return out
}

// isHistogram tells histograms from other collectors: a Vec by its type, a
// plain metric by what it writes (Histogram and Summary share a method set).
func isHistogram(c prometheus.Collector) bool {
	if _, ok := c.(*prometheus.HistogramVec); ok {
		return true
	}
	m, ok := c.(prometheus.Metric)
	if !ok {
		return false
	}
	var pb dto.Metric
	return m.Write(&pb) == nil && pb.Histogram != nil
}
