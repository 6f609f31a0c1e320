package router

import (
	"testing"

	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
)

func testConfig(star bool) *config.Config {
	cfg := &config.Config{
		Models: []config.Model{
			{Name: "sent"},
			{Name: "topics"},
			{Name: "acme-topics", Tenants: []string{"acme"}},
			{Name: "hooli-topics", Tenants: []string{"hooli"}},
		},
		Pipelines: []config.Pipeline{
			{Name: "default", Version: "1",
				Sentiment: config.Sentiment{Models: []config.ModelRef{{Model: "sent"}}},
				Topics:    config.Topics{Models: []config.ModelRef{{Model: "topics"}, {Model: "acme-topics"}, {Model: "hooli-topics"}}}},
			{Name: "sentiment-only", Version: "2",
				Sentiment: config.Sentiment{Models: []config.ModelRef{{Model: "sent"}}}},
		},
		Tenants: []config.Tenant{{Name: "acme", Pipeline: "default"}, {Name: "globex", Pipeline: "sentiment-only"}},
	}
	if star {
		cfg.Tenants = append(cfg.Tenants, config.Tenant{Name: Wildcard, Pipeline: "default"})
	}
	return cfg
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name       string
		star       bool
		tenant     string
		pipeline   string
		wantPipe   string
		wantModels []int
		wantReason errkind.Reason
	}{
		{"custom model for its tenant", false, "acme", "", "default", []int{0, 1, 2}, ""},
		{"tenant default pipeline", false, "globex", "", "sentiment-only", []int{0}, ""},
		{"forced pipeline", false, "acme", "sentiment-only", "sentiment-only", []int{0}, ""},
		{"forced pipeline without custom model for tenant", false, "globex", "default", "default", []int{0, 1}, ""},
		{"unknown tenant", false, "umbrella", "", "", nil, ReasonUnknownTenant},
		{"unknown pipeline", false, "acme", "nope", "", nil, ReasonUnknownPipeline},
		{"wildcard gets shared models only", true, "umbrella", "", "default", []int{0, 1}, ""},
		{"wildcard tenant named by a custom model", true, "hooli", "", "default", []int{0, 1, 3}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(testConfig(tc.star))
			if err != nil {
				t.Fatal(err)
			}
			route, err := r.Route(tc.tenant, tc.pipeline)
			if tc.wantReason != "" {
				if errkind.KindOf(err) != errkind.InvalidInput || errkind.ReasonOf(err) != tc.wantReason {
					t.Fatalf("err = %v, want InvalidInput %s", err, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if route.Pipeline.Name != tc.wantPipe {
				t.Errorf("pipeline %s, want %s", route.Pipeline.Name, tc.wantPipe)
			}
			if len(route.Models) != len(tc.wantModels) {
				t.Fatalf("models %v, want %v", route.Models, tc.wantModels)
			}
			for i := range route.Models {
				if route.Models[i] != tc.wantModels[i] {
					t.Fatalf("models %v, want %v", route.Models, tc.wantModels)
				}
			}
		})
	}
}

func TestRouteAllocatesNothing(t *testing.T) {
	r, err := New(testConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Route("acme", "") }); n != 0 {
		t.Fatalf("Route allocates %v times", n)
	}
}
