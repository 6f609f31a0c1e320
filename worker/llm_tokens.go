package worker

import (
	"github.com/chorusml/chorus/worker/endpoint"
	"github.com/chorusml/chorus/worker/metrics"
)

// chargeTokens splits the tokens an LLM endpoint billed for a batch
// between its tenants by item count, as chargeTenants splits endpoint
// time: one request holds several tenants' texts, and the split is what
// makes chorus_llm_tokens_total per tenant add up to the bill. Endpoints
// that report no usage (every protocol but openai) cost nothing here.
func (r *modelRunner) chargeTokens(batch []item, u endpoint.Usage) {
	if len(batch) == 0 || (u.PromptTokens <= 0 && u.CompletionTokens <= 0) {
		return
	}
	counts := make(map[string]int, 4)
	for _, it := range batch {
		counts[r.w.tenants.get(it.js.job.Tenant).label]++
	}
	n := float64(len(batch))
	for tenant, k := range counts {
		share := float64(k) / n
		if u.PromptTokens > 0 {
			r.w.m.LLMTokens.WithLabelValues(r.cfg.Name, tenant, metrics.TokensPrompt).Add(share * float64(u.PromptTokens))
		}
		if u.CompletionTokens > 0 {
			r.w.m.LLMTokens.WithLabelValues(r.cfg.Name, tenant, metrics.TokensCompletion).Add(share * float64(u.CompletionTokens))
		}
	}
}
