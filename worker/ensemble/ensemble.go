// Package ensemble combines the answers of a pipeline's models for one job
// into a sentiment label and score, topic tags and the model versions used.
//
// A Combiner is built once per pipeline with New and is then read-only, so
// one Combiner serves every goroutine. Combine runs once per job on the hot
// path; it allocates only what it returns.
//
// # Sentiment
//
// For each sentiment model that answered, its polarity is
// s = P(positive_label) − P(negative_label), in [−1, 1] (a label the model
// did not return counts as 0; a model that returned neither is a
// configuration bug and a Permanent error). The model's probability is
// p = sigmoid(scale·s + bias) when its ModelRef has a Calibration, else
// p = (s + 1) / 2. The combined P(positive) is the weighted mean of p over
// the sentiment models that answered; SentimentScore is that probability.
// SentimentLabel is "positive" when the score is ≥ positive_threshold,
// "negative" when ≤ negative_threshold, else "neutral". The labels are these
// fixed strings whatever the models call their classes, so results from
// different pipelines compare. When no sentiment model was routed for the
// job, SentimentLabel is "" and SentimentScore 0.
//
// # Topics
//
// Each topic model gives a probability q per label; with a Calibration it
// becomes p = sigmoid(scale·logit(q) + bias) (q is clamped to [1e-12,
// 1−1e-12] so that 0 and 1 stay finite), else p = q. A label's score is the
// weighted mean of p over the topic models that answered and returned that
// label; when a model with precedence answered and returned the label, the
// weighted mean of the precedence models replaces it (a tenant's custom
// model overriding the shared one). A label becomes a tag when its score is
// ≥ its threshold (label_thresholds[label], else threshold). At most top_k
// tags are kept, by score descending, then label ascending. Tag.Models lists,
// by name, the models whose own p for the label is ≥ the threshold.
//
// # Quorum and failures
//
// The models routed for a job are those in outs plus those in failed. An
// output whose Scores do not match its Labels, or hold a NaN or a value
// outside [0, 1], is treated as failed too: adapters reject those already,
// and this keeps a bad one from skewing a score. The quorum is
// Pipeline.Quorum, clamped to the number routed (0 means all routed). When
// fewer answered, or an output (sentiment or topics) that had models routed
// got no answer at all, Combine returns a Retryable error with reason
// "quorum_not_met" naming the failed models. Otherwise Partial is true when
// any routed model failed. ModelVersions maps each model that answered to
// the version it reported.
//
// A model in outs or failed that the pipeline does not use, or one named
// twice, is a bug in the caller: Combine returns a Permanent error.
//
// # Defaults
//
// New takes a pipeline as config.Parse and config.Load return it:
// defaulted and validated. Labels, thresholds, top_k and quorum are used
// as given, config being the one place that defaults and checks them.
// What New checks itself is what building the combiner needs: model
// names present and listed once, finite weights and calibration (weight
// and calibration scale 0 mean 1). An entry in label_thresholds is used as
// given, 0 included; a negative top_k means no limit.
package ensemble

import (
	"fmt"
	"math"
	"strings"

	"github.com/chorusml/chorus/sinks"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/errkind"
)

// Sentiment labels of a Combined result.
const (
	Positive = "positive"
	Negative = "negative"
	Neutral  = "neutral"
)

// Reasons of the errors New and Combine return.
const (
	ReasonInvalidPipeline errkind.Reason = "invalid_pipeline" // New: the pipeline config is unusable
	ReasonQuorumNotMet    errkind.Reason = "quorum_not_met"   // Retryable
	ReasonUnknownModel    errkind.Reason = "unknown_model"    // Permanent: caller bug
	ReasonDuplicateModel  errkind.Reason = "duplicate_model"  // Permanent: caller bug
	ReasonNoModels        errkind.Reason = "no_models_routed" // Permanent: caller bug
	ReasonLabelsMissing   errkind.Reason = "sentiment_labels_missing"
)

// Output is one model's answer for one job; Scores[i] is the probability of
// Labels[i].
type Output struct {
	Model, Version string
	Labels         []string
	Scores         []float64
}

// Combined is the ensemble's result for one job.
type Combined struct {
	SentimentLabel string
	SentimentScore float64
	Tags           []sinks.Tag
	ModelVersions  map[string]string
	Partial        bool
}

// ref is a model's defaulted place in one output.
type ref struct {
	weight      float64
	precedence  bool
	calibrated  bool
	scale, bias float64
	expNegBias  float64 // e^−bias, for calibrateTopic
}

type model struct {
	name            string
	inSent, inTopic bool
	sent, topic     ref
}

// Combiner combines model outputs for one pipeline. It is safe for
// concurrent use.
type Combiner struct {
	pipeline string
	// models is sorted by name, so that a model's index orders Tag.Models.
	models []model
	// byName is only built for pipelines too large for a linear scan.
	byName map[string]int

	posLabel, negLabel string
	posThr, negThr     float64
	topicThr           float64
	// Per-label thresholds: a slice while small, as a scan of a few
	// strings beats hashing; a map beyond that.
	labelThr  map[string]float64
	labelThrs []labelThreshold
	topK      int
	quorum    int
}

// linearMax is the model count up to which a linear scan of names beats a
// map lookup.
const linearMax = 8

// New builds p's Combiner. p is a defaulted, validated pipeline (see
// Defaults). Errors are Permanent with reason invalid_pipeline and name
// the offending field.
func New(p config.Pipeline) (*Combiner, error) {
	c := &Combiner{
		pipeline: p.Name,
		posLabel: p.Sentiment.PositiveLabel,
		negLabel: p.Sentiment.NegativeLabel,
		posThr:   p.Sentiment.PositiveThreshold,
		negThr:   p.Sentiment.NegativeThreshold,
		topicThr: p.Topics.Threshold,
		topK:     p.Topics.TopK,
		quorum:   p.Quorum,
	}
	bad := func(format string, args ...any) (*Combiner, error) {
		return nil, errkind.Errorf(errkind.Permanent, ReasonInvalidPipeline,
			"pipeline %q: "+format, append([]any{p.Name}, args...)...)
	}
	for l, v := range p.Topics.LabelThresholds {
		c.labelThrs = append(c.labelThrs, labelThreshold{l, v})
	}
	if len(c.labelThrs) > linearMax {
		c.labelThr = make(map[string]float64, len(c.labelThrs))
		for _, lt := range c.labelThrs {
			c.labelThr[lt.label] = lt.thr
		}
		c.labelThrs = nil
	}
	index := map[string]int{}
	add := func(group string, refs []config.ModelRef, topic bool) error {
		for i, r := range refs {
			path := fmt.Sprintf("%s.models[%d]", group, i)
			if r.Model == "" {
				return fmt.Errorf("%s.model: empty", path)
			}
			if math.IsNaN(r.Weight) || math.IsInf(r.Weight, 0) || r.Weight < 0 {
				return fmt.Errorf("%s.weight: %v, want ≥ 0 (0 means 1)", path, r.Weight)
			}
			rf := ref{weight: orf(r.Weight, 1), precedence: r.Precedence, scale: 1}
			if cal := r.Calibration; cal != nil {
				if !finite(cal.Scale) || !finite(cal.Bias) {
					return fmt.Errorf("%s.calibration: scale %v, bias %v, want finite numbers", path, cal.Scale, cal.Bias)
				}
				rf.calibrated = true
				rf.scale, rf.bias = orf(cal.Scale, 1), cal.Bias
				rf.expNegBias = math.Exp(-cal.Bias)
			}
			k, ok := index[r.Model]
			if !ok {
				k = len(c.models)
				index[r.Model] = k
				c.models = append(c.models, model{name: r.Model})
			}
			m := &c.models[k]
			if (topic && m.inTopic) || (!topic && m.inSent) {
				return fmt.Errorf("%s.model: %q is listed twice", path, r.Model)
			}
			if topic {
				m.inTopic, m.topic = true, rf
			} else {
				m.inSent, m.sent = true, rf
			}
		}
		return nil
	}
	if err := add("sentiment", p.Sentiment.Models, false); err != nil {
		return bad("%w", err)
	}
	if err := add("topics", p.Topics.Models, true); err != nil {
		return bad("%w", err)
	}
	if len(c.models) == 0 {
		return bad("no sentiment or topic models")
	}
	sortModels(c.models)
	if len(c.models) > linearMax {
		c.byName = make(map[string]int, len(c.models))
		for i, m := range c.models {
			c.byName[m.name] = i
		}
	}
	return c, nil
}

func orf(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func sortModels(ms []model) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].name < ms[j-1].name; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func (c *Combiner) lookup(name string) int {
	if c.byName != nil {
		if i, ok := c.byName[name]; ok {
			return i
		}
		return -1
	}
	for i := range c.models {
		if c.models[i].name == name {
			return i
		}
	}
	return -1
}

// stackModels is how many routed models Combine tracks without allocating.
const stackModels = 16

// answer is one routed model: its index in c.models and, when it answered
// usably, its output.
type answer struct {
	model int
	out   *Output
}

// Combine merges the outputs of the models routed for one job; failed names
// the routed models that did not answer. See the package doc for the rules.
func (c *Combiner) Combine(outs []Output, failed []string) (Combined, error) {
	var buf [stackModels]answer
	routed := buf[:0]
	for i := range outs {
		k := c.lookup(outs[i].Model)
		if k < 0 {
			return Combined{}, c.unknown(outs[i].Model)
		}
		var o *Output
		if valid(&outs[i]) {
			o = &outs[i]
		}
		routed = append(routed, answer{model: k, out: o})
	}
	for _, name := range failed {
		k := c.lookup(name)
		if k < 0 {
			return Combined{}, c.unknown(name)
		}
		routed = append(routed, answer{model: k})
	}
	if len(routed) == 0 {
		return Combined{}, errkind.Errorf(errkind.Permanent, ReasonNoModels, "pipeline %q: no models routed", c.pipeline)
	}
	// Order by model name: it finds duplicates and orders Tag.Models.
	for i := 1; i < len(routed); i++ {
		for j := i; j > 0 && routed[j].model <= routed[j-1].model; j-- {
			if routed[j].model == routed[j-1].model {
				return Combined{}, errkind.Errorf(errkind.Permanent, ReasonDuplicateModel,
					"pipeline %q: model %q given twice", c.pipeline, c.models[routed[j].model].name)
			}
			routed[j], routed[j-1] = routed[j-1], routed[j]
		}
	}

	var answered, sentRouted, sentAnswered, topicRouted, topicAnswered int
	for _, a := range routed {
		m := &c.models[a.model]
		if m.inSent {
			sentRouted++
		}
		if m.inTopic {
			topicRouted++
		}
		if a.out == nil {
			continue
		}
		answered++
		if m.inSent {
			sentAnswered++
		}
		if m.inTopic {
			topicAnswered++
		}
	}
	required := c.quorum
	if required == 0 || required > len(routed) {
		required = len(routed)
	}
	if answered < required || (sentRouted > 0 && sentAnswered == 0) || (topicRouted > 0 && topicAnswered == 0) {
		return Combined{}, c.quorumErr(routed, outs, answered, required, sentRouted > 0 && sentAnswered == 0, topicRouted > 0 && topicAnswered == 0)
	}

	res := Combined{Partial: answered < len(routed)}
	if sentAnswered > 0 {
		var err error
		if res.SentimentScore, err = c.sentiment(routed); err != nil {
			return Combined{}, err
		}
		switch {
		case res.SentimentScore >= c.posThr:
			res.SentimentLabel = Positive
		case res.SentimentScore <= c.negThr:
			res.SentimentLabel = Negative
		default:
			res.SentimentLabel = Neutral
		}
	}
	if topicAnswered > 0 {
		res.Tags = c.topics(routed)
	} else {
		res.Tags = []sinks.Tag{}
	}
	res.ModelVersions = make(map[string]string, answered)
	for _, a := range routed {
		if a.out != nil {
			res.ModelVersions[c.models[a.model].name] = a.out.Version
		}
	}
	return res, nil
}

// valid reports whether o's scores can be used; see the package doc.
func valid(o *Output) bool {
	if len(o.Scores) != len(o.Labels) {
		return false
	}
	for _, s := range o.Scores {
		if !(s >= 0 && s <= 1) { // also false for NaN
			return false
		}
	}
	return true
}

func (c *Combiner) unknown(name string) error {
	return errkind.Errorf(errkind.Permanent, ReasonUnknownModel, "pipeline %q does not use model %q", c.pipeline, name)
}

func (c *Combiner) quorumErr(routed []answer, outs []Output, answered, required int, noSent, noTopic bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline %q: %d of %d routed models answered, quorum is %d", c.pipeline, answered, len(routed), required)
	if noSent {
		b.WriteString("; no sentiment model answered")
	}
	if noTopic {
		b.WriteString("; no topic model answered")
	}
	b.WriteString("; failed:")
	for _, a := range routed {
		if a.out != nil {
			continue
		}
		b.WriteString(" ")
		b.WriteString(c.models[a.model].name)
		for i := range outs {
			if outs[i].Model == c.models[a.model].name {
				b.WriteString(" (invalid scores)")
				break
			}
		}
	}
	return errkind.New(errkind.Retryable, ReasonQuorumNotMet, fmt.Errorf("%s", b.String()))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// sentiment returns the combined P(positive) of the answering sentiment
// models.
func (c *Combiner) sentiment(routed []answer) (float64, error) {
	var sw, swp float64
	for _, a := range routed {
		m := &c.models[a.model]
		if a.out == nil || !m.inSent {
			continue
		}
		var pos, neg float64
		found := false
		for i, l := range a.out.Labels {
			switch l {
			case c.posLabel:
				pos, found = a.out.Scores[i], true
			case c.negLabel:
				neg, found = a.out.Scores[i], true
			}
		}
		if !found {
			return 0, errkind.Errorf(errkind.Permanent, ReasonLabelsMissing,
				"pipeline %q: sentiment model %q returned neither %q nor %q (labels %q)",
				c.pipeline, m.name, c.posLabel, c.negLabel, a.out.Labels)
		}
		s := pos - neg
		var p float64
		if m.sent.calibrated {
			p = sigmoid(m.sent.scale*s + m.sent.bias)
		} else {
			p = (s + 1) / 2
		}
		sw += m.sent.weight
		swp += m.sent.weight * p
	}
	return swp / sw, nil
}

// labelAgg accumulates one label's scores across topic models.
type labelAgg struct {
	label   string
	thr     float64
	sw, swp float64 // all models: weight sum, weighted p sum
	pw, pwp float64 // precedence models only
	score   float64
	cleared int // models whose own p ≥ thr
}

// hit is one model's p for one label that cleared the label's threshold.
type hit struct {
	label, model int
}

// Sizes of Combine's stack scratch space; more spills to the heap.
const (
	stackLabels = 32
	stackHits   = 64
)

type labelThreshold struct {
	label string
	thr   float64
}

func (c *Combiner) threshold(label string) float64 {
	if c.labelThr != nil {
		if t, ok := c.labelThr[label]; ok {
			return t
		}
		return c.topicThr
	}
	for i := range c.labelThrs {
		if c.labelThrs[i].label == label {
			return c.labelThrs[i].thr
		}
	}
	return c.topicThr
}

// topics returns the kept tags. routed is in model-name order, so hits and
// therefore Tag.Models are too.
func (c *Combiner) topics(routed []answer) []sinks.Tag {
	var aggBuf [stackLabels]labelAgg
	var hitBuf [stackHits]hit
	aggs, hits := aggBuf[:0], hitBuf[:0]
	for _, a := range routed {
		m := &c.models[a.model]
		if a.out == nil || !m.inTopic {
			continue
		}
		r := &m.topic
		for j, label := range a.out.Labels {
			// Models of one pipeline usually share a label order, so try
			// the same position before searching.
			g := -1
			if j < len(aggs) && aggs[j].label == label {
				g = j
			} else {
				for k := range aggs {
					if aggs[k].label == label {
						g = k
						break
					}
				}
			}
			if g < 0 {
				g = len(aggs)
				aggs = append(aggs, labelAgg{label: label, thr: c.threshold(label)})
			}
			p := a.out.Scores[j]
			if r.calibrated {
				p = r.calibrateTopic(p)
			}
			ag := &aggs[g]
			ag.sw += r.weight
			ag.swp += r.weight * p
			if r.precedence {
				ag.pw += r.weight
				ag.pwp += r.weight * p
			}
			if p >= ag.thr {
				ag.cleared++
				hits = append(hits, hit{label: g, model: a.model})
			}
		}
	}

	// Keep labels at or above their threshold, best first.
	var keptBuf [stackLabels]int
	kept := keptBuf[:0]
	for g := range aggs {
		ag := &aggs[g]
		if ag.pw > 0 {
			ag.score = ag.pwp / ag.pw
		} else {
			ag.score = ag.swp / ag.sw
		}
		if ag.score < ag.thr {
			continue
		}
		kept = append(kept, g)
		for i := len(kept) - 1; i > 0 && better(&aggs[kept[i]], &aggs[kept[i-1]]); i-- {
			kept[i], kept[i-1] = kept[i-1], kept[i]
		}
	}
	if c.topK > 0 && len(kept) > c.topK {
		kept = kept[:c.topK]
	}

	tags := make([]sinks.Tag, len(kept))
	n := 0
	for _, g := range kept {
		n += aggs[g].cleared
	}
	// One backing array for every tag's Models; each tag's slice is capped
	// so an append by a caller cannot run into the next tag's.
	names := make([]string, n)
	for i, g := range kept {
		models := names[:0:aggs[g].cleared]
		for _, h := range hits {
			if h.label == g {
				models = append(models, c.models[h.model].name)
			}
		}
		names = names[len(models):]
		tags[i] = sinks.Tag{Tag: aggs[g].label, Score: aggs[g].score, Models: models}
	}
	return tags
}

// better orders tags by score descending, then label ascending.
func better(a, b *labelAgg) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.label < b.label
}

const logitEps = 1e-12

func logit(q float64) float64 {
	q = min(max(q, logitEps), 1-logitEps)
	return math.Log(q / (1 - q))
}

// calibrateTopic returns sigmoid(scale·logit(q) + bias). With scale 1 that
// is q / (q + e^−bias·(1−q)), which saves a Log and an Exp per label: they
// were a third of Combine's time.
func (r *ref) calibrateTopic(q float64) float64 {
	if r.scale == 1 {
		q = min(max(q, logitEps), 1-logitEps)
		return q / (q + r.expNegBias*(1-q))
	}
	return sigmoid(r.scale*logit(q) + r.bias)
}
