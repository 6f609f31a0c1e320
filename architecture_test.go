package chorus_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The import rules of ARCHITECTURE.md, as data, so that the module and the
// fixture under testdata/layering are judged by the same code.
//
// A pattern is a path relative to the module (`.` is the root package), or
// a full import path when its first element holds a dot (a third-party
// module). Each element may use path.Match wildcards (`*` matches within one
// element); a trailing `/...` also matches everything below.

const modulePath = "github.com/chorusml/chorus"

// layerRule constrains the direct, non-test imports of the packages From
// names (less Except). Allow, when non-nil, lists the only in-module
// packages they may import; Deny lists imports, in-module or third-party,
// they must never make.
type layerRule struct {
	Name   string
	From   []string
	Except []string
	Allow  []string
	Deny   []string
}

var (
	// testSupport are packages that start servers or fake them for tests.
	testSupport = []string{
		"worker/testenv",
		"worker/endpoint/internal/adaptertest",
		"sources/sourcetest",
		"sources/*/*test",
		"sinks/sinktest",
		"sinks/*/*test",
		"sinks/bqsink/bqfake",
	}

	// sharedLeaves are the scoring-path packages drivers may use.
	sharedLeaves = []string{"worker/errkind", "worker/retry", "worker/atomicfile"}

	// brokerSDKs are the queue and warehouse client libraries only drivers
	// may use.
	brokerSDKs = []string{
		"cloud.google.com/go/pubsub/...",
		"github.com/aws/aws-sdk-go-v2/service/sqs/...",
		"cloud.google.com/go/bigquery/...",
		"github.com/jackc/pgx/...",
	}

	layerRules = []layerRule{
		{
			Name:   "the scoring path imports only the scoring path, sources and sinks",
			From:   []string{"worker/..."},
			Except: testSupport,
			Allow:  []string{"worker/...", "sources", "sinks"},
			Deny:   brokerSDKs,
		},
		{
			Name:  "the shared leaves import only each other",
			From:  sharedLeaves,
			Allow: sharedLeaves,
		},
		{
			Name:   "sources and its drivers import only sources, sources/internal and the shared leaves",
			From:   []string{"sources/..."},
			Except: testSupport,
			Allow:  append([]string{"sources", "sources/internal/..."}, sharedLeaves...),
		},
		{
			Name:   "sinks and its drivers import only sinks, sinks/internal and the shared leaves",
			From:   []string{"sinks/..."},
			Except: testSupport,
			Allow:  append([]string{"sinks", "sinks/internal/..."}, sharedLeaves...),
		},
		{
			Name: "the wiring imports no tool",
			From: []string{"cmd/chorus/wiring"},
			Deny: []string{"cmd/chorus/tools/..."},
		},
		{
			Name: "backfill and dlq reach brokers and warehouses only through the drivers",
			From: []string{"cmd/chorus/tools/backfill", "cmd/chorus/tools/dlq"},
			Deny: brokerSDKs,
		},
		{
			Name:   "only test support and the bench tool import test support",
			From:   []string{"..."},
			Except: append([]string{"cmd/chorus/tools/bench"}, testSupport...),
			Deny:   testSupport,
		},
	}
)

// matchPattern reports whether pkg (module-relative, or a full third-party
// path) matches pattern.
func matchPattern(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if external(pattern) != external(pkg) {
		return false
	}
	base, below := strings.CutSuffix(pattern, "/...")
	n := len(strings.Split(base, "/"))
	elems := strings.Split(pkg, "/")
	if len(elems) < n || (!below && len(elems) != n) {
		return false
	}
	ok, err := path.Match(base, strings.Join(elems[:n], "/"))
	return err == nil && ok
}

// external reports whether p names a third-party package: its first element
// holds a dot, as module paths do and the module's own relative paths and
// the standard library's do not.
func external(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return strings.Contains(first, ".")
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matchPattern(p, pkg) })
}

// relative turns an import path into the form patterns use: module packages
// relative to the module, the root as ".", anything else unchanged. inModule
// says which it was.
func relative(importPath string) (rel string, inModule bool) {
	if importPath == modulePath {
		return ".", true
	}
	if r, ok := strings.CutPrefix(importPath, modulePath+"/"); ok {
		return r, true
	}
	return importPath, false
}

// listedPackage is the part of `go list -json` the rules need.
type listedPackage struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// listPackages runs `go list` over the module in dir: every package with its
// direct non-test imports.
func listPackages(t *testing.T, dir string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	cmd.Dir = dir
	// The fixture is a module of its own; a workspace file must not pull it
	// into another.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list in %s: decoding its output: %v", dir, err)
		}
		if p.Error != nil {
			t.Fatalf("go list in %s: %s: %s", dir, p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list in %s listed no packages", dir)
	}
	return pkgs
}

// layeringViolations judges every import of pkgs by rules, one line per
// broken rule, sorted.
func layeringViolations(pkgs []listedPackage, rules []layerRule) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := relative(p.ImportPath)
		if !ok {
			continue
		}
		for _, r := range rules {
			if !matchAny(r.From, from) || matchAny(r.Except, from) {
				continue
			}
			for _, imp := range p.Imports {
				to, inModule := relative(imp)
				allowed := r.Allow == nil || !inModule || matchAny(r.Allow, to)
				if !allowed || matchAny(r.Deny, to) {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s", from, to, r.Name))
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

func TestImportRules(t *testing.T) {
	for _, v := range layeringViolations(listPackages(t, "."), layerRules) {
		t.Error(v)
	}
}

// TestImportRulesCatchViolations runs the rules over a fixture module whose
// packages break each rule once, so a rule that stops matching fails here
// rather than passing everything silently.
func TestImportRulesCatchViolations(t *testing.T) {
	got := layeringViolations(listPackages(t, "testdata/layering"), layerRules)
	want := []string{
		"cmd/chorus/tools/dlq imports github.com/aws/aws-sdk-go-v2/service/sqs: backfill and dlq reach brokers and warehouses only through the drivers",
		"cmd/chorus/wiring imports cmd/chorus/tools/dlq: the wiring imports no tool",
		"sinks/memsink imports sources: sinks and its drivers import only sinks, sinks/internal and the shared leaves",
		"sources/memsource imports sinks: sources and its drivers import only sources, sources/internal and the shared leaves",
		"sources/memsource imports worker/config: sources and its drivers import only sources, sources/internal and the shared leaves",
		"worker imports github.com/aws/aws-sdk-go-v2/service/sqs: the scoring path imports only the scoring path, sources and sinks",
		"worker imports sources/memsource: the scoring path imports only the scoring path, sources and sinks",
		"worker imports worker/testenv: only test support and the bench tool import test support",
		"worker/retry imports worker/config: the shared leaves import only each other",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations in testdata/layering:\ngot:\n\t%s\nwant:\n\t%s",
			strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// tableRow matches a row of ARCHITECTURE.md's package table and captures
// its first cell.
var tableRow = regexp.MustCompile("^\\| (`[^|]*) \\|")

// TestArchitectureListsEveryPackage keeps the package table of
// ARCHITECTURE.md in step with the code: every package must match a name in
// the table's first column. A name is a module-relative path in backquotes,
// `.` for the root; an element written `<word>` stands for any one element,
// and `<word>test` for any element ending in "test".
func TestArchitectureListsEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`<[a-z]+>`)
	quoted := regexp.MustCompile("`([^`]+)`")
	var names []string
	inTable := false
	for sc := bufio.NewScanner(bytes.NewReader(doc)); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inTable = line == "## Packages"
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		if !inTable || m == nil {
			continue
		}
		for _, name := range quoted.FindAllStringSubmatch(m[1], -1) {
			names = append(names, placeholder.ReplaceAllString(name[1], "*"))
		}
	}
	if len(names) == 0 {
		t.Fatal("found no package table under \"## Packages\" in ARCHITECTURE.md")
	}
	for _, p := range listPackages(t, ".") {
		rel, _ := relative(p.ImportPath)
		if !matchAny(names, rel) {
			t.Errorf("package %s is not in ARCHITECTURE.md's package table", rel)
		}
	}
}
