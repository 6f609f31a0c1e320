package main

// These tests keep deploy/ from rotting: every config there passes `chorus
// config validate`, every container runs a real subcommand with real flags
// and mounts the config it names, probes and scalers agree with that
// config, the Grafana dashboard queries only metrics the binary exports,
// and the Terraform BigQuery table matches the sink's schema. They read
// files only: no cluster, cloud or Docker engine is needed.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"go.yaml.in/yaml/v3"

	"github.com/chorusml/chorus/sinks/bqsink"
	"github.com/chorusml/chorus/worker/config"
	"github.com/chorusml/chorus/worker/metrics"
	"github.com/chorusml/chorus/worker/ops"
	"github.com/chorusml/chorus/worker/router"
)

const deployDir = "../../deploy"

// cloudRunGrace is how long Cloud Run waits between SIGTERM and SIGKILL; it
// cannot be configured.
const cloudRunGrace = 10 * time.Second

// drainMargin is what a pod's grace period needs beyond worker.drain_timeout:
// flushing the sink and the acks, and a long poll in progress.
const drainMargin = 10 * time.Second

// obj is one decoded YAML or JSON document.
type obj = map[string]any

// ---------------------------------------------------------------------------
// 1. Every chorus config under deploy/ passes `chorus config validate`.

// chorusConfig is a chorus config found under deploy/: a file, or a key of a
// ConfigMap document.
type chorusConfig struct {
	name string // path relative to deploy/, plus "#ConfigMap/key" for embedded ones
	data []byte
}

func TestDeployConfigs(t *testing.T) {
	configs := findChorusConfigs(t)
	if len(configs) < 6 {
		t.Fatalf("found %d chorus configs under deploy/, expected the examples, both Kubernetes overlays and both Cloud Run configs", len(configs))
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			validateLikeCLI(t, c)
		})
	}
}

// findChorusConfigs walks deploy/ and returns every chorus config, and fails
// on a YAML document it cannot classify, so a new file gets checked or is
// noticed.
func findChorusConfigs(t *testing.T) []chorusConfig {
	t.Helper()
	var out []chorusConfig
	for _, path := range yamlFiles(t) {
		rel := relDeploy(path)
		docs, err := readYAMLDocs(path)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		base := filepath.Base(path)
		for i, d := range docs {
			switch {
			case base == "kustomization.yaml" || base == "kustomization.yml":
			case isChorusConfig(d):
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if len(docs) > 1 {
					t.Fatalf("%s: a chorus config must be the file's only document", rel)
				}
				out = append(out, chorusConfig{name: rel, data: data})
			case str(d, "apiVersion") != "" && str(d, "kind") != "":
				if str(d, "kind") != "ConfigMap" {
					continue
				}
				for key, v := range mp(d, "data") {
					s, _ := v.(string)
					if !strings.HasSuffix(key, ".yaml") && !strings.HasSuffix(key, ".yml") {
						continue
					}
					var m obj
					if err := yaml.Unmarshal([]byte(s), &m); err == nil && isChorusConfig(m) {
						out = append(out, chorusConfig{name: fmt.Sprintf("%s#%s/%s", rel, str(d, "metadata", "name"), key), data: []byte(s)})
					}
				}
			default:
				t.Errorf("%s: document %d is neither a Kubernetes or Cloud Run object, a kustomization nor a chorus config", rel, i)
			}
		}
	}
	return out
}

func isChorusConfig(d obj) bool {
	_, hasSource := d["source"]
	_, hasKind := d["kind"]
	return hasSource && !hasKind
}

// validateLikeCLI runs `chorus config validate` on c, with every variable
// the config names set to a dummy value.
func validateLikeCLI(t *testing.T, c chorusConfig) {
	t.Helper()
	cfg, err := config.Parse(c.data, permissiveEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, name := range configEnvVars(cfg) {
		t.Setenv(name, "deploy-test-dummy")
	}
	if missing := missingTLSFiles(cfg); len(missing) > 0 {
		// Example configs point at certificates of a real host. Everything
		// but loading them is still checked.
		t.Logf("TLS files %v are not on this machine: checking without loading them", missing)
		cfg, err := config.Parse(c.data, os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := router.New(cfg); err != nil {
			t.Fatal(err)
		}
		return
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, c.data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := dispatch(context.Background(), []string{"config", "validate", path}, &out, &errOut); err != nil {
		t.Fatalf("chorus config validate: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Fatalf("chorus config validate printed %q", out.String())
	}
}

// permissiveEnv sets every variable except the config's environment
// overrides, which would replace the file's values.
func permissiveEnv(name string) string {
	for _, o := range config.EnvOverrides() {
		if o.Var == name {
			return ""
		}
	}
	return "deploy-test-dummy"
}

// configEnvVars lists the environment variables cfg needs set at start-up.
func configEnvVars(cfg *config.Config) []string {
	var names []string
	if cfg.Sink.Type == "postgres" {
		names = append(names, cfg.Sink.Postgres.DSNEnv)
	}
	for _, m := range cfg.Models {
		if m.Auth.BearerTokenEnv != "" {
			names = append(names, m.Auth.BearerTokenEnv)
		}
		for _, v := range m.Auth.HeadersEnv {
			names = append(names, v)
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func missingTLSFiles(cfg *config.Config) []string {
	var missing []string
	for _, m := range cfg.Models {
		for _, f := range []string{m.TLS.CAFile, m.TLS.CertFile, m.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
	}
	return missing
}

// ---------------------------------------------------------------------------
// 2 and 3. Containers, probes, grace periods and KEDA scalers.

// unit is what one deploys at once: a kustomize overlay, a Cloud Run file,
// or the image itself.
type unit struct {
	name    string
	objects []obj
	// configFor returns the chorus config a volume holds at key.
	configFor func(volume obj, key string) ([]byte, error)
}

func TestDeployContainers(t *testing.T) {
	cli := newCLI()
	t.Run("Dockerfile", func(t *testing.T) { checkDockerfile(t, cli) })

	units := kustomizeUnits(t)
	units = append(units, cloudRunUnits(t)...)
	want := map[string]bool{"kubernetes/gcp-pubsub": false, "kubernetes/aws-sqs": false, "cloudrun/service.yaml": false, "cloudrun/job.yaml": false}
	for _, u := range units {
		want[u.name] = true
		t.Run(u.name, func(t *testing.T) { checkUnit(t, cli, u) })
	}
	for name, found := range want {
		if !found {
			t.Errorf("deploy/%s is gone: the test expects it", name)
		}
	}
}

// workload is a pod template found in a unit.
type workload struct {
	kind, name string
	object     obj
	pod        obj // the PodSpec (or Cloud Run's equivalent)
	cloudRun   bool
}

func workloads(objects []obj) []workload {
	var out []workload
	for _, o := range objects {
		kind, name := str(o, "kind"), str(o, "metadata", "name")
		switch {
		case kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet":
			out = append(out, workload{kind, name, o, mp(o, "spec", "template", "spec"), false})
		case kind == "Job" && strings.HasPrefix(str(o, "apiVersion"), "batch/"):
			out = append(out, workload{kind, name, o, mp(o, "spec", "template", "spec"), false})
		case kind == "CronJob":
			out = append(out, workload{kind, name, o, mp(o, "spec", "jobTemplate", "spec", "template", "spec"), false})
		case kind == "Service" && strings.HasPrefix(str(o, "apiVersion"), "serving.knative.dev/"):
			out = append(out, workload{"CloudRunService", name, o, mp(o, "spec", "template", "spec"), true})
		case kind == "Job" && strings.HasPrefix(str(o, "apiVersion"), "run.googleapis.com/"):
			out = append(out, workload{"CloudRunJob", name, o, mp(o, "spec", "template", "spec", "template", "spec"), true})
		}
	}
	return out
}

func checkUnit(t *testing.T, cli *cli, u unit) {
	ws := workloads(u.objects)
	if len(ws) == 0 {
		t.Skip("no workloads")
	}
	configs := map[string]*config.Config{} // workload name → its worker's config
	for _, w := range ws {
		t.Run(w.kind+"/"+w.name, func(t *testing.T) {
			if cfg := checkWorkload(t, cli, u, w); cfg != nil {
				configs[w.name] = cfg
			}
		})
	}
	for _, o := range u.objects {
		if str(o, "kind") == "ScaledObject" {
			t.Run("ScaledObject/"+str(o, "metadata", "name"), func(t *testing.T) { checkScaledObject(t, u, o, configs) })
		}
	}
	for _, w := range ws {
		cfg := configs[w.name]
		if w.kind != "Deployment" || cfg == nil || (cfg.Source.Type != "pubsub" && cfg.Source.Type != "sqs") {
			continue
		}
		if !slices.ContainsFunc(u.objects, func(o obj) bool {
			return str(o, "kind") == "ScaledObject" && str(o, "spec", "scaleTargetRef", "name") == w.name
		}) {
			t.Errorf("Deployment %s reads a queue but no ScaledObject scales it", w.name)
		}
	}
}

// checkWorkload checks one pod template and returns the config its chorus
// run container mounts (nil if none).
func checkWorkload(t *testing.T, cli *cli, u unit, w workload) *config.Config {
	pod := w.pod
	containers := list(pod, "containers")
	if len(containers) == 0 {
		t.Fatal("no containers")
	}
	volumes := map[string]obj{}
	for _, v := range list(pod, "volumes") {
		vm, _ := v.(obj)
		volumes[str(vm, "name")] = vm
	}
	if !w.cloudRun {
		checkHardening(t, pod)
	}
	var cfg *config.Config
	for _, c := range containers {
		cm, _ := c.(obj)
		t.Run("container/"+str(cm, "name"), func(t *testing.T) {
			if got := checkContainer(t, cli, u, w, cm, volumes); got != nil {
				cfg = got
			}
		})
	}
	if cfg == nil {
		return nil
	}
	drain := cfg.Worker.DrainTimeout
	if w.cloudRun {
		if drain+2*time.Second > cloudRunGrace {
			t.Errorf("worker.drain_timeout %s: Cloud Run kills an instance %s after SIGTERM, leaving no time to flush", drain, cloudRunGrace)
		}
		return cfg
	}
	grace := 30 * time.Second // Kubernetes' default
	if v, ok := num(pod, "terminationGracePeriodSeconds"); ok {
		grace = time.Duration(v) * time.Second
	}
	if grace < drain+drainMargin {
		t.Errorf("terminationGracePeriodSeconds %s is not worker.drain_timeout %s + %s: SIGKILL would cut the drain short", grace, drain, drainMargin)
	}
	return cfg
}

// checkHardening checks what every Kubernetes worker pod promises: non-root,
// a read-only root filesystem and bounded resources.
func checkHardening(t *testing.T, pod obj) {
	for _, c := range list(pod, "containers") {
		cm, _ := c.(obj)
		name := str(cm, "name")
		if !boolean(cm, "securityContext", "runAsNonRoot") && !boolean(pod, "securityContext", "runAsNonRoot") {
			t.Errorf("container %s: runAsNonRoot is not set", name)
		}
		if !boolean(cm, "securityContext", "readOnlyRootFilesystem") {
			t.Errorf("container %s: readOnlyRootFilesystem is not set", name)
		}
		for _, k := range []string{"requests", "limits"} {
			for _, r := range []string{"cpu", "memory"} {
				if str(cm, "resources", k, r) == "" {
					t.Errorf("container %s: resources.%s.%s is not set", name, k, r)
				}
			}
		}
	}
}

// checkContainer checks a container's command line against the binary and,
// for `chorus run`, its config, probes, ports and environment.
func checkContainer(t *testing.T, cli *cli, u unit, w workload, c obj, volumes map[string]obj) *config.Config {
	if cmd := strs(c, "command"); len(cmd) > 0 && !slices.Equal(cmd, []string{"/chorus"}) {
		t.Fatalf("command %q replaces the image's ENTRYPOINT [/chorus]; set args only", cmd)
	}
	inv, err := cli.parse(strs(c, "args"))
	if err != nil {
		t.Fatalf("args %q: %v", strs(c, "args"), err)
	}
	path := inv.flags["config"]
	if path == "" {
		if inv.cmd == "run" {
			t.Fatal("chorus run without --config")
		}
		return nil
	}
	data, err := mountedConfig(u, c, volumes, path)
	if err != nil {
		t.Fatalf("--config %s: %v", path, err)
	}
	cfg, err := config.Parse(data, permissiveEnv)
	if err != nil {
		t.Fatalf("--config %s: %v", path, err)
	}
	env := map[string]string{}
	for _, e := range list(c, "env") {
		em, _ := e.(obj)
		env[str(em, "name")] = str(em, "value")
	}
	for _, name := range configEnvVars(cfg) {
		if _, ok := env[name]; !ok {
			t.Errorf("the config at %s needs %s, which the container does not set", path, name)
		}
	}
	if inv.cmd != "run" {
		return nil
	}

	// Where the metrics listener ends up: flag, then environment, then file.
	addr := cmp.Or(inv.flags["metrics-addr"], env["CHORUS_METRICS_ADDR"], cfg.Metrics.Addr)
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		pm, _ := p.(obj)
		n, _ := num(pm, "containerPort")
		ports[str(pm, "name")] = n
		ports[strconv.Itoa(n)] = n
	}
	metricsPort := 0
	if addr != "" {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("metrics address %q: %v", addr, err)
		}
		metricsPort, _ = strconv.Atoi(p)
		if len(ports) > 0 && !slices.Contains(slices.Collect(maps.Values(ports)), metricsPort) {
			t.Errorf("metrics listen on %d, which is not a container port (%v)", metricsPort, ports)
		}
	}
	wantPath := map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": ""}
	for probe, want := range wantPath {
		p := mp(c, probe)
		if p == nil {
			if probe == "livenessProbe" && w.kind != "CloudRunJob" {
				t.Errorf("no livenessProbe")
			}
			continue
		}
		get := mp(p, "httpGet")
		if get == nil {
			t.Errorf("%s is not an httpGet on /healthz or /readyz", probe)
			continue
		}
		if got := str(get, "path"); (want != "" && got != want) || (got != "/healthz" && got != "/readyz") {
			t.Errorf("%s path %q, want %q", probe, got, cmp.Or(want, "/healthz or /readyz"))
		}
		port, ok := ports[fmt.Sprint(get["port"])]
		if !ok {
			port, _ = num(get, "port")
		}
		if metricsPort == 0 {
			t.Errorf("%s probes port %v, but the worker serves no metrics listener (no --metrics-addr or metrics.addr)", probe, get["port"])
		} else if port != metricsPort {
			t.Errorf("%s probes port %v (%d), but --metrics-addr/metrics.addr listens on %d", probe, get["port"], port, metricsPort)
		}
	}
	if w.kind == "CloudRunService" {
		ann := mp(w.object, "spec", "template", "metadata", "annotations")
		if str(ann, "run.googleapis.com/cpu-throttling") != "false" {
			t.Error(`a pulling worker needs run.googleapis.com/cpu-throttling: "false": a throttled instance stops pulling`)
		}
		if n, _ := strconv.Atoi(str(ann, "autoscaling.knative.dev/minScale")); n < 1 {
			t.Error("autoscaling.knative.dev/minScale must be at least 1: no request ever starts an instance of a pulling worker")
		}
	}
	return cfg
}

// mountedConfig returns the content of the file at path in container c.
func mountedConfig(u unit, c obj, volumes map[string]obj, path string) ([]byte, error) {
	for _, m := range list(c, "volumeMounts") {
		mm, _ := m.(obj)
		mount, sub := str(mm, "mountPath"), str(mm, "subPath")
		var key string
		switch {
		case sub != "" && mount == path:
			key = sub
		case sub == "" && filepath.Dir(path) == filepath.Clean(mount):
			key = filepath.Base(path)
		default:
			continue
		}
		v, ok := volumes[str(mm, "name")]
		if !ok {
			return nil, fmt.Errorf("mount %s names volume %q, which the pod does not define", mount, str(mm, "name"))
		}
		return u.configFor(v, key)
	}
	return nil, errors.New("no volume is mounted there")
}

// itemKey maps a file name in a volume back to the key of its source
// (configMap/secret items), or returns it as is.
func itemKey(items []any, file string) (string, bool) {
	if len(items) == 0 {
		return file, true
	}
	for _, it := range items {
		im, _ := it.(obj)
		if str(im, "path") == file {
			return str(im, "key"), true
		}
	}
	return "", false
}

func checkScaledObject(t *testing.T, u unit, so obj, configs map[string]*config.Config) {
	target := str(so, "spec", "scaleTargetRef", "name")
	kind := cmp.Or(str(so, "spec", "scaleTargetRef", "kind"), "Deployment")
	if !slices.ContainsFunc(u.objects, func(o obj) bool { return str(o, "kind") == kind && str(o, "metadata", "name") == target }) {
		t.Fatalf("scaleTargetRef %s/%s does not exist", kind, target)
	}
	cfg := configs[target]
	if cfg == nil {
		t.Fatalf("scaleTargetRef %s runs no chorus worker with a config", target)
	}
	if n, ok := num(so, "spec", "minReplicaCount"); !ok || n != 0 {
		t.Errorf("minReplicaCount %v, want 0 (no backlog, no pods)", n)
	}
	if n, _ := num(so, "spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds"); n <= 0 {
		t.Error("no scaleDown stabilization: a dip in the backlog metric would drain and restart workers")
	}
	triggers := list(so, "spec", "triggers")
	if len(triggers) == 0 {
		t.Fatal("no triggers")
	}
	for _, tr := range triggers {
		tm, _ := tr.(obj)
		md := mp(tm, "metadata")
		if auth := str(tm, "authenticationRef", "name"); auth != "" &&
			!slices.ContainsFunc(u.objects, func(o obj) bool {
				return str(o, "kind") == "TriggerAuthentication" && str(o, "metadata", "name") == auth
			}) {
			t.Errorf("authenticationRef %s does not exist", auth)
		}
		switch typ := str(tm, "type"); typ {
		case "gcp-pubsub":
			ps := cfg.Source.PubSub
			if cfg.Source.Type != "pubsub" {
				t.Errorf("gcp-pubsub trigger, but the worker's source is %s", cfg.Source.Type)
			}
			sub := str(md, "subscriptionName")
			if sub != ps.Subscription && sub != "projects/"+ps.Project+"/subscriptions/"+ps.Subscription {
				t.Errorf("subscriptionName %q is not the config's subscription %s/%s", sub, ps.Project, ps.Subscription)
			}
			for _, k := range []string{"mode", "value", "activationValue"} {
				if str(md, k) == "" {
					t.Errorf("gcp-pubsub metadata.%s is not set", k)
				}
			}
		case "aws-sqs-queue":
			q := cfg.Source.SQS
			if cfg.Source.Type != "sqs" {
				t.Errorf("aws-sqs-queue trigger, but the worker's source is %s", cfg.Source.Type)
			}
			if got := str(md, "queueURL"); got != q.QueueURL {
				t.Errorf("queueURL %q is not the config's queue_url %q", got, q.QueueURL)
			}
			if got := str(md, "awsRegion"); got != q.Region {
				t.Errorf("awsRegion %q is not the config's region %q", got, q.Region)
			}
			for _, k := range []string{"queueLength", "activationQueueLength"} {
				if str(md, k) == "" {
					t.Errorf("aws-sqs-queue metadata.%s is not set", k)
				}
			}
		default:
			t.Errorf("trigger type %q: expected gcp-pubsub or aws-sqs-queue", typ)
		}
	}
}

// checkDockerfile checks the image's entry point and default command.
func checkDockerfile(t *testing.T, cli *cli) {
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entrypoint, cmd []string
	var user string
	exposed := map[int]bool{}
	var line strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			line.WriteString(s + " ")
			continue
		}
		line.WriteString(l)
		instr, rest, _ := strings.Cut(line.String(), " ")
		line.Reset()
		switch strings.ToUpper(instr) {
		case "ENTRYPOINT", "CMD":
			var words []string
			if err := json.Unmarshal([]byte(rest), &words); err != nil {
				t.Fatalf("%s %s: use the JSON (exec) form, so signals reach chorus: %v", instr, rest, err)
			}
			if strings.EqualFold(instr, "ENTRYPOINT") {
				entrypoint = words
			} else {
				cmd = words
			}
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, _ := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				exposed[n] = true
			}
		case "USER":
			user = strings.TrimSpace(rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(entrypoint, []string{"/chorus"}) {
		t.Errorf("ENTRYPOINT %q, want [\"/chorus\"]: the manifests pass args only", entrypoint)
	}
	if user != "nonroot" {
		t.Errorf("USER %q, want nonroot", user)
	}
	inv, err := cli.parse(cmd)
	if err != nil {
		t.Fatalf("CMD %q: %v", cmd, err)
	}
	if inv.cmd != "run" || inv.flags["config"] == "" {
		t.Errorf("CMD %q: want chorus run --config FILE", cmd)
	}
	_, p, err := net.SplitHostPort(inv.flags["metrics-addr"])
	if err != nil {
		t.Fatalf("CMD --metrics-addr %q: %v", inv.flags["metrics-addr"], err)
	}
	if n, _ := strconv.Atoi(p); !exposed[n] {
		t.Errorf("CMD serves metrics on %s, which the image does not EXPOSE (%v)", p, exposed)
	}
}

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

// ---------------------------------------------------------------------------
// Kustomize: the subset deploy/kubernetes uses, rendered in process.

var kustomizeKeys = map[string]bool{
	"apiVersion": true, "kind": true, "resources": true, "components": true, "configMapGenerator": true,
	"patches": true, "images": true, "namespace": true, "labels": true, "commonLabels": true,
	"commonAnnotations": true, "generatorOptions": true,
}

type kustomization struct {
	dir  string
	spec obj
}

func kustomizeUnits(t *testing.T) []unit {
	t.Helper()
	root := filepath.Join(deployDir, "kubernetes")
	var ks []kustomization
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		docs, err := readYAMLDocs(p)
		if err != nil || len(docs) != 1 {
			return fmt.Errorf("%s: want one document: %v", p, err)
		}
		ks = append(ks, kustomization{filepath.Dir(p), docs[0]})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Roots are the overlays nothing else includes; every YAML file must
	// be used by some kustomization, so an orphan is not silently untested.
	referenced, used := map[string]bool{}, map[string]bool{}
	for _, k := range ks {
		used[filepath.Join(k.dir, "kustomization.yaml")] = true
		for _, r := range kustomizeRefs(k) {
			p := filepath.Join(k.dir, r)
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				referenced[filepath.Clean(p)] = true
			} else {
				used[filepath.Clean(p)] = true
			}
		}
	}
	for _, f := range yamlFiles(t) {
		if strings.HasPrefix(f, root+string(filepath.Separator)) && !used[filepath.Clean(f)] {
			t.Errorf("%s is in no kustomization: nothing deploys or checks it", relDeploy(f))
		}
	}
	var units []unit
	for _, k := range ks {
		if referenced[filepath.Clean(k.dir)] || str(k.spec, "kind") == "Component" {
			continue
		}
		objects, err := renderKustomization(k.dir)
		if err != nil {
			t.Fatalf("%s: %v", relDeploy(k.dir), err)
		}
		units = append(units, unit{
			name:    relDeploy(k.dir),
			objects: objects,
			configFor: func(v obj, key string) ([]byte, error) {
				cm := mp(v, "configMap")
				if cm == nil {
					return nil, fmt.Errorf("volume %s is not a ConfigMap", str(v, "name"))
				}
				key, ok := itemKey(list(cm, "items"), key)
				if !ok {
					return nil, fmt.Errorf("ConfigMap volume %s has no item for it", str(v, "name"))
				}
				name := str(cm, "name")
				for _, o := range objects {
					if str(o, "kind") == "ConfigMap" && str(o, "metadata", "name") == name {
						if s, ok := mp(o, "data")[key].(string); ok {
							return []byte(s), nil
						}
						return nil, fmt.Errorf("ConfigMap %s has no key %s", name, key)
					}
				}
				return nil, fmt.Errorf("ConfigMap %s is not in %s", name, relDeploy(k.dir))
			},
		})
	}
	return units
}

// kustomizeRefs lists the paths a kustomization reads, relative to it.
func kustomizeRefs(k kustomization) []string {
	refs := append(strs(k.spec, "resources"), strs(k.spec, "components")...)
	for _, p := range list(k.spec, "patches") {
		pm, _ := p.(obj)
		refs = append(refs, str(pm, "path"))
	}
	for _, g := range list(k.spec, "configMapGenerator") {
		gm, _ := g.(obj)
		for _, f := range strs(gm, "files") {
			_, p, ok := strings.Cut(f, "=")
			if !ok {
				p = f
			}
			refs = append(refs, p)
		}
	}
	return refs
}

// renderKustomization builds the objects a kustomization applies, keeping
// the names as written (kustomize adds a hash to generated ConfigMaps and
// rewrites the references; the test matches the unhashed names).
func renderKustomization(dir string) ([]obj, error) {
	docs, err := readYAMLDocs(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	k := docs[0]
	for key := range k {
		if !kustomizeKeys[key] {
			return nil, fmt.Errorf("kustomization uses %q, which this test does not render: teach renderKustomization", key)
		}
	}
	var objects []obj
	for _, r := range append(strs(k, "resources"), strs(k, "components")...) {
		p := filepath.Join(dir, r)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		var got []obj
		if fi.IsDir() {
			got, err = renderKustomization(p)
		} else {
			got, err = readYAMLDocs(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r, err)
		}
		objects = append(objects, got...)
	}
	for _, g := range list(k, "configMapGenerator") {
		gm, _ := g.(obj)
		data := obj{}
		for _, f := range strs(gm, "files") {
			key, p, ok := strings.Cut(f, "=")
			if !ok {
				key, p = filepath.Base(f), f
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				return nil, fmt.Errorf("configMapGenerator %s: %w", str(gm, "name"), err)
			}
			data[key] = string(b)
		}
		for _, l := range strs(gm, "literals") {
			key, v, _ := strings.Cut(l, "=")
			data[key] = v
		}
		objects = append(objects, obj{"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj{"name": str(gm, "name")}, "data": data})
	}
	for _, p := range list(k, "patches") {
		pm, _ := p.(obj)
		if pm["target"] != nil || pm["patch"] != nil {
			return nil, errors.New("patches: only `path:` strategic-merge patches are rendered here")
		}
		patches, err := readYAMLDocs(filepath.Join(dir, str(pm, "path")))
		if err != nil {
			return nil, err
		}
		for _, patch := range patches {
			i := slices.IndexFunc(objects, func(o obj) bool {
				return str(o, "kind") == str(patch, "kind") && str(o, "metadata", "name") == str(patch, "metadata", "name")
			})
			if i < 0 {
				return nil, fmt.Errorf("patch %s: no %s %s to patch", str(pm, "path"), str(patch, "kind"), str(patch, "metadata", "name"))
			}
			objects[i] = mergePatch(objects[i], patch).(obj)
		}
	}
	return objects, nil
}

// mergePatch applies a strategic-merge patch the way kustomize does for
// what deploy/ uses: maps merge, lists of named items merge by name, other
// values are replaced.
func mergePatch(dst, patch any) any {
	switch p := patch.(type) {
	case obj:
		d, ok := dst.(obj)
		if !ok {
			return p
		}
		out := obj{}
		for k, v := range d {
			out[k] = v
		}
		for k, v := range p {
			out[k] = mergePatch(d[k], v)
		}
		return out
	case []any:
		d, ok := dst.([]any)
		if !ok || !namedList(p) || !namedList(d) {
			return p
		}
		out := slices.Clone(d)
		for _, item := range p {
			name := str(item.(obj), "name")
			if i := slices.IndexFunc(out, func(o any) bool { return str(o.(obj), "name") == name }); i >= 0 {
				out[i] = mergePatch(out[i], item)
			} else {
				out = append(out, item)
			}
		}
		return out
	default:
		return patch
	}
}

func namedList(l []any) bool {
	for _, v := range l {
		if m, ok := v.(obj); !ok || str(m, "name") == "" {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Cloud Run: one unit per file. Cloud Run has no ConfigMaps; the config is a
// Secret Manager secret mounted as a file, whose content is kept beside the
// manifest as <secret name>.yaml.

func cloudRunUnits(t *testing.T) []unit {
	t.Helper()
	dir := filepath.Join(deployDir, "cloudrun")
	var units []unit
	for _, f := range yamlFiles(t) {
		if filepath.Dir(f) != dir {
			continue
		}
		docs, err := readYAMLDocs(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 || isChorusConfig(docs[0]) {
			continue
		}
		units = append(units, unit{
			name:    relDeploy(f),
			objects: docs,
			configFor: func(v obj, key string) ([]byte, error) {
				s := mp(v, "secret")
				if s == nil {
					return nil, fmt.Errorf("volume %s is not a Secret Manager secret", str(v, "name"))
				}
				if _, ok := itemKey(list(s, "items"), key); !ok {
					return nil, fmt.Errorf("secret volume %s has no item for %s", str(v, "name"), key)
				}
				p := filepath.Join(dir, str(s, "secretName")+".yaml")
				b, err := os.ReadFile(p)
				if err != nil {
					return nil, fmt.Errorf("secret %s: its content belongs in %s: %w", str(s, "secretName"), relDeploy(p), err)
				}
				return b, nil
			},
		})
	}
	return units
}

// ---------------------------------------------------------------------------
// 4. Grafana: every metric and label the dashboard queries is exported.

// exported describes a metric series name the binary exports.
type exported struct {
	labels map[string]bool
}

// targetLabels are added by Prometheus at scrape time, not by the binary.
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "service", "endpoint"}

func TestDeployGrafana(t *testing.T) {
	names := exportedMetrics(t)
	data, err := os.ReadFile(filepath.Join(deployDir, "grafana", "chorus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash obj
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("chorus.json: %v", err)
	}
	hasDatasourceVar := false
	var queries []struct{ where, expr string }
	for _, v := range list(dash, "templating", "list") {
		vm, _ := v.(obj)
		if str(vm, "type") == "datasource" && str(vm, "query") == "prometheus" {
			hasDatasourceVar = true
		}
		q := str(vm, "definition")
		if s, ok := vm["query"].(string); ok && str(vm, "type") == "query" {
			q = s
		} else if s := str(vm, "query", "query"); s != "" {
			q = s
		}
		if q != "" && str(vm, "type") == "query" {
			queries = append(queries, struct{ where, expr string }{"variable $" + str(vm, "name"), q})
		}
	}
	if !hasDatasourceVar {
		t.Error("no Prometheus datasource template variable")
	}
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			pm, _ := p.(obj)
			walk(list(pm, "panels"))
			if str(pm, "type") == "row" {
				continue
			}
			targets := list(pm, "targets")
			if len(targets) == 0 {
				t.Errorf("panel %q has no queries", str(pm, "title"))
			}
			for _, tg := range targets {
				tm, _ := tg.(obj)
				queries = append(queries, struct{ where, expr string }{"panel " + strconv.Quote(str(pm, "title")), str(tm, "expr")})
			}
		}
	}
	walk(list(dash, "panels"))
	if len(queries) < 20 {
		t.Fatalf("only %d queries found in chorus.json", len(queries))
	}
	for _, q := range queries {
		t.Run(q.where, func(t *testing.T) {
			for _, p := range checkQuery(q.expr, names) {
				t.Errorf("%s: %s", q.expr, p)
			}
		})
	}
}

var (
	quotedRE      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricRE      = regexp.MustCompile(`\bchorus_[A-Za-z0-9_:]+`)
	selectorRE    = regexp.MustCompile(`\b(chorus_[A-Za-z0-9_:]+)\s*\{([^}]*)\}`)
	matcherRE     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelValuesRE = regexp.MustCompile(`label_values\(\s*(chorus_[A-Za-z0-9_:]+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)`)
)

// checkQuery returns what is wrong with one PromQL expression: metrics the
// binary does not export, and labels those metrics do not have.
func checkQuery(expr string, names map[string]exported) []string {
	var problems []string
	bare := quotedRE.ReplaceAllString(expr, `""`)
	used := slices.Compact(slices.Sorted(slices.Values(metricRE.FindAllString(bare, -1))))
	for _, m := range used {
		if _, ok := names[m]; !ok {
			problems = append(problems, fmt.Sprintf("%s is not exported by chorus (worker/metrics)", m))
		}
	}
	has := func(m, label string) bool {
		e, ok := names[m]
		return !ok || e.labels[label] || slices.Contains(targetLabels, label)
	}
	for _, s := range selectorRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range matcherRE.FindAllStringSubmatch(s[2], -1) {
			if !has(s[1], l[1]) {
				problems = append(problems, fmt.Sprintf("%s has no label %q", s[1], l[1]))
			}
		}
	}
	for _, g := range groupingRE.FindAllStringSubmatch(bare, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			for _, m := range used {
				if label != "" && !has(m, label) {
					problems = append(problems, fmt.Sprintf("groups by %q, which %s does not have", label, m))
				}
			}
		}
	}
	for _, lv := range labelValuesRE.FindAllStringSubmatch(bare, -1) {
		if !has(lv[1], lv[2]) {
			problems = append(problems, fmt.Sprintf("label_values: %s has no label %q", lv[1], lv[2]))
		}
	}
	return problems
}

// recordingRegisterer remembers what is registered through it.
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
	r.Registerer.MustRegister(cs...)
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// exportedMetrics lists the series names `chorus run` exports, from its
// collectors' descriptions: Gather would miss every *Vec not yet observed.
func exportedMetrics(t *testing.T) map[string]exported {
	t.Helper()
	rec := &recordingRegisterer{Registerer: ops.NewRegistry()}
	metrics.New(rec) // as runCmd does
	out := map[string]exported{}
	for _, c := range rec.collectors {
		histogram := isHistogram(c)
		ch := make(chan *prometheus.Desc)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read %s", d)
			}
			labels := map[string]bool{}
			for _, l := range strings.Split(m[2], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels[l] = true
				}
			}
			out[m[1]] = exported{labels}
			if histogram {
				bucket := map[string]bool{"le": true}
				for l := range labels {
					bucket[l] = true
				}
				out[m[1]+"_bucket"] = exported{bucket}
				out[m[1]+"_sum"] = exported{labels}
				out[m[1]+"_count"] = exported{labels}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("metrics.New registered nothing")
	}
	return out
}

// isHistogram tells histograms from other collectors: a Vec by its type, a
// plain metric by what it writes (Histogram and Summary share a method set).
func isHistogram(c prometheus.Collector) bool {
	if _, ok := c.(*prometheus.HistogramVec); ok {
		return true
	}
	m, ok := c.(prometheus.Metric)
	if !ok {
		return false
	}
	var pb dto.Metric
	return m.Write(&pb) == nil && pb.Histogram != nil
}

// ---------------------------------------------------------------------------
// 5. Terraform: the table matches the sink's schema, the subscriptions and
// the queue dead-letter, and the IAM grants what the worker needs.

// tfModule is one Terraform root module (a directory of .tf files).
type tfModule struct {
	dir    string
	blocks []*hclsyntax.Block
	ctx    *hcl.EvalContext
}

func (m *tfModule) resources(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

func TestDeployTerraform(t *testing.T) {
	modules := loadTerraform(t)
	gcp, aws := modules["gcp"], modules["aws"]
	if gcp == nil || aws == nil {
		t.Fatalf("want deploy/terraform/gcp and deploy/terraform/aws, have %v", slices.Sorted(maps.Keys(modules)))
	}
	var pubsubConfigs, sqsConfigs []*config.Config
	for _, c := range findChorusConfigs(t) {
		if strings.HasPrefix(c.name, "examples/") {
			continue
		}
		cfg, err := config.Parse(c.data, permissiveEnv)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		switch cfg.Source.Type {
		case "pubsub":
			pubsubConfigs = append(pubsubConfigs, cfg)
		case "sqs":
			sqsConfigs = append(sqsConfigs, cfg)
		}
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"bigquery table matches bqsink", func(t *testing.T) { checkBigQueryTable(t, gcp) }},
		{"pubsub subscriptions dead-letter and back off", func(t *testing.T) { checkSubscriptions(t, gcp, pubsubConfigs) }},
		{"pubsub service agent can dead-letter", func(t *testing.T) { checkServiceAgent(t, gcp) }},
		{"sqs queue redrives to its DLQ", func(t *testing.T) { checkQueues(t, aws, sqsConfigs) }},
		{"sqs worker policy", func(t *testing.T) { checkWorkerPolicy(t, aws) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.check)
	}
}

func loadTerraform(t *testing.T) map[string]*tfModule {
	t.Helper()
	p := hclparse.NewParser()
	modules := map[string]*tfModule{}
	err := filepath.WalkDir(filepath.Join(deployDir, "terraform"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return err
		}
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return diags
		}
		dir := filepath.Dir(path)
		m := modules[filepath.Base(dir)]
		if m == nil {
			m = &tfModule{dir: dir}
			modules[filepath.Base(dir)] = m
		}
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		m.ctx = evalContext(m)
	}
	return modules
}

// evalContext gives expressions the variables' defaults, path.module, the
// locals that evaluate from those, and file().
func evalContext(m *tfModule) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for _, b := range m.blocks {
		if b.Type != "variable" || len(b.Labels) != 1 {
			continue
		}
		vars[b.Labels[0]] = cty.DynamicVal
		if a, ok := b.Body.Attributes["default"]; ok {
			if v, diags := a.Expr.Value(nil); !diags.HasErrors() {
				vars[b.Labels[0]] = v
			}
		}
	}
	dir := m.dir
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(vars),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(dir)}),
		},
		Functions: map[string]function.Function{
			"file": function.New(&function.Spec{
				Params: []function.Parameter{{Name: "path", Type: cty.String}},
				Type:   function.StaticReturnType(cty.String),
				Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
					b, err := os.ReadFile(args[0].AsString())
					if err != nil {
						return cty.NilVal, err
					}
					return cty.StringVal(string(b)), nil
				},
			}),
		},
	}
	locals := map[string]cty.Value{}
	for _, b := range m.blocks {
		if b.Type != "locals" {
			continue
		}
		for name, a := range b.Body.Attributes {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() {
				locals[name] = v
			}
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx
}

func attr(b *hclsyntax.Block, name string) hcl.Expression {
	if a, ok := b.Body.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

func block(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func tfEval(t *testing.T, ctx *hcl.EvalContext, e hcl.Expression) cty.Value {
	t.Helper()
	if e == nil {
		t.Fatal("attribute missing")
	}
	v, diags := e.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s: %v", e.Range(), diags)
	}
	return v
}

func evalStrings(t *testing.T, ctx *hcl.EvalContext, e hcl.Expression) []string {
	t.Helper()
	var out []string
	for _, v := range tfEval(t, ctx, e).AsValueSlice() {
		out = append(out, v.AsString())
	}
	return out
}

// refs lists the resources an expression refers to, as "type.name".
func refs(e hcl.Expression) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, tr := range e.Variables() {
		if len(tr) >= 2 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				out = append(out, tr.RootName()+"."+a.Name)
			}
		}
	}
	return out
}

// names evaluates a resource's name for each of its instances (for_each).
func names(t *testing.T, m *tfModule, b *hclsyntax.Block, nameAttr string) []string {
	t.Helper()
	fe := attr(b, "for_each")
	if fe == nil {
		return []string{tfEval(t, m.ctx, attr(b, nameAttr)).AsString()}
	}
	var out []string
	it := tfEval(t, m.ctx, fe).ElementIterator()
	for it.Next() {
		k, v := it.Element()
		ctx := m.ctx.NewChild()
		ctx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		out = append(out, tfEval(t, ctx, attr(b, nameAttr)).AsString())
	}
	return out
}

func checkBigQueryTable(t *testing.T, m *tfModule) {
	tables := m.resources("google_bigquery_table")
	if len(tables) != 1 {
		t.Fatalf("want one google_bigquery_table, have %d", len(tables))
	}
	tb := tables[0]
	schema, err := bigquery.SchemaFromJSON([]byte(tfEval(t, m.ctx, attr(tb, "schema")).AsString()))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	for _, p := range diffSchema("", bqsink.Schema(), schema) {
		t.Error(p)
	}
	tp := block(tb, "time_partitioning")
	if tp == nil {
		t.Fatal("no time_partitioning")
	}
	if got := tfEval(t, m.ctx, attr(tp, "type")).AsString(); got != "DAY" {
		t.Errorf("time_partitioning.type %q, want DAY", got)
	}
	if got := tfEval(t, m.ctx, attr(tp, "field")).AsString(); got != bqsink.PartitionColumn {
		t.Errorf("time_partitioning.field %q, want %q", got, bqsink.PartitionColumn)
	}
	if got := evalStrings(t, m.ctx, attr(tb, "clustering")); !slices.Equal(got, bqsink.ClusterColumns()) {
		t.Errorf("clustering %v, want %v", got, bqsink.ClusterColumns())
	}
	pk := block(block(tb, "table_constraints"), "primary_key")
	if pk == nil {
		t.Fatal("no table_constraints.primary_key: BigQuery CDC upserts need it")
	}
	if got := evalStrings(t, m.ctx, attr(pk, "columns")); !slices.Equal(got, bqsink.KeyColumns()) {
		t.Errorf("primary key %v, want %v", got, bqsink.KeyColumns())
	}
}

// diffSchema compares two BigQuery schemas by name, type, mode and nested
// fields, in order.
func diffSchema(prefix string, want, got bigquery.Schema) []string {
	var problems []string
	if len(want) != len(got) {
		problems = append(problems, fmt.Sprintf("%s: %d columns, want %d", cmp.Or(prefix, "table"), len(got), len(want)))
	}
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		p := prefix + w.Name
		if w.Name != g.Name || w.Type != g.Type || w.Required != g.Required || w.Repeated != g.Repeated {
			problems = append(problems, fmt.Sprintf("column %d: %s %s required=%v repeated=%v, want %s %s required=%v repeated=%v",
				i, prefix+g.Name, g.Type, g.Required, g.Repeated, p, w.Type, w.Required, w.Repeated))
			continue
		}
		problems = append(problems, diffSchema(p+".", w.Schema, g.Schema)...)
	}
	return problems
}

func checkSubscriptions(t *testing.T, m *tfModule, configs []*config.Config) {
	subs := m.resources("google_pubsub_subscription")
	dlqTopics := map[string]bool{}
	for _, s := range subs {
		if d := block(s, "dead_letter_policy"); d != nil {
			for _, r := range refs(attr(d, "dead_letter_topic")) {
				dlqTopics[r] = true
			}
		}
	}
	var subNames []string
	sources := 0
	for _, s := range subs {
		isDLQ := slices.ContainsFunc(refs(attr(s, "topic")), func(r string) bool { return dlqTopics[r] })
		if isDLQ {
			continue
		}
		sources++
		subNames = append(subNames, names(t, m, s, "name")...)
		d := block(s, "dead_letter_policy")
		if d == nil || attr(d, "dead_letter_topic") == nil {
			t.Errorf("subscription %s has no dead_letter_policy", s.Labels[1])
			continue
		}
		attempts, _ := tfEval(t, m.ctx, attr(d, "max_delivery_attempts")).AsBigFloat().Int64()
		for _, c := range configs {
			if int64(c.Worker.MaxDeliveryAttempts) > attempts {
				t.Errorf("max_delivery_attempts %d is below the config's worker.max_delivery_attempts %d (%s): Pub/Sub would dead-letter first, without a reason", attempts, c.Worker.MaxDeliveryAttempts, c.Source.PubSub.Subscription)
			}
		}
		r := block(s, "retry_policy")
		if r == nil || attr(r, "minimum_backoff") == nil || attr(r, "maximum_backoff") == nil {
			t.Errorf("subscription %s has no retry_policy with minimum_backoff and maximum_backoff", s.Labels[1])
		}
	}
	if sources == 0 {
		t.Fatal("no source subscription")
	}
	var topicNames []string
	for _, tp := range m.resources("google_pubsub_topic") {
		topicNames = append(topicNames, names(t, m, tp, "name")...)
	}
	for _, c := range configs {
		if !slices.Contains(subNames, c.Source.PubSub.Subscription) {
			t.Errorf("a config reads subscription %s, which Terraform does not create (%v)", c.Source.PubSub.Subscription, subNames)
		}
		if !slices.Contains(topicNames, c.Source.PubSub.DeadLetterTopic) {
			t.Errorf("a config dead-letters to %s, which Terraform does not create (%v)", c.Source.PubSub.DeadLetterTopic, topicNames)
		}
	}
}

// checkServiceAgent: dead-lettering by the subscription needs the Pub/Sub
// service agent to publish to the DLQ topic and to subscribe to the source.
func checkServiceAgent(t *testing.T, m *tfModule) {
	src := map[string]string{}
	for _, path := range mustGlob(t, filepath.Join(m.dir, "*.tf")) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src[path] = string(b)
	}
	text := func(e hcl.Expression) string {
		r := e.Range()
		return src[r.Filename][r.Start.Byte:r.End.Byte]
	}
	agentLocals := map[string]bool{}
	for _, b := range m.blocks {
		if b.Type == "locals" {
			for name, a := range b.Body.Attributes {
				if strings.Contains(text(a.Expr), "gcp-sa-pubsub") {
					agentLocals["local."+name] = true
				}
			}
		}
	}
	isAgent := func(b *hclsyntax.Block) bool {
		e := attr(b, "member")
		if e == nil {
			return false
		}
		return strings.Contains(text(e), "gcp-sa-pubsub") || slices.ContainsFunc(refs(e), func(r string) bool { return agentLocals[r] })
	}
	for _, want := range []struct{ typ, role string }{
		{"google_pubsub_topic_iam_member", "roles/pubsub.publisher"},
		{"google_pubsub_subscription_iam_member", "roles/pubsub.subscriber"},
	} {
		if !slices.ContainsFunc(m.resources(want.typ), func(b *hclsyntax.Block) bool {
			return isAgent(b) && tfEval(t, m.ctx, attr(b, "role")).AsString() == want.role
		}) {
			t.Errorf("no %s granting %s to the Pub/Sub service agent", want.typ, want.role)
		}
	}
}

func checkQueues(t *testing.T, m *tfModule, configs []*config.Config) {
	queues := m.resources("aws_sqs_queue")
	byName := map[string]*hclsyntax.Block{}
	for _, q := range queues {
		byName["aws_sqs_queue."+q.Labels[1]] = q
	}
	var jobs, dlq *hclsyntax.Block
	for _, q := range queues {
		rp := attr(q, "redrive_policy")
		if rp == nil {
			continue
		}
		jobs = q
		for _, r := range refs(rp) {
			if byName[r] != nil {
				dlq = byName[r]
			}
		}
		call, ok := rp.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
			t.Fatalf("redrive_policy: want jsonencode({...})")
		}
		oc, ok := call.Args[0].(*hclsyntax.ObjectConsExpr)
		if !ok {
			t.Fatal("redrive_policy: want jsonencode of an object")
		}
		found := false
		for _, it := range oc.Items {
			if hcl.ExprAsKeyword(it.KeyExpr) == "maxReceiveCount" {
				found = true
				n, _ := tfEval(t, m.ctx, it.ValueExpr).AsBigFloat().Int64()
				for _, c := range configs {
					if int64(c.Worker.MaxDeliveryAttempts) > n {
						t.Errorf("maxReceiveCount %d is below the config's worker.max_delivery_attempts %d", n, c.Worker.MaxDeliveryAttempts)
					}
				}
			}
		}
		if !found {
			t.Error("redrive_policy has no maxReceiveCount")
		}
	}
	if jobs == nil || dlq == nil {
		t.Fatal("no aws_sqs_queue with a redrive_policy to another aws_sqs_queue")
	}
	allow := attr(dlq, "redrive_allow_policy") != nil
	for _, b := range m.resources("aws_sqs_queue_redrive_allow_policy") {
		if slices.Contains(refs(attr(b, "queue_url")), "aws_sqs_queue."+dlq.Labels[1]) {
			allow = true
		}
	}
	if !allow {
		t.Error("the dead-letter queue has no redrive_allow_policy")
	}
	jobsName, dlqName := tfEval(t, m.ctx, attr(jobs, "name")).AsString(), tfEval(t, m.ctx, attr(dlq, "name")).AsString()
	for _, c := range configs {
		if !strings.HasSuffix(c.Source.SQS.QueueURL, "/"+jobsName) {
			t.Errorf("a config reads %s, not the queue Terraform creates (%s)", c.Source.SQS.QueueURL, jobsName)
		}
		if !strings.HasSuffix(c.Source.SQS.DeadLetterQueueURL, "/"+dlqName) {
			t.Errorf("a config dead-letters to %s, not the queue Terraform creates (%s)", c.Source.SQS.DeadLetterQueueURL, dlqName)
		}
	}
}

// checkWorkerPolicy: what sources/awssqs calls. SQS authorises the batch
// calls with the single-message actions.
func checkWorkerPolicy(t *testing.T, m *tfModule) {
	var doc *hclsyntax.Block
	for _, b := range m.resources("aws_iam_policy_document") {
		if b.Labels[1] == "worker" {
			doc = b
		}
	}
	if doc == nil {
		t.Fatal(`no data "aws_iam_policy_document" "worker"`)
	}
	granted := map[string][]string{} // action → resources it is granted on
	for _, st := range doc.Body.Blocks {
		if st.Type != "statement" {
			continue
		}
		for _, a := range evalStrings(t, m.ctx, attr(st, "actions")) {
			granted[a] = append(granted[a], refs(attr(st, "resources"))...)
		}
	}
	var jobs, dlq string
	for _, q := range m.resources("aws_sqs_queue") {
		if rp := attr(q, "redrive_policy"); rp != nil {
			jobs = "aws_sqs_queue." + q.Labels[1]
			for _, r := range refs(rp) {
				if strings.HasPrefix(r, "aws_sqs_queue.") {
					dlq = r
				}
			}
		}
	}
	for _, want := range []struct{ action, on string }{
		{"sqs:ReceiveMessage", jobs}, {"sqs:DeleteMessage", jobs}, {"sqs:ChangeMessageVisibility", jobs},
		{"sqs:GetQueueAttributes", jobs}, {"sqs:SendMessage", dlq},
	} {
		if !slices.Contains(granted[want.action], want.on) {
			t.Errorf("the worker policy does not grant %s on %s (has %v)", want.action, want.on, granted)
		}
	}
}

// ---------------------------------------------------------------------------
// Helpers.

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(deployDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func relDeploy(p string) string {
	r, err := filepath.Rel(deployDir, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// readYAMLDocs decodes every document of a YAML stream.
func readYAMLDocs(path string) ([]obj, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []obj
	for {
		var d obj
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func get(m obj, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(obj)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func str(m obj, keys ...string) string {
	switch v := get(m, keys...).(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func mp(m obj, keys ...string) obj {
	v, _ := get(m, keys...).(obj)
	return v
}

func list(m obj, keys ...string) []any {
	v, _ := get(m, keys...).([]any)
	return v
}

func strs(m obj, keys ...string) []string {
	var out []string
	for _, v := range list(m, keys...) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func num(m obj, keys ...string) (int, bool) {
	v, ok := get(m, keys...).(int)
	return v, ok
}

func boolean(m obj, keys ...string) bool {
	v, _ := get(m, keys...).(bool)
	return v
}
