package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"google.golang.org/api/option"

	"github.com/chorusml/chorus/cmd/chorus/tools/backfill"
	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/sinks/pgsink"
	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/awssqs"
	"github.com/chorusml/chorus/sources/gcppubsub"
	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/ops"
)

// sinkFlags name the sink's results table (for --stale-version and status).
type sinkFlags struct {
	dsnEnv, pgTable               string
	bqProject, bqDataset, bqTable string
	bqEndpoint                    string
}

func (s *sinkFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&s.dsnEnv, "postgres-dsn-env", "CHORUS_POSTGRES_DSN", "environment variable holding the Postgres DSN (query input and results table)")
	fs.StringVar(&s.pgTable, "sink-postgres-table", pgsink.DefaultSchema+"."+pgsink.DefaultTable, "the sink's results table in Postgres, schema.table")
	fs.StringVar(&s.bqDataset, "sink-bigquery-dataset", "", "read the sink's results from this BigQuery dataset instead of Postgres")
	fs.StringVar(&s.bqTable, "sink-bigquery-table", bqsink.DefaultTable, "the sink's results table in BigQuery")
	fs.StringVar(&s.bqProject, "bigquery-project", "", "BigQuery project (query input and results table)")
	fs.StringVar(&s.bqEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint override (emulators, tests); a loopback one needs no credentials")
}

func (s *sinkFlags) bqOptions() []option.ClientOption {
	if s.bqEndpoint == "" {
		return nil
	}
	opts := []option.ClientOption{option.WithEndpoint(s.bqEndpoint)}
	if strings.Contains(s.bqEndpoint, "://127.0.0.1") || strings.Contains(s.bqEndpoint, "://localhost") || strings.Contains(s.bqEndpoint, "://[::1]") {
		opts = append(opts, option.WithoutAuthentication())
	}
	return opts
}

// results opens the sink's results table.
type resultsTable interface {
	backfill.StaleChecker
	backfill.RunCounter
}

func (s *sinkFlags) open(ctx context.Context) (resultsTable, error) {
	if s.bqDataset != "" {
		return bqsink.OpenResults(ctx, s.bqProject, s.bqDataset, s.bqTable, s.bqOptions()...)
	}
	schema, table, ok := strings.Cut(s.pgTable, ".")
	if !ok {
		schema, table = pgsink.DefaultSchema, s.pgTable
	}
	dsn := os.Getenv(s.dsnEnv)
	if dsn == "" {
		return nil, &exitError{2, fmt.Errorf("backfill: $%s is empty: it must hold the Postgres DSN", s.dsnEnv)}
	}
	return pgsink.OpenResults(ctx, dsn, schema, table)
}

func backfillCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return backfillStatusCmd(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("backfill", stderr)
	var (
		sink    sinkFlags
		tenants listFlag
	)
	sink.register(fs)
	fromFile := fs.String("from-file", "", "read jobs from a JSONL file (one job object per line)")
	fromPG := fs.String("from-postgres-query", "", "read jobs from a Postgres query (columns response_id, tenant, text; optional survey_id, created_at, score, lang, metadata)")
	fromBQ := fs.String("from-bigquery-query", "", "read jobs from a BigQuery query (same columns)")
	fs.Var(&tenants, "tenant", "only these tenants (repeatable, or a comma-separated list)")
	since := fs.String("since", "", "only jobs created at or after this time (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "only jobs created before this time (RFC 3339, exclusive) or on or before this date (YYYY-MM-DD)")
	stale := fs.String("stale-version", "", "skip jobs the sink already has a result of this pipeline version for")
	project := fs.String("pubsub-project", "", "Pub/Sub project to publish to (honours PUBSUB_EMULATOR_HOST)")
	topic := fs.String("pubsub-topic", "", "Pub/Sub topic to publish to")
	queueURL := fs.String("sqs-queue-url", "", "SQS queue URL to publish to")
	sqsEndpoint := fs.String("sqs-endpoint", "", "SQS endpoint override (moto, LocalStack, VPC endpoint)")
	region := fs.String("aws-region", "", "AWS region (default: AWS_REGION or the profile's)")
	perMsg := fs.Int("jobs-per-message", backfill.DefaultJobsPerMessage, fmt.Sprintf("jobs packed into one message, at most %d (the worker's limits.max_jobs_per_message default)", backfill.WorkerMaxJobsPerMessage))
	rateFlag := fs.Float64("rate", 0, "jobs per second (0: unlimited)")
	runID := fs.String("run-id", "", "run id attribute on every message (default: generated)")
	resume := fs.String("resume", "", "resume the run with this id from its checkpoint")
	pipeline := fs.String("pipeline", "", "force this pipeline (pipeline attribute)")
	dryRun := fs.Bool("dry-run", false, "count what would be published and print a sample; publish nothing")
	cpDir := fs.String("checkpoint-dir", backfill.DefaultCheckpointDir, "directory of the run checkpoints")
	cpEvery := fs.Duration("checkpoint-interval", time.Second, "how often the checkpoint is written while running")
	inFlight := fs.Int("in-flight", 4, "concurrent publish calls")
	logFormat := fs.String("log-format", "auto", "progress output when stderr is not a terminal: json, console or auto")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bad := func(format string, a ...any) error { return &exitError{2, fmt.Errorf("backfill: "+format, a...)} }
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	inputs := 0
	for _, v := range []string{*fromFile, *fromPG, *fromBQ} {
		if v != "" {
			inputs++
		}
	}
	if inputs != 1 {
		return bad("give exactly one of --from-file, --from-postgres-query, --from-bigquery-query")
	}
	if !*dryRun && (*topic == "") == (*queueURL == "") {
		return bad("give exactly one of --pubsub-topic (with --pubsub-project) or --sqs-queue-url")
	}
	if *perMsg < 1 || *perMsg > backfill.WorkerMaxJobsPerMessage {
		return bad("--jobs-per-message %d: want 1 to %d", *perMsg, backfill.WorkerMaxJobsPerMessage)
	}
	if *rateFlag < 0 {
		return bad("--rate must not be negative")
	}
	s, u, err := backfill.ParseRange(*since, *until)
	if err != nil {
		return bad("%v", err)
	}
	filter := backfill.Filter{Tenants: backfill.ParseTenants(tenants), Since: s, Until: u}

	var cp *backfill.Checkpoint
	id := *runID
	switch {
	case *resume != "" && *runID != "" && *runID != *resume:
		return bad("--run-id %s and --resume %s differ", *runID, *resume)
	case *resume != "":
		id = *resume
		if cp, err = backfill.LoadCheckpoint(*cpDir, id); err != nil {
			return &exitError{2, err}
		}
	case id == "":
		id = backfill.NewRunID(time.Now())
	}
	if err := backfill.ValidRunID(id); err != nil {
		return &exitError{2, err}
	}
	if cp == nil && !*dryRun {
		if _, err := os.Stat(backfill.CheckpointPath(*cpDir, id)); err == nil {
			return bad("run %s already has a checkpoint in %s: use --resume %s, or another --run-id", id, *cpDir, id)
		}
	}

	// Input.
	var (
		reader   backfill.Reader
		identity = backfill.Identity{Filters: filter.String(), StaleVersion: *stale, Pipeline: *pipeline}
	)
	switch {
	case *fromFile != "":
		r, err := backfill.OpenJSONL(*fromFile)
		if err != nil {
			return err
		}
		reader, identity.Source, identity.Input = r, backfill.KindJSONL, r.Hash()
	case *fromPG != "":
		dsn := os.Getenv(sink.dsnEnv)
		if dsn == "" {
			return bad("$%s is empty: it must hold the Postgres DSN", sink.dsnEnv)
		}
		r, err := pgsink.OpenQuery(ctx, dsn, *fromPG, backfill.QueryOrder)
		if err != nil {
			return err
		}
		reader, identity.Source, identity.Input = backfill.FromRows(r), backfill.KindPostgres, backfill.QueryHash(*fromPG)
	default:
		r, err := bqsink.OpenQuery(ctx, sink.bqProject, *fromBQ, backfill.QueryOrder, sink.bqOptions()...)
		if err != nil {
			return err
		}
		reader, identity.Source, identity.Input = backfill.FromRows(r), backfill.KindBigQuery, backfill.QueryHash(sink.bqProject+"\x00"+*fromBQ)
	}
	defer reader.Close()
	if cp != nil {
		if err := cp.CheckResume(identity); err != nil {
			return &exitError{2, err}
		}
	}

	var checker backfill.StaleChecker
	if *stale != "" {
		rt, err := sink.open(ctx)
		if err != nil {
			return err
		}
		defer rt.Close()
		checker = rt
	}

	// Output.
	var pub sources.Publisher
	if !*dryRun {
		if *topic != "" {
			p, err := gcppubsub.NewPublisher(ctx, *project, *topic, gcppubsub.PublisherOptions{})
			if err != nil {
				return &exitError{2, err}
			}
			pub = p
		} else {
			client, err := awssqs.NewClient(ctx, *region, *sqsEndpoint)
			if err != nil {
				return &exitError{2, err}
			}
			p, err := awssqs.NewPublisher(client, *queueURL, awssqs.PublisherOptions{})
			if err != nil {
				return &exitError{2, err}
			}
			pub = p
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = pub.Close(cctx)
		}()
	}

	var progress backfill.Progress
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		progress = backfill.NewBar(stderr)
	} else {
		log, err := ops.NewLogger(stderr, "info", *logFormat)
		if err != nil {
			return bad("%v", err)
		}
		log = log.With().Str("run_id", id).Logger()
		progress = backfill.NewLogProgress(log, 5*time.Second)
	}
	if *dryRun {
		fmt.Fprintln(stdout, "dry run: a sample of the jobs that would be published:")
	}
	sum, err := backfill.Run(ctx, backfill.Options{
		RunID: id, Reader: reader, Identity: identity, Filter: filter,
		Stale: checker, StaleVersion: *stale,
		Publisher: pub, JobsPerMessage: *perMsg, Rate: *rateFlag, Pipeline: *pipeline,
		DryRun: *dryRun, Sample: stdout,
		CheckpointDir: *cpDir, Resume: cp, CheckpointEvery: *cpEvery, InFlight: *inFlight,
		Progress: progress,
	})
	backfill.WriteSummary(stdout, sum)
	if sum.Interrupted || (err != nil && !*dryRun && sum.Confirmed < max(sum.Total, 0)) {
		fmt.Fprintf(stdout, "resume with: chorus backfill --resume %s (and the same input and filter flags)\n", id)
	}
	if err != nil {
		if sum.Interrupted || errkind.KindOf(err) == errkind.Canceled || errors.Is(err, context.Canceled) {
			return &exitError{130, err}
		}
		return err
	}
	return nil
}

func backfillStatusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backfill status", stderr)
	var (
		sink sinkFlags
		dead dlqFlags
	)
	sink.register(fs)
	dead.register(fs, "dlq-")
	cpDir := fs.String("checkpoint-dir", backfill.DefaultCheckpointDir, "directory of the run checkpoints")
	asJSON := fs.Bool("json", false, "print JSON")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return &exitError{2, errors.New("backfill status: expected one RUN_ID")}
	}
	cp, err := backfill.LoadCheckpoint(*cpDir, id)
	if err != nil {
		return &exitError{2, err}
	}
	rt, err := sink.open(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	var counter backfill.DeadLetterCounter
	if dead.named() {
		r, err := dead.open(ctx)
		if err != nil {
			return err
		}
		defer r.Close()
		counter = backfill.DLQCounter{Reader: r, Read: dead.read}
	}
	st, err := backfill.RunStatus(ctx, cp, rt, counter)
	if err != nil {
		return err
	}
	return backfill.WriteStatus(stdout, st, *asJSON)
}
