package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/chorusml/chorus/cmd/chorus/tools/dlq"
	"github.com/chorusml/chorus/worker/config"
)

const dlqUsage = `chorus dlq: inspect and replay dead letters.

Usage:
  chorus dlq list   [BROKER FLAGS] [--max N] [--wait D] [--json]
  chorus dlq show   [BROKER FLAGS] [--reason R] [--limit N] [--json]
  chorus dlq replay [BROKER FLAGS] (--reason R | --id ID ... | --all) [--to-topic T | --to-queue-url U] [--dry-run] [--rate N]

Broker flags: --config FILE (the worker's config), or
  Pub/Sub: --pubsub-project P --subscription S (a subscription of the dead-letter topic)
  SQS:     --sqs-queue-url U [--aws-region R] [--sqs-endpoint URL]
`

// dlqFlags name a dead-letter topic or queue and bound the read: the
// flags of every dlq subcommand, and of backfill status.
type dlqFlags struct {
	target dlq.Target
	config string
	read   dlq.ReadOptions
}

// register adds the broker flags and the read bounds, the latter named with
// prefix (backfill status has a --json and a run of its own to bound, so
// its bounds are --dlq-lease, --dlq-max and --dlq-wait).
func (f *dlqFlags) register(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&f.config, "config", "", "worker config (YAML): its source names the dead-letter topic or queue, and the main one")
	fs.StringVar(&f.target.Project, "pubsub-project", "", "Pub/Sub project")
	fs.StringVar(&f.target.Subscription, "subscription", "", "Pub/Sub subscription of the dead-letter topic")
	fs.StringVar(&f.target.QueueURL, "sqs-queue-url", "", "SQS dead-letter queue URL")
	fs.StringVar(&f.target.Endpoint, "sqs-endpoint", "", "SQS endpoint override (moto, LocalStack, VPC endpoint)")
	fs.StringVar(&f.target.Region, "aws-region", "", "AWS region (default: AWS_REGION or the profile's)")
	fs.DurationVar(&f.target.Lease, prefix+"lease", dlq.DefaultLease, "how long dead letters read stay invisible to others while this command runs")
	fs.IntVar(&f.read.Max, prefix+"max", dlq.DefaultMax, "read at most N dead letters")
	fs.DurationVar(&f.read.Wait, prefix+"wait", dlq.DefaultWait, "stop reading when nothing arrives for this long (the DLQ is drained)")
}

// named reports whether any flag names dead letters.
func (f *dlqFlags) named() bool {
	t := f.target
	return f.config != "" || t.Project != "" || t.Subscription != "" || t.QueueURL != "" || t.Endpoint != "" || t.Region != ""
}

// list reads the dead letters the flags name, leaving every one in place.
func (f *dlqFlags) list(ctx context.Context) (dlq.Listing, error) {
	r, err := f.open(ctx)
	if err != nil {
		return dlq.Listing{}, err
	}
	defer r.Close()
	return dlq.List(ctx, r, f.read)
}

// open resolves the target (flags first, then --config) and opens the
// reader.
func (f *dlqFlags) open(ctx context.Context) (dlq.Reader, error) {
	if f.config != "" {
		cfg, err := config.Load(f.config, os.Getenv)
		if err != nil {
			return nil, &exitError{2, err}
		}
		f.target.ApplyConfig(cfg)
	}
	r, err := dlq.OpenReader(ctx, f.target)
	if err != nil {
		return nil, &exitError{2, err}
	}
	return r, nil
}

func dlqCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dlqUsage)
		return &exitError{2, errors.New(`dlq: expected "list", "show" or "replay"`)}
	}
	switch args[0] {
	case "list":
		return dlqListCmd(ctx, args[1:], stdout, stderr)
	case "show":
		return dlqShowCmd(ctx, args[1:], stdout, stderr)
	case "replay":
		return dlqReplayCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, dlqUsage)
		return nil
	}
	fmt.Fprint(stderr, dlqUsage)
	return &exitError{2, fmt.Errorf(`dlq: unknown subcommand %q: expected "list", "show" or "replay"`, args[0])}
}

func dlqListCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dlq list", stderr)
	var f dlqFlags
	f.register(fs, "")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	l, err := f.list(ctx)
	if err != nil {
		return err
	}
	return dlq.WriteList(stdout, l, *asJSON)
}

func dlqShowCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dlq show", stderr)
	var (
		f       dlqFlags
		reasons listFlag
	)
	f.register(fs, "")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Var(&reasons, "reason", "only dead letters with this reason (repeatable)")
	limit := fs.Int("limit", 20, "print at most N dead letters (0: all read)")
	body := fs.Int("body-bytes", 200, "cut bodies to N bytes in the text output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	l, err := f.list(ctx)
	if err != nil {
		return err
	}
	return dlq.WriteShow(stdout, l, dlq.ShowOptions{Reasons: reasons, Limit: *limit, BodyBytes: *body, JSON: *asJSON})
}

func dlqReplayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dlq replay", stderr)
	var (
		f       dlqFlags
		o       dlq.ReplayOptions
		reasons listFlag
		ids     listFlag
	)
	f.register(fs, "")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Var(&reasons, "reason", "replay dead letters with this reason (repeatable)")
	fs.Var(&ids, "id", "replay the dead letter with this DLQ message id (repeatable)")
	fs.BoolVar(&o.Select.All, "all", false, "replay every dead letter read")
	fs.StringVar(&f.target.ToTopic, "to-topic", "", "Pub/Sub topic to republish to (default: the topic of the config's subscription)")
	fs.StringVar(&f.target.ToQueueURL, "to-queue-url", "", "SQS queue to republish to (default: the config's queue_url)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "select and count, publish nothing, remove nothing")
	fs.Float64Var(&o.Rate, "rate", 0, "republish at most N messages per second (0: no limit)")
	fs.StringVar(&o.RunID, "run-id", "", "replay run id put on every message (default: generated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Select.Reasons, o.Select.IDs = reasons, ids
	if n := btoi(o.Select.All) + btoi(len(reasons) > 0) + btoi(len(ids) > 0); n != 1 {
		return &exitError{2, errors.New("dlq replay: select with exactly one of --reason, --id or --all")}
	}
	if o.RunID == "" {
		o.RunID = dlq.NewRunID()
	}
	r, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	var dest dlq.Destination
	if !o.DryRun {
		dest, err = dlq.OpenDestination(ctx, f.target)
		if err != nil {
			return &exitError{2, err}
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = dest.Publisher.Close(cctx)
		}()
		o.MaxAttributes, o.FIFO = dest.MaxAttributes, dest.FIFO
		fmt.Fprintf(stderr, "replay %s: %s → %s\n", o.RunID, r.Name(), dest.Name)
	} else {
		fmt.Fprintf(stderr, "replay %s (dry run): %s\n", o.RunID, r.Name())
	}
	o.ReadOptions = f.read
	sum, err := dlq.Replay(ctx, r, dest.Publisher, o)
	if *asJSON {
		if jerr := json.NewEncoder(stdout).Encode(sum); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		verb, n := "replayed", sum.Replayed
		if o.DryRun {
			verb, n = "would replay (dry run)", sum.Selected
		}
		more := ""
		if sum.Truncated {
			more = " (stopped at --max: the DLQ may hold more)"
		}
		fmt.Fprintf(stdout, "run id %s: read %d, selected %d, %s %d, failed %d, left %d in the DLQ%s\n",
			sum.RunID, sum.Read, sum.Selected, verb, n, sum.Failed, sum.Left, more)
		if sum.AckFailed > 0 {
			fmt.Fprintf(stdout, "%d republished dead letters could not be removed from the DLQ: a later replay would send them again\n", sum.AckFailed)
		}
	}
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
