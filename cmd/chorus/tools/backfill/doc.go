// Package backfill re-publishes feedback jobs for re-scoring: it reads
// jobs from a JSONL file, a Postgres query or a BigQuery query (Reader),
// drops those the filters exclude (Filter, and StaleChecker for
// --stale-version), packs the rest into JSON-array messages up to the
// queue's size limit (Packer), publishes them at a bounded rate with a
// run id attribute (Run), and records progress in a checkpoint file so an
// interrupted run resumes where it stopped (Checkpoint, Watermark).
// RunStatus says where a run's jobs went: the sink (RunCounter) and, read
// without consuming it, the dead-letter queue (DLQCounter).
//
// # Resume
//
// Input records are numbered in input order. A message covers a
// contiguous range of records (those it carries and those filtered out
// between them). Publishes complete out of order; the Watermark is the
// number of leading records whose messages are all confirmed, and only it
// is checkpointed. On resume the reader starts again from the beginning
// and skips the checkpointed prefix, so the input must be read in the same
// order every time: database queries are wrapped as
// SELECT * FROM (<query>) q ORDER BY tenant, response_id.
//
// After SIGINT or SIGTERM nothing new is published, in-flight publishes
// are waited for, and the checkpoint covers everything published: a
// resume re-publishes nothing. After kill -9 the checkpoint may lag by up
// to its write interval plus the publishes in flight; those messages are
// published again on resume. That is harmless: sinks upsert on (tenant,
// response_id, pipeline_version).
package backfill
