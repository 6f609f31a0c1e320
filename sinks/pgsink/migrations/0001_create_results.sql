-- The results table: one row per (tenant, response_id, pipeline_version).
--
-- Template fields (text/template): .Table and .View are schema-qualified,
-- quoted identifiers; `name "suffix"` is a quoted index or constraint name
-- derived from the table's name, shortened with a hash when it would pass
-- Postgres's 63-byte limit. Nothing else is substituted: no values.

CREATE TABLE {{.Table}} (
    tenant            text             NOT NULL,
    response_id       text             NOT NULL,
    pipeline          text             NOT NULL,
    pipeline_version  text             NOT NULL,
    sentiment_label   text             NOT NULL,
    sentiment_score   double precision NOT NULL,
    tags              jsonb            NOT NULL DEFAULT '[]',
    model_versions    jsonb            NOT NULL DEFAULT '{}',
    partial           boolean          NOT NULL DEFAULT false,
    run_id            text,
    source_message_id text             NOT NULL,
    scored_at         timestamptz      NOT NULL,
    written_at        timestamptz      NOT NULL DEFAULT now(),

    CONSTRAINT {{name "pkey"}} PRIMARY KEY (tenant, response_id, pipeline_version),
    CONSTRAINT tenant_not_empty CHECK (tenant <> ''),
    CONSTRAINT response_id_not_empty CHECK (response_id <> ''),
    CONSTRAINT pipeline_version_not_empty CHECK (pipeline_version <> ''),
    -- The ensemble's labels are fixed strings; '' means no sentiment model
    -- was routed for the job.
    CONSTRAINT sentiment_label_known
        CHECK (sentiment_label IN ('', 'positive', 'neutral', 'negative')),
    -- Postgres orders NaN above every number, so 'NaN' <= 1 is false and
    -- this rejects NaN as well as ±Infinity. The range is [-1, 1] rather
    -- than [0, 1]: the ensemble writes a probability, but the shared sink
    -- contract (sinks/sinktest) also stores polarity-style scores down to -1.
    CONSTRAINT sentiment_score_range
        CHECK (sentiment_score >= -1 AND sentiment_score <= 1),
    CONSTRAINT tags_is_array CHECK (jsonb_typeof(tags) = 'array'),
    CONSTRAINT model_versions_is_object CHECK (jsonb_typeof(model_versions) = 'object'),
    -- No run is NULL, never ''.
    CONSTRAINT run_id_not_empty CHECK (run_id <> '')
);

-- A tenant's results over time: WHERE tenant = $1 AND scored_at >= $2.
CREATE INDEX {{name "tenant_scored_at_idx"}} ON {{.Table}} (tenant, scored_at DESC);

-- Everything a pipeline version scored: WHERE pipeline_version = $1.
CREATE INDEX {{name "pipeline_version_idx"}} ON {{.Table}} (pipeline_version);

-- Scored by model version X: WHERE model_versions @> '{"topics": "7"}'.
CREATE INDEX {{name "model_versions_idx"}} ON {{.Table}} USING gin (model_versions jsonb_path_ops);

-- One backfill's rows: WHERE run_id = $1. Live traffic has no run id.
CREATE INDEX {{name "run_id_idx"}} ON {{.Table}} (run_id) WHERE run_id IS NOT NULL;

-- The newest result per response across pipeline versions (re-scoring adds
-- rows; it never overwrites another version's). Ties on scored_at go to
-- the greater pipeline_version, so the view is deterministic.
CREATE VIEW {{.View}} AS
    SELECT DISTINCT ON (tenant, response_id) *
    FROM {{.Table}}
    ORDER BY tenant, response_id, scored_at DESC, pipeline_version DESC;
