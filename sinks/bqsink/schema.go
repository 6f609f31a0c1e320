package bqsink

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"cloud.google.com/go/bigquery/storage/managedwriter/adapt"
	"github.com/chorusml/chorus/sinks"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Column names of the results table.
const (
	colTenant          = "tenant"
	colResponseID      = "response_id"
	colPipeline        = "pipeline"
	colPipelineVersion = "pipeline_version"
	colSentimentLabel  = "sentiment_label"
	colSentimentScore  = "sentiment_score"
	colTags            = "tags"
	colModelVersions   = "model_versions"
	colPartial         = "partial"
	colRunID           = "run_id"
	colSourceMessageID = "source_message_id"
	colScoredAt        = "scored_at"

	colTag     = "tag"
	colScore   = "score"
	colModels  = "models"
	colModel   = "model"
	colVersion = "version"

	// changeTypeColumn is BigQuery CDC's pseudo-column: UPSERT replaces the
	// row with the same primary key, DELETE removes it.
	changeTypeColumn = "_CHANGE_TYPE"
	changeUpsert     = "UPSERT"
)

// PartitionColumn is the TIMESTAMP column the table is partitioned on, by
// day.
const PartitionColumn = colScoredAt

// KeyColumns returns the table's primary key columns (NOT ENFORCED, as every
// BigQuery key): the idempotency key of sinks.Result, sinks.Key.
func KeyColumns() []string { return []string{colTenant, colResponseID, colPipelineVersion} }

// ClusterColumns returns the table's clustering columns.
func ClusterColumns() []string { return []string{colTenant} }

// Schema returns the results table's schema, one row per sinks.Result:
//
//	tenant            STRING    REQUIRED  primary key (NOT ENFORCED), clustering column
//	response_id       STRING    REQUIRED  primary key
//	pipeline          STRING
//	pipeline_version  STRING    REQUIRED  primary key
//	sentiment_label   STRING
//	sentiment_score   FLOAT64
//	tags              RECORD    REPEATED  {tag STRING, score FLOAT64, models STRING REPEATED}
//	model_versions    RECORD    REPEATED  {model STRING, version STRING}, sorted by model
//	partial           BOOL
//	run_id            STRING              NULL when the job has no run id
//	source_message_id STRING
//	scored_at         TIMESTAMP REQUIRED  partitioning column (DAY)
//
// model_versions is a repeated record rather than JSON: it is typed, needs
// no JSON functions to filter on, and UNNESTs like tags.
func Schema() bigquery.Schema {
	str := func(name, desc string, required bool) *bigquery.FieldSchema {
		return &bigquery.FieldSchema{Name: name, Type: bigquery.StringFieldType, Required: required, Description: desc}
	}
	return bigquery.Schema{
		str(colTenant, "Tenant that owns the response.", true),
		str(colResponseID, "Feedback response id, unique within the tenant.", true),
		str(colPipeline, "Pipeline that scored the response.", false),
		str(colPipelineVersion, "Version of the pipeline; part of the key.", true),
		str(colSentimentLabel, "negative, neutral or positive.", false),
		{Name: colSentimentScore, Type: bigquery.FloatFieldType, Description: "Combined sentiment score."},
		{Name: colTags, Type: bigquery.RecordFieldType, Repeated: true, Description: "Topic tags.", Schema: bigquery.Schema{
			str(colTag, "Tag label.", false),
			{Name: colScore, Type: bigquery.FloatFieldType, Description: "Combined tag score."},
			{Name: colModels, Type: bigquery.StringFieldType, Repeated: true, Description: "Models whose own score cleared the threshold."},
		}},
		{Name: colModelVersions, Type: bigquery.RecordFieldType, Repeated: true, Description: "Version of every model that answered, sorted by model.", Schema: bigquery.Schema{
			str(colModel, "Model name.", false),
			str(colVersion, "Version the model reported.", false),
		}},
		{Name: colPartial, Type: bigquery.BooleanFieldType, Description: "True when a model failed and the quorum still allowed a result."},
		str(colRunID, "Backfill run id; NULL for live traffic.", false),
		str(colSourceMessageID, "Id of the source message that carried the job.", false),
		{Name: colScoredAt, Type: bigquery.TimestampFieldType, Required: true, Description: "When the result was scored; partitioning column."},
	}
}

// writerDescriptor returns the proto2 descriptor rows are encoded with: the
// table schema plus the _CHANGE_TYPE pseudo-column.
func writerDescriptor() (protoreflect.MessageDescriptor, *descriptorpb.DescriptorProto, error) {
	ts, err := adapt.BQSchemaToStorageTableSchema(Schema())
	if err != nil {
		return nil, nil, err
	}
	ts.Fields = append(ts.Fields, &storagepb.TableFieldSchema{
		Name: changeTypeColumn,
		Type: storagepb.TableFieldSchema_STRING,
		Mode: storagepb.TableFieldSchema_NULLABLE,
	})
	d, err := adapt.StorageSchemaToProto2Descriptor(ts, "chorus_result")
	if err != nil {
		return nil, nil, err
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, nil, fmt.Errorf("descriptor is a %T, not a message", d)
	}
	dp, err := adapt.NormalizeDescriptor(md)
	if err != nil {
		return nil, nil, err
	}
	return md, dp, nil
}

// encoder serializes results with the writer descriptor's field numbers,
// looked up by name once, straight into protobuf wire format.
type encoder struct {
	tenant, responseID, pipeline, pipelineVersion  protowire.Number
	sentimentLabel, sentimentScore, tags, versions protowire.Number
	partial, runID, sourceMessageID, scoredAt      protowire.Number
	changeType                                     protowire.Number
	tag, score, models                             protowire.Number
	model, version                                 protowire.Number
}

func newEncoder(md protoreflect.MessageDescriptor) (*encoder, error) {
	var missing []string
	num := func(md protoreflect.MessageDescriptor, name string) protowire.Number {
		if md == nil {
			missing = append(missing, name)
			return 0
		}
		f := md.Fields().ByName(protoreflect.Name(name))
		if f == nil {
			missing = append(missing, string(md.Name())+"."+name)
			return 0
		}
		return f.Number()
	}
	sub := func(name string) protoreflect.MessageDescriptor {
		if f := md.Fields().ByName(protoreflect.Name(name)); f != nil {
			return f.Message()
		}
		return nil
	}
	tags, versions := sub(colTags), sub(colModelVersions)
	e := &encoder{
		tenant:          num(md, colTenant),
		responseID:      num(md, colResponseID),
		pipeline:        num(md, colPipeline),
		pipelineVersion: num(md, colPipelineVersion),
		sentimentLabel:  num(md, colSentimentLabel),
		sentimentScore:  num(md, colSentimentScore),
		tags:            num(md, colTags),
		versions:        num(md, colModelVersions),
		partial:         num(md, colPartial),
		runID:           num(md, colRunID),
		sourceMessageID: num(md, colSourceMessageID),
		scoredAt:        num(md, colScoredAt),
		changeType:      num(md, changeTypeColumn),
		tag:             num(tags, colTag),
		score:           num(tags, colScore),
		models:          num(tags, colModels),
		model:           num(versions, colModel),
		version:         num(versions, colVersion),
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("writer descriptor lacks %s", strings.Join(missing, ", "))
	}
	return e, nil
}

// encode appends the serialized upsert of r to b.
func (e *encoder) encode(b []byte, r *sinks.Result) []byte {
	b = appendString(b, e.tenant, r.Tenant)
	b = appendString(b, e.responseID, r.ResponseID)
	b = appendString(b, e.pipeline, r.Pipeline)
	b = appendString(b, e.pipelineVersion, r.PipelineVersion)
	b = appendString(b, e.sentimentLabel, r.SentimentLabel)
	b = appendDouble(b, e.sentimentScore, r.SentimentScore)
	var sub []byte
	for i := range r.Tags {
		tg := &r.Tags[i]
		sub = appendString(sub[:0], e.tag, tg.Tag)
		sub = appendDouble(sub, e.score, tg.Score)
		for _, m := range tg.Models {
			sub = appendString(sub, e.models, m)
		}
		b = protowire.AppendTag(b, e.tags, protowire.BytesType)
		b = protowire.AppendBytes(b, sub)
	}
	if len(r.ModelVersions) > 0 {
		models := make([]string, 0, len(r.ModelVersions))
		for m := range r.ModelVersions {
			models = append(models, m)
		}
		slices.Sort(models)
		for _, m := range models {
			sub = appendString(sub[:0], e.model, m)
			sub = appendString(sub, e.version, r.ModelVersions[m])
			b = protowire.AppendTag(b, e.versions, protowire.BytesType)
			b = protowire.AppendBytes(b, sub)
		}
	}
	b = protowire.AppendTag(b, e.partial, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeBool(r.Partial))
	if r.RunID != "" {
		b = appendString(b, e.runID, r.RunID)
	}
	b = appendString(b, e.sourceMessageID, r.SourceMessageID)
	b = protowire.AppendTag(b, e.scoredAt, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(r.ScoredAt.UnixMicro()))
	return appendString(b, e.changeType, changeUpsert)
}

func appendString(b []byte, n protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendDouble(b []byte, n protowire.Number, f float64) []byte {
	b = protowire.AppendTag(b, n, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(f))
}
