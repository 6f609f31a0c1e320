package main

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/chorusml/chorus"
	"github.com/chorusml/chorus/cmd/chorus/tools/demo"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	out := fs.String("out", "chorus-out", "directory for results, dead letters, summary and log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := chorus.Data.ReadFile("deploy/examples/demo.yaml")
	if err != nil {
		return err
	}
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	_, err = demo.Run(ctx, demo.Options{Data: chorus.Data, Config: cfg, OutDir: *out, Out: stdout, Terminal: tty})
	return err
}
