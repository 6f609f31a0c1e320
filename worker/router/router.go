// Package router decides, per job, which pipeline scores it and which models
// that pipeline calls for the job's tenant. Shared models serve every
// tenant; a model with a tenant list serves only those tenants' jobs.
//
// Every route is computed once at start-up, so routing a job is two map
// look-ups and allocates nothing.
package router

import (
	"fmt"
	"slices"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
)

// Wildcard is the tenant name that matches any tenant not listed.
const Wildcard = "*"

// Route is where one job goes.
type Route struct {
	// Pipeline is the pipeline that scores the job.
	Pipeline *config.Pipeline
	// PipelineIndex is Pipeline's index in Config.Pipelines.
	PipelineIndex int
	// Models are indices into Config.Models, each once, in the order the
	// pipeline names them (sentiment, then topics).
	Models []int
}

// Router maps (tenant, pipeline override) to a route.
type Router struct {
	// routes[tenant][pipeline]; pipeline "" is the tenant's default.
	routes map[string]map[string]*Route
}

// New builds every route of cfg. A route with no model is a config error.
func New(cfg *config.Config) (*Router, error) {
	pipeIdx := make(map[string]int, len(cfg.Pipelines))
	for i, p := range cfg.Pipelines {
		pipeIdx[p.Name] = i
	}
	modelIdx := make(map[string]int, len(cfg.Models))
	for i, m := range cfg.Models {
		modelIdx[m.Name] = i
	}
	defaults := make(map[string]string) // tenant → default pipeline
	for _, t := range cfg.Tenants {
		defaults[t.Name] = t.Pipeline
	}
	// Tenants named only in a model's tenant list still get their custom
	// models when the wildcard routes them.
	if star, ok := defaults[Wildcard]; ok {
		for _, m := range cfg.Models {
			for _, t := range m.Tenants {
				if _, listed := defaults[t]; !listed {
					defaults[t] = star
				}
			}
		}
	}
	r := &Router{routes: make(map[string]map[string]*Route, len(defaults))}
	for tenant, def := range defaults {
		byPipe := make(map[string]*Route, len(cfg.Pipelines)+1)
		for i := range cfg.Pipelines {
			p := &cfg.Pipelines[i]
			route := &Route{Pipeline: p, PipelineIndex: i}
			for _, ref := range slices.Concat(p.Sentiment.Models, p.Topics.Models) {
				mi, ok := modelIdx[ref.Model]
				if !ok {
					return nil, fmt.Errorf("pipelines[%d] (%s): model %q is not configured", i, p.Name, ref.Model)
				}
				if serves(cfg.Models[mi], tenant) && !slices.Contains(route.Models, mi) {
					route.Models = append(route.Models, mi)
				}
			}
			byPipe[p.Name] = route
			if p.Name == def {
				if len(route.Models) == 0 {
					return nil, fmt.Errorf("tenant %q: pipeline %q has no model that serves it", tenant, p.Name)
				}
				byPipe[""] = route
			}
		}
		if _, ok := byPipe[""]; !ok {
			return nil, fmt.Errorf("tenant %q: pipeline %q is not configured", tenant, def)
		}
		r.routes[tenant] = byPipe
	}
	return r, nil
}

// serves reports whether model m is called for tenant's jobs. The wildcard
// route gets shared models only.
func serves(m config.Model, tenant string) bool {
	return len(m.Tenants) == 0 || slices.Contains(m.Tenants, tenant)
}

// Reasons of the errors Route returns.
const (
	ReasonUnknownTenant   errkind.Reason = "unknown_tenant"
	ReasonUnknownPipeline errkind.Reason = "unknown_pipeline"
)

// Route returns the route for a job of tenant; pipeline, when not empty,
// forces a pipeline (the message's "pipeline" attribute). Errors are
// InvalidInput with reason unknown_tenant or unknown_pipeline.
func (r *Router) Route(tenant, pipeline string) (*Route, error) {
	byPipe, ok := r.routes[tenant]
	if !ok {
		byPipe, ok = r.routes[Wildcard]
		if !ok {
			return nil, errkind.Errorf(errkind.InvalidInput, ReasonUnknownTenant, "tenant %q is not configured", tenant)
		}
	}
	route, ok := byPipe[pipeline]
	if !ok || len(route.Models) == 0 {
		return nil, errkind.Errorf(errkind.InvalidInput, ReasonUnknownPipeline, "pipeline %q is not configured for tenant %q", pipeline, tenant)
	}
	return route, nil
}
