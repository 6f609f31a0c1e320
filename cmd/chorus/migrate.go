package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chorusml/chorus/cmd/chorus/wiring"
	"github.com/chorusml/chorus/worker/config"
)

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	path := fs.String("config", "", "config file (YAML); its sink is migrated")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return &exitError{2, errors.New("migrate: --config FILE is required")}
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		return &exitError{2, err}
	}
	lines, err := wiring.Migrate(ctx, cfg, os.Getenv)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return err
}
