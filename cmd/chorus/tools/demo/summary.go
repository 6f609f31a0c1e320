package demo

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/worker/config"
)

// Summary is what a demo run did.
type Summary struct {
	Messages     int            `json:"messages"`
	Committed    int            `json:"jobs_committed"`
	DeadLettered int            `json:"dead_lettered"`
	Partial      int            `json:"partial_results"`
	Seconds      float64        `json:"seconds"`
	JobsPerSec   float64        `json:"jobs_per_second"`
	Models       []ModelStats   `json:"models"`
	Tenants      []TenantStats  `json:"tenants"`
	DeadReasons  map[string]int `json:"dead_letters_by_reason"`
	// LLMTokens is what each tenant's LLM tags cost, from
	// chorus_llm_tokens_total.
	LLMTokens []TokenStats `json:"llm_tokens"`
	OutDir    string       `json:"out_dir"`
}

// TokenStats is the tokens one LLM model billed for one tenant.
type TokenStats struct {
	Model      string  `json:"model"`
	Tenant     string  `json:"tenant"`
	Prompt     float64 `json:"prompt_tokens"`
	Completion float64 `json:"completion_tokens"`
}

// ModelStats is one model's share of the work.
type ModelStats struct {
	Model         string  `json:"model"`
	Batches       int     `json:"batches"`
	Items         int     `json:"items"`
	MeanBatch     float64 `json:"mean_batch_size"`
	MeanFill      float64 `json:"mean_batch_fill"`
	MeanLatencyMS float64 `json:"mean_latency_ms"`
}

// TenantStats counts one tenant's results.
type TenantStats struct {
	Tenant    string         `json:"tenant"`
	Jobs      int            `json:"jobs"`
	Sentiment map[string]int `json:"sentiment"`
	Tags      map[string]int `json:"tags"`
}

func summarize(g prometheus.Gatherer, cfg *config.Config, results []sinks.Result, dead []deadLettered, messages int, elapsed time.Duration) (*Summary, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	s := &Summary{
		Messages: messages, Committed: len(results), DeadLettered: len(dead),
		Seconds: elapsed.Seconds(), DeadReasons: map[string]int{},
	}
	if elapsed > 0 {
		s.JobsPerSec = float64(len(results)) / elapsed.Seconds()
	}
	for _, m := range cfg.Models {
		size := histogram(mfs, "chorus_batch_size", m.Name)
		fill := histogram(mfs, "chorus_batch_fill_ratio", m.Name)
		lat := histogram(mfs, "chorus_endpoint_request_duration_seconds", m.Name)
		ms := ModelStats{Model: m.Name}
		if size != nil && size.GetSampleCount() > 0 {
			ms.Batches = int(size.GetSampleCount())
			ms.Items = int(size.GetSampleSum())
			ms.MeanBatch = size.GetSampleSum() / float64(size.GetSampleCount())
		}
		if fill != nil && fill.GetSampleCount() > 0 {
			ms.MeanFill = fill.GetSampleSum() / float64(fill.GetSampleCount())
		}
		if lat != nil && lat.GetSampleCount() > 0 {
			ms.MeanLatencyMS = 1000 * lat.GetSampleSum() / float64(lat.GetSampleCount())
		}
		s.Models = append(s.Models, ms)
	}
	byTenant := map[string]*TenantStats{}
	for _, r := range results {
		t := byTenant[r.Tenant]
		if t == nil {
			t = &TenantStats{Tenant: r.Tenant, Sentiment: map[string]int{}, Tags: map[string]int{}}
			byTenant[r.Tenant] = t
		}
		t.Jobs++
		t.Sentiment[r.SentimentLabel]++
		for _, tag := range r.Tags {
			t.Tags[tag.Tag]++
		}
		if r.Partial {
			s.Partial++
		}
	}
	for _, t := range byTenant {
		s.Tenants = append(s.Tenants, *t)
	}
	sort.Slice(s.Tenants, func(i, j int) bool { return s.Tenants[i].Tenant < s.Tenants[j].Tenant })
	for _, d := range dead {
		s.DeadReasons[d.Attributes[sources.AttrErrorClass]]++
	}
	s.LLMTokens = llmTokens(mfs)
	return s, nil
}

// llmTokens reads chorus_llm_tokens_total by model and tenant.
func llmTokens(mfs []*dto.MetricFamily) []TokenStats {
	type key struct{ model, tenant string }
	by := map[key]*TokenStats{}
	for _, mf := range mfs {
		if mf.GetName() != "chorus_llm_tokens_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			k := key{l["model"], l["tenant"]}
			ts := by[k]
			if ts == nil {
				ts = &TokenStats{Model: k.model, Tenant: k.tenant}
				by[k] = ts
			}
			switch l["kind"] {
			case "prompt":
				ts.Prompt += m.GetCounter().GetValue()
			case "completion":
				ts.Completion += m.GetCounter().GetValue()
			}
		}
	}
	out := make([]TokenStats, 0, len(by))
	for _, ts := range by {
		out = append(out, *ts)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].Tenant < out[j].Tenant
	})
	return out
}

// histogram finds the histogram of family name with label model=model.
func histogram(mfs []*dto.MetricFamily, name, model string) *dto.Histogram {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == model {
					return m.GetHistogram()
				}
			}
		}
	}
	return nil
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nScored %d jobs from %d messages in %.1fs: %.0f jobs/s", s.Committed, s.Messages, s.Seconds, s.JobsPerSec)
	if s.Partial > 0 {
		fmt.Fprintf(w, " (%d partial)", s.Partial)
	}
	fmt.Fprintf(w, "\nDead-lettered %d payloads, each with its reason.\n\n", s.DeadLettered)

	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tbatches\titems\tmean batch\tmean fill\tmean latency\t")
	for _, m := range s.Models {
		if m.Batches == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t(not called)\t\n", m.Model)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.0f%%\t%.1f ms\t\n", m.Model, m.Batches, m.Items, m.MeanBatch, 100*m.MeanFill, m.MeanLatencyMS)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "tenant\tjobs\tpositive/neutral/negative\ttop tags")
	for _, t := range s.Tenants {
		fmt.Fprintf(tw, "%s\t%d\t%d / %d / %d\t%s\n", t.Tenant, t.Jobs,
			t.Sentiment["positive"], t.Sentiment["neutral"], t.Sentiment["negative"], topTags(t.Tags, 5))
	}
	tw.Flush()

	if len(s.LLMTokens) > 0 {
		fmt.Fprintln(w, "\nLLM tokens billed (chorus_llm_tokens_total):")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "model\ttenant\tprompt\tcompletion\t")
		for _, t := range s.LLMTokens {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t\n", t.Model, t.Tenant, t.Prompt, t.Completion)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nDead letters by reason:")
	reasons := make([]string, 0, len(s.DeadReasons))
	for r := range s.DeadReasons {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %-18s %d\n", r, s.DeadReasons[r])
	}
	fmt.Fprintf(w, "\nResults:      %s/%s\nDead letters: %s/%s\nSummary:      %s/%s\nWorker log:   %s/%s\n",
		s.OutDir, ResultsFile, s.OutDir, DeadLettersFile, s.OutDir, SummaryFile, s.OutDir, LogFile)
}

func topTags(tags map[string]int, k int) string {
	type kv struct {
		tag string
		n   int
	}
	var all []kv
	for t, n := range tags {
		all = append(all, kv{t, n})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].tag < all[j].tag
	})
	var parts []string
	for i, e := range all {
		if i == k {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", e.tag, e.n))
	}
	return strings.Join(parts, ", ")
}
