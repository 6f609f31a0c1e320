package ensemble

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
)

func sent(model string, pos, neg float64) Output {
	return Output{Model: model, Version: model + "-v1", Labels: []string{"negative", "neutral", "positive"}, Scores: []float64{neg, max(0, 1-pos-neg), pos}}
}

func topic(model string, kv ...any) Output {
	o := Output{Model: model, Version: model + "-v1"}
	for i := 0; i < len(kv); i += 2 {
		o.Labels = append(o.Labels, kv[i].(string))
		o.Scores = append(o.Scores, kv[i+1].(float64))
	}
	return o
}

func refs(names ...string) []config.ModelRef {
	var rs []config.ModelRef
	for _, n := range names {
		rs = append(rs, config.ModelRef{Model: n})
	}
	return rs
}

func pipeline(mod func(*config.Pipeline)) config.Pipeline {
	p := config.Pipeline{
		Name:      "default",
		Sentiment: config.Sentiment{Models: refs("s1", "s2")},
		Topics:    config.Topics{Models: refs("t1", "t2")},
	}
	if mod != nil {
		mod(&p)
	}
	return defaulted(p)
}

// defaulted is p as config.Parse hands it on: New trusts config for the
// defaults of labels, thresholds and top_k.
func defaulted(p config.Pipeline) config.Pipeline {
	c := config.Config{Pipelines: []config.Pipeline{p}}
	c.ApplyDefaults()
	return c.Pipelines[0]
}

func sigm(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

const eps = 1e-9

func TestCombine(t *testing.T) {
	tests := []struct {
		name      string
		pipeline  config.Pipeline
		outs      []Output
		failed    []string
		label     string
		score     float64
		tags      []sinks.Tag
		partial   bool
		reason    errkind.Reason // error reason, when an error is expected
		kind      errkind.Kind
		errDetail string
	}{
		{
			name:     "equal weights",
			pipeline: pipeline(nil),
			outs:     []Output{sent("s1", 0.9, 0.1), sent("s2", 0.5, 0.3), topic("t1", "billing", 0.8), topic("t2", "billing", 0.6)},
			label:    Positive, score: (0.9 + 0.6) / 2,
			tags: []sinks.Tag{{Tag: "billing", Score: 0.7, Models: []string{"t1", "t2"}}},
		},
		{
			name: "weights",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models[0].Weight = 3
				p.Topics.Models[1].Weight = 3
			}),
			outs:  []Output{sent("s1", 0, 1), sent("s2", 1, 0), topic("t1", "billing", 0.2), topic("t2", "billing", 0.7)},
			label: Negative, score: 0.25,
			tags: []sinks.Tag{{Tag: "billing", Score: 0.575, Models: []string{"t2"}}},
		},
		{
			name: "calibration",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = []config.ModelRef{{Model: "s1", Calibration: &config.Calibration{Scale: 2, Bias: -0.5}}}
				p.Topics.Models = []config.ModelRef{{Model: "t1", Calibration: &config.Calibration{Scale: 0.5, Bias: 1}}}
			}),
			outs:  []Output{sent("s1", 0.7, 0.2), topic("t1", "billing", 0.5, "ux", 0.0)},
			label: Positive, score: sigm(2*0.5 - 0.5),
			tags: []sinks.Tag{
				{Tag: "billing", Score: sigm(1), Models: []string{"t1"}},
				// logit(0) is clamped, so scale 0.5 gives sigmoid(0.5·logit(1e-12) + 1).
				{Tag: "ux", Score: sigm(0.5*math.Log(1e-12/(1-1e-12)) + 1), Models: nil},
			}[:1],
		},
		{
			name: "calibration with bias only means scale 1",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = []config.ModelRef{{Model: "s1", Calibration: &config.Calibration{Bias: 1}}}
				p.Topics.Models = nil
			}),
			outs:  []Output{sent("s1", 0.5, 0.5)},
			label: Positive, score: sigm(1),
			tags: []sinks.Tag{},
		},
		{
			name:     "neutral band",
			pipeline: pipeline(func(p *config.Pipeline) { p.Topics.Models = nil }),
			outs:     []Output{sent("s1", 0.6, 0.4), sent("s2", 0.5, 0.5)},
			label:    Neutral, score: 0.55, tags: []sinks.Tag{},
		},
		{
			name:     "default thresholds are inclusive",
			pipeline: pipeline(func(p *config.Pipeline) { p.Topics.Models = nil; p.Sentiment.Models = refs("s1") }),
			outs:     []Output{sent("s1", 0.2, 0)}, // p = 0.6
			label:    Positive, score: 0.6, tags: []sinks.Tag{},
		},
		{
			name:     "negative threshold is inclusive",
			pipeline: pipeline(func(p *config.Pipeline) { p.Topics.Models = nil; p.Sentiment.Models = refs("s1") }),
			outs:     []Output{sent("s1", 0, 0.2)}, // p = 0.4
			label:    Negative, score: 0.4, tags: []sinks.Tag{},
		},
		{
			name: "custom thresholds and labels",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Topics.Models = nil
				p.Sentiment = config.Sentiment{Models: refs("s1"), PositiveLabel: "POS", NegativeLabel: "NEG", PositiveThreshold: 0.9, NegativeThreshold: 0.1}
			}),
			outs:  []Output{{Model: "s1", Labels: []string{"NEG", "POS"}, Scores: []float64{0.1, 0.7}}},
			label: Neutral, score: 0.8, tags: []sinks.Tag{},
		},
		{
			name: "per-label thresholds",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
				p.Topics.Threshold = 0.4
				p.Topics.LabelThresholds = map[string]float64{"billing": 0.88, "praise": 0}
			}),
			outs: []Output{topic("t1", "billing", 0.85, "ux", 0.45, "praise", 0.0), topic("t2", "billing", 0.95, "ux", 0.3, "praise", 0.02)},
			tags: []sinks.Tag{
				{Tag: "billing", Score: 0.9, Models: []string{"t2"}},
				{Tag: "praise", Score: 0.01, Models: []string{"t1", "t2"}},
			},
		},
		{
			name: "top-k with ties broken by label",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
				p.Topics.Models = refs("t1")
				p.Topics.TopK = 3
			}),
			outs: []Output{topic("t1", "d", 0.7, "c", 0.9, "b", 0.7, "a", 0.6, "e", 0.7, "f", 0.1)},
			tags: []sinks.Tag{
				{Tag: "c", Score: 0.9, Models: []string{"t1"}},
				{Tag: "b", Score: 0.7, Models: []string{"t1"}},
				{Tag: "d", Score: 0.7, Models: []string{"t1"}},
			},
		},
		{
			name: "default top-k is 5",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
				p.Topics.Models = refs("t1")
			}),
			outs: []Output{topic("t1", "a", 0.9, "b", 0.9, "c", 0.9, "d", 0.9, "e", 0.9, "f", 0.9)},
			tags: []sinks.Tag{
				{Tag: "a", Score: 0.9, Models: []string{"t1"}}, {Tag: "b", Score: 0.9, Models: []string{"t1"}},
				{Tag: "c", Score: 0.9, Models: []string{"t1"}}, {Tag: "d", Score: 0.9, Models: []string{"t1"}},
				{Tag: "e", Score: 0.9, Models: []string{"t1"}},
			},
		},
		{
			name: "labels in different orders and sets",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
			}),
			outs: []Output{topic("t2", "ux", 0.8, "billing", 0.4), topic("t1", "billing", 0.8, "ux", 0.6, "custom", 0.7)},
			tags: []sinks.Tag{
				{Tag: "custom", Score: 0.7, Models: []string{"t1"}},
				{Tag: "ux", Score: 0.7, Models: []string{"t1", "t2"}},
				{Tag: "billing", Score: 0.6000000000000001, Models: []string{"t1"}},
			},
		},
		{
			name: "precedence replaces the mean",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
				p.Topics.Models = []config.ModelRef{{Model: "shared"}, {Model: "acme-custom", Precedence: true}}
			}),
			outs: []Output{topic("shared", "billing", 0.9, "ux", 0.8), topic("acme-custom", "billing", 0.2, "onboarding", 0.7)},
			tags: []sinks.Tag{
				{Tag: "ux", Score: 0.8, Models: []string{"shared"}},
				{Tag: "onboarding", Score: 0.7, Models: []string{"acme-custom"}},
			},
		},
		{
			name: "precedence model failed: the mean stands",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = nil
				p.Topics.Models = []config.ModelRef{{Model: "shared"}, {Model: "acme-custom", Precedence: true}}
				p.Quorum = 1
			}),
			outs:    []Output{topic("shared", "billing", 0.9)},
			failed:  []string{"acme-custom"},
			tags:    []sinks.Tag{{Tag: "billing", Score: 0.9, Models: []string{"shared"}}},
			partial: true,
		},
		{
			name:     "quorum met with a failure is partial",
			pipeline: pipeline(func(p *config.Pipeline) { p.Quorum = 3 }),
			outs:     []Output{sent("s1", 1, 0), topic("t1", "billing", 0.8), topic("t2", "billing", 0.6)},
			failed:   []string{"s2"},
			label:    Positive, score: 1,
			tags:    []sinks.Tag{{Tag: "billing", Score: 0.7, Models: []string{"t1", "t2"}}},
			partial: true,
		},
		{
			name:      "quorum not met",
			pipeline:  pipeline(func(p *config.Pipeline) { p.Quorum = 4 }),
			outs:      []Output{sent("s1", 1, 0), topic("t1", "billing", 0.8), topic("t2", "billing", 0.6)},
			failed:    []string{"s2"},
			reason:    ReasonQuorumNotMet,
			kind:      errkind.Retryable,
			errDetail: "3 of 4 routed models answered, quorum is 4; failed: s2",
		},
		{
			name:      "default quorum is all routed",
			pipeline:  pipeline(nil),
			outs:      []Output{sent("s1", 1, 0), sent("s2", 1, 0), topic("t1", "billing", 0.8)},
			failed:    []string{"t2"},
			reason:    ReasonQuorumNotMet,
			kind:      errkind.Retryable,
			errDetail: "failed: t2",
		},
		{
			name:     "quorum is clamped to the models routed",
			pipeline: pipeline(func(p *config.Pipeline) { p.Quorum = 4 }),
			outs:     []Output{sent("s1", 1, 0), topic("t1", "billing", 0.8)},
			label:    Positive, score: 1,
			tags: []sinks.Tag{{Tag: "billing", Score: 0.8, Models: []string{"t1"}}},
		},
		{
			name:      "a group with no answer",
			pipeline:  pipeline(func(p *config.Pipeline) { p.Quorum = 1 }),
			outs:      []Output{topic("t1", "billing", 0.8), topic("t2", "billing", 0.6)},
			failed:    []string{"s1", "s2"},
			reason:    ReasonQuorumNotMet,
			kind:      errkind.Retryable,
			errDetail: "no sentiment model answered; failed: s1 s2",
		},
		{
			name:     "a group with no models routed",
			pipeline: pipeline(nil),
			outs:     []Output{topic("t1", "billing", 0.8)},
			tags:     []sinks.Tag{{Tag: "billing", Score: 0.8, Models: []string{"t1"}}},
		},
		{
			name:     "NaN score counts as failed",
			pipeline: pipeline(func(p *config.Pipeline) { p.Quorum = 3 }),
			outs:     []Output{sent("s1", math.NaN(), 0), sent("s2", 1, 0), topic("t1", "billing", 0.8), topic("t2", "billing", 0.6)},
			label:    Positive, score: 1,
			tags:    []sinks.Tag{{Tag: "billing", Score: 0.7, Models: []string{"t1", "t2"}}},
			partial: true,
		},
		{
			name:      "out of range score can break the quorum",
			pipeline:  pipeline(nil),
			outs:      []Output{sent("s1", 1, 0), sent("s2", 1, 0), topic("t1", "billing", 1.2), topic("t2", "billing", 0.6)},
			reason:    ReasonQuorumNotMet,
			kind:      errkind.Retryable,
			errDetail: "failed: t1 (invalid scores)",
		},
		{
			name:     "scores not aligned with labels count as failed",
			pipeline: pipeline(func(p *config.Pipeline) { p.Quorum = 1 }),
			outs:     []Output{sent("s1", 1, 0), {Model: "s2", Labels: []string{"positive"}}, topic("t1", "billing", 0.8)},
			label:    Positive, score: 1,
			tags:    []sinks.Tag{{Tag: "billing", Score: 0.8, Models: []string{"t1"}}},
			partial: true,
		},
		{
			name:     "unknown model",
			pipeline: pipeline(nil),
			outs:     []Output{sent("s1", 1, 0), sent("nope", 1, 0)},
			reason:   ReasonUnknownModel, kind: errkind.Permanent, errDetail: `does not use model "nope"`,
		},
		{
			name:     "unknown failed model",
			pipeline: pipeline(nil),
			outs:     []Output{sent("s1", 1, 0)},
			failed:   []string{"nope"},
			reason:   ReasonUnknownModel, kind: errkind.Permanent,
		},
		{
			name:     "model both answered and failed",
			pipeline: pipeline(nil),
			outs:     []Output{sent("s1", 1, 0)},
			failed:   []string{"s1"},
			reason:   ReasonDuplicateModel, kind: errkind.Permanent,
		},
		{
			name:     "nothing routed",
			pipeline: pipeline(nil),
			reason:   ReasonNoModels, kind: errkind.Permanent,
		},
		{
			name:     "sentiment labels missing",
			pipeline: pipeline(nil),
			outs:     []Output{{Model: "s1", Labels: []string{"POS", "NEG"}, Scores: []float64{1, 0}}},
			reason:   ReasonLabelsMissing, kind: errkind.Permanent,
		},
		{
			name: "model in both groups",
			pipeline: pipeline(func(p *config.Pipeline) {
				p.Sentiment.Models = refs("multi")
				p.Topics.Models = refs("multi")
			}),
			outs:  []Output{topic("multi", "negative", 0.1, "positive", 0.9, "billing", 0.7)},
			label: Positive, score: 0.9,
			tags: []sinks.Tag{
				{Tag: "positive", Score: 0.9, Models: []string{"multi"}},
				{Tag: "billing", Score: 0.7, Models: []string{"multi"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.pipeline)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Combine(tt.outs, tt.failed)
			if tt.reason != "" {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				if r, k := errkind.ReasonOf(err), errkind.KindOf(err); r != tt.reason || k != tt.kind {
					t.Errorf("error %v: reason %q kind %v, want %q %v", err, r, k, tt.reason, tt.kind)
				}
				if !strings.Contains(err.Error(), tt.errDetail) {
					t.Errorf("error %q does not say %q", err, tt.errDetail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SentimentLabel != tt.label || math.Abs(got.SentimentScore-tt.score) > eps {
				t.Errorf("sentiment = %q %v, want %q %v", got.SentimentLabel, got.SentimentScore, tt.label, tt.score)
			}
			if got.Partial != tt.partial {
				t.Errorf("partial = %v, want %v", got.Partial, tt.partial)
			}
			if !tagsEqual(got.Tags, tt.tags) {
				t.Errorf("tags = %+v\nwant %+v", got.Tags, tt.tags)
			}
			if got.Tags == nil {
				t.Error("tags are nil, want empty")
			}
			wantVersions := map[string]string{}
			for _, o := range tt.outs {
				if valid(&o) {
					wantVersions[o.Model] = o.Version
				}
			}
			if !reflect.DeepEqual(got.ModelVersions, wantVersions) {
				t.Errorf("versions = %v, want %v", got.ModelVersions, wantVersions)
			}
		})
	}
}

func tagsEqual(a, b []sinks.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Tag != b[i].Tag || math.Abs(a[i].Score-b[i].Score) > eps || !reflect.DeepEqual(a[i].Models, b[i].Models) {
			return false
		}
	}
	return true
}

func TestTagModelsAreIndependent(t *testing.T) {
	c, err := New(pipeline(func(p *config.Pipeline) { p.Sentiment.Models = nil }))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Combine([]Output{topic("t1", "a", 0.9, "b", 0.8), topic("t2", "a", 0.9, "b", 0.8)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The tags share one backing array; appending to one must not touch
	// the next.
	_ = append(got.Tags[0].Models, "x")
	if want := []string{"t1", "t2"}; !reflect.DeepEqual(got.Tags[1].Models, want) {
		t.Errorf("tag 1 models = %v, want %v", got.Tags[1].Models, want)
	}
}

// Thresholds, labels and quorum are checked by config (worker/config's
// TestValidateRules), not again here.
func TestNewRejects(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		mod    func(*config.Pipeline)
		detail string
	}{
		{"no models", func(p *config.Pipeline) { p.Sentiment.Models, p.Topics.Models = nil, nil }, "no sentiment or topic models"},
		{"empty model name", func(p *config.Pipeline) { p.Topics.Models[1].Model = "" }, "topics.models[1].model: empty"},
		{"negative weight", func(p *config.Pipeline) { p.Sentiment.Models[0].Weight = -1 }, "sentiment.models[0].weight"},
		{"NaN weight", func(p *config.Pipeline) { p.Sentiment.Models[0].Weight = nan }, "sentiment.models[0].weight"},
		{"NaN calibration", func(p *config.Pipeline) { p.Topics.Models[0].Calibration = &config.Calibration{Bias: nan} }, "topics.models[0].calibration"},
		{"model twice in a group", func(p *config.Pipeline) { p.Topics.Models[1].Model = "t1" }, `"t1" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(pipeline(tt.mod))
			if err == nil {
				t.Fatal("no error")
			}
			if errkind.KindOf(err) != errkind.Permanent || errkind.ReasonOf(err) != ReasonInvalidPipeline {
				t.Errorf("error %v is not permanent/invalid_pipeline", err)
			}
			if !strings.Contains(err.Error(), tt.detail) || !strings.Contains(err.Error(), `pipeline "default"`) {
				t.Errorf("error %q does not say %q", err, tt.detail)
			}
		})
	}
}

func TestManyModelsUseTheIndex(t *testing.T) {
	var names []string
	for i := range linearMax + 2 {
		names = append(names, string(rune('a'+i)))
	}
	c, err := New(defaulted(config.Pipeline{Topics: config.Topics{Models: refs(names...)}, Quorum: 1}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Combine([]Output{topic("j", "x", 0.9)}, names[:len(names)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !got.Partial || len(got.Tags) != 1 || got.Tags[0].Models[0] != "j" {
		t.Errorf("got %+v", got)
	}
	if _, err := c.Combine([]Output{topic("zz", "x", 0.9)}, nil); errkind.ReasonOf(err) != ReasonUnknownModel {
		t.Errorf("err = %v", err)
	}
}

func TestCalibrateTopicShortcut(t *testing.T) {
	// The scale-1 shortcut must agree with the formula in the package doc.
	for _, bias := range []float64{-3, -0.5, 0, 0.7, 4} {
		r := ref{calibrated: true, scale: 1, bias: bias, expNegBias: math.Exp(-bias)}
		for _, q := range []float64{0, 1e-15, 0.01, 0.3, 0.5, 0.77, 0.999, 1} {
			want := sigm(logit(q) + bias)
			if got := r.calibrateTopic(q); math.Abs(got-want) > 1e-12 {
				t.Errorf("bias %v q %v: %v, want %v", bias, q, got, want)
			}
		}
	}
}

func BenchmarkCombine(b *testing.B) {
	labels := []string{"billing", "bugs", "performance", "ux", "support", "pricing", "onboarding", "docs", "security", "praise"}
	ts1, ts2 := make([]float64, len(labels)), make([]float64, len(labels))
	for i := range labels {
		ts1[i] = float64(i) / 10
		ts2[i] = float64(len(labels)-i) / 11
	}
	outs := []Output{
		{Model: "sentiment-nb", Version: "v1", Labels: []string{"negative", "positive"}, Scores: []float64{0.2, 0.8}},
		{Model: "sentiment-vader", Version: "v3", Labels: []string{"negative", "neutral", "positive"}, Scores: []float64{0.1, 0.3, 0.6}},
		{Model: "topics-shared", Version: "v7", Labels: labels, Scores: ts1},
		{Model: "topics-acme", Version: "v2", Labels: labels, Scores: ts2},
	}
	for _, bc := range []struct {
		name string
		cal  *config.Calibration
	}{
		{"plain", nil},
		// Scale ≠ 1 costs a Log and an Exp per label of the calibrated model.
		{"calibrated", &config.Calibration{Scale: 1.2, Bias: -0.2}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := config.Pipeline{
				Name: "bench",
				Sentiment: config.Sentiment{Models: []config.ModelRef{
					{Model: "sentiment-nb"}, {Model: "sentiment-vader", Weight: 0.5, Calibration: bc.cal},
				}},
				Topics: config.Topics{
					Models:          []config.ModelRef{{Model: "topics-shared"}, {Model: "topics-acme", Precedence: true, Calibration: bc.cal}},
					LabelThresholds: map[string]float64{"security": 0.3},
				},
			}
			c, err := New(defaulted(p))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Combine(outs, nil)
				if err != nil || len(res.Tags) == 0 {
					b.Fatal(err, res)
				}
			}
		})
	}
}
