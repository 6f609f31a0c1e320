package worker

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/job"
	"github.com/chorusml/chorus/worker/metrics"
)

// chargeTokens is tested from inside the package: the split is
// arithmetic on a batch, and through the worker it would only be seen
// summed over many batches.
func TestChargeTokens(t *testing.T) {
	type tokens struct{ prompt, completion float64 }
	for _, tc := range []struct {
		name    string
		tenants []string // one per item in the batch
		usage   endpoint.Usage
		want    map[string]tokens // by tenant label; others must have no series
	}{
		{
			name:    "split by item count",
			tenants: []string{"acme", "acme", "acme", "globex"},
			usage:   endpoint.Usage{PromptTokens: 1000, CompletionTokens: 100},
			want:    map[string]tokens{"acme": {750, 75}, "globex": {250, 25}},
		},
		{
			name:    "unconfigured tenants are charged as other",
			tenants: []string{"acme", "initech", "hooli"},
			usage:   endpoint.Usage{PromptTokens: 300, CompletionTokens: 30},
			want:    map[string]tokens{"acme": {100, 10}, "other": {200, 20}},
		},
		{
			name:    "prompt only",
			tenants: []string{"globex"},
			usage:   endpoint.Usage{PromptTokens: 42},
			want:    map[string]tokens{"globex": {42, 0}},
		},
		{
			name:    "no usage reported",
			tenants: []string{"acme", "globex"},
			want:    map[string]tokens{},
		},
		{
			name:  "empty batch",
			usage: endpoint.Usage{PromptTokens: 10, CompletionTokens: 1},
			want:  map[string]tokens{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(nil)
			cfg := &config.Config{Tenants: []config.Tenant{{Name: "acme"}, {Name: "globex"}}}
			r := &modelRunner{w: &Worker{m: m, tenants: newTenantCounters(cfg, m)}, cfg: &config.Model{Name: "llm"}}
			batch := make([]item, len(tc.tenants))
			for i, tenant := range tc.tenants {
				batch[i] = item{js: &jobState{job: job.Job{Tenant: tenant}}}
			}
			r.chargeTokens(batch, tc.usage)

			series := 0
			for tenant, want := range tc.want {
				for kind, v := range map[string]float64{metrics.TokensPrompt: want.prompt, metrics.TokensCompletion: want.completion} {
					if v == 0 {
						continue
					}
					series++
					if got := testutil.ToFloat64(m.LLMTokens.WithLabelValues("llm", tenant, kind)); math.Abs(got-v) > 1e-9 {
						t.Errorf("%s %s tokens = %v, want %v", tenant, kind, got, v)
					}
				}
			}
			if got := testutil.CollectAndCount(m.LLMTokens); got != series {
				t.Errorf("%d token series, want %d", got, series)
			}
		})
	}
}
