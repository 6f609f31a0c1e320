package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ---------------------------------------------------------------------------
// The chorus command line, as the binary itself defines it.

type cli struct {
	flags map[string]map[string]bool // command → flag name → takes a value
}

func newCLI() *cli { return &cli{flags: map[string]map[string]bool{}} }

type invocation struct {
	cmd        string            // e.g. "run", "models serve"
	flags      map[string]string // flag name → value ("true" for a bool)
	positional []string
}

// parse checks args (what follows the binary's name) against the binary's
// own subcommands and flag sets.
func (c *cli) parse(args []string) (invocation, error) {
	var inv invocation
	n, flags, err := c.command(args)
	if err != nil {
		return inv, err
	}
	inv.cmd = strings.Join(args[:n], " ")
	inv.flags = map[string]string{}
	rest := args[n:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			inv.positional = append(inv.positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			inv.positional = append(inv.positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := flags[name]
		if !ok {
			known := slices.Sorted(maps.Keys(flags))
			return inv, fmt.Errorf("chorus %s has no flag -%s (it has %v)", inv.cmd, name, known)
		}
		switch {
		case hasVal:
		case takesValue:
			if i+1 >= len(rest) {
				return inv, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			val = rest[i]
		default:
			val = "true"
		}
		inv.flags[name] = val
	}
	return inv, nil
}

// command finds how many leading words of args name a subcommand, and its
// flags, by asking the binary's dispatch for each candidate's -h.
func (c *cli) command(args []string) (int, map[string]bool, error) {
	for n := 1; n <= len(args) && n <= 2; n++ {
		if strings.HasPrefix(args[n-1], "-") {
			break
		}
		name := strings.Join(args[:n], " ")
		if f, ok := c.flags[name]; ok {
			return n, f, nil
		}
		var out, errOut bytes.Buffer
		help := append(slices.Clone(args[:n]), "-h")
		err := dispatch(context.Background(), help, &out, &errOut)
		if errors.Is(err, flag.ErrHelp) {
			c.flags[name] = parseUsage(errOut.String())
			return n, c.flags[name], nil
		}
		if err == nil {
			// A command without flags (version).
			c.flags[name] = map[string]bool{}
			return n, c.flags[name], nil
		}
		if strings.Contains(err.Error(), "unknown command") {
			return 0, nil, fmt.Errorf("%q is not a chorus command", args[0])
		}
	}
	return 0, nil, fmt.Errorf("%q does not start with a chorus subcommand", args)
}

// parseUsage reads flag names from the flag package's usage output:
// "  -name type" (takes a value) or "  -name" (a bool), then the help text.
func parseUsage(usage string) map[string]bool {
	flags := map[string]bool{}
	for _, l := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(l, "  -")
		if !ok {
			continue
		}
		head, _, _ := strings.Cut(rest, "\t")
		f := strings.Fields(head)
		if len(f) == 0 {
			continue
		}
		flags[f[0]] = len(f) > 1
	}
	flags["h"], flags["help"] = false, false
	return flags
}
