// Command chorus scores customer-feedback text at scale: it pulls feedback
// jobs from a queue, micro-batches them to model endpoints, ensembles the
// answers into tags and writes tagged responses to a sink.
//
// This file only wires packages together; behaviour lives in worker/,
// sources/ and sinks/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `chorus scores customer-feedback text with model endpoints.

Usage:
  chorus demo [--out DIR]                  score the embedded demo feedback end to end
  chorus run --config FILE                 run the worker (SIGTERM drains and exits)
  chorus models serve [--addr ADDR] ...    serve the reference models (open-inference, vertex, tei, openai)
  chorus models eval                       print the reference models' held-out accuracy
  chorus config validate FILE              check a config file and exit
  chorus migrate --config FILE             create or upgrade the sink's tables
  chorus dlq list|show|replay ...          inspect dead letters by reason, replay them to the main topic/queue
  chorus backfill --from-file F ...        re-publish jobs for re-scoring (backfill status RUN_ID)
  chorus bench [--report FILE]             measure the performance targets, write a report
  chorus version

Run "chorus COMMAND -h" for a command's flags.
`

// exitError carries an exit code; config errors exit 2, runtime failures 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "chorus:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return demoCmd(ctx, rest, stdout, stderr)
	case "run":
		return runCmd(ctx, rest, stderr)
	case "models":
		if len(rest) > 0 {
			switch rest[0] {
			case "serve":
				return modelsServeCmd(ctx, rest[1:], stderr)
			case "eval":
				return modelsEvalCmd(rest[1:], stdout, stderr)
			}
		}
		return &exitError{2, errors.New(`models: expected "serve" or "eval"`)}
	case "config":
		if len(rest) > 0 && rest[0] == "validate" {
			return configValidateCmd(rest[1:], stdout, stderr)
		}
		return &exitError{2, errors.New(`config: expected "validate FILE"`)}
	case "backfill":
		return backfillCmd(ctx, rest, stdout, stderr)
	case "dlq":
		return dlqCmd(ctx, rest, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, rest, stdout, stderr)
	case "bench":
		return benchCmd(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
	}
}

// listFlag is a repeatable string flag; commas separate values too.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("chorus "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{2, err}
	}
	return nil
}
