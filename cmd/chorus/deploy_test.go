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
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
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
	// Every subscription or queue the worker reads, live and backfill, has
	// a trigger, so that a backlog on either wakes the workers from zero.
	srcs := configSources(cfg)
	covered := map[string]bool{}
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
			sub := str(md, "subscriptionName")
			i := slices.IndexFunc(srcs, func(s namedSource) bool {
				ps := s.src.PubSub
				return s.src.Type == "pubsub" && (sub == ps.Subscription || sub == "projects/"+ps.Project+"/subscriptions/"+ps.Subscription)
			})
			if i < 0 {
				t.Errorf("gcp-pubsub subscriptionName %q is neither the config's source nor its backfill_source subscription (%v)", sub, srcs)
			} else {
				covered[srcs[i].field] = true
			}
			for _, k := range []string{"mode", "value", "activationValue"} {
				if str(md, k) == "" {
					t.Errorf("gcp-pubsub metadata.%s is not set", k)
				}
			}
		case "aws-sqs-queue":
			got := str(md, "queueURL")
			i := slices.IndexFunc(srcs, func(s namedSource) bool { return s.src.Type == "sqs" && s.src.SQS.QueueURL == got })
			if i < 0 {
				t.Errorf("aws-sqs-queue queueURL %q is neither the config's source nor its backfill_source queue_url (%v)", got, srcs)
			} else {
				covered[srcs[i].field] = true
				if r := str(md, "awsRegion"); r != srcs[i].src.SQS.Region {
					t.Errorf("awsRegion %q is not the config's %s region %q", r, srcs[i].field, srcs[i].src.SQS.Region)
				}
			}
			for _, k := range []string{"queueLength", "activationQueueLength"} {
				if str(md, k) == "" {
					t.Errorf("aws-sqs-queue metadata.%s is not set", k)
				}
			}
		default:
			t.Errorf("trigger type %q: expected gcp-pubsub or aws-sqs-queue", typ)
		}
		for _, k := range []string{"activationValue", "activationQueueLength"} {
			if v := str(md, k); v != "" && v != "0" {
				t.Errorf("metadata.%s %s: with minReplicaCount 0, a smaller backlog would wait in the broker with no worker", k, v)
			}
		}
	}
	for _, s := range srcs {
		if (s.src.Type == "pubsub" || s.src.Type == "sqs") && !covered[s.field] {
			t.Errorf("no trigger scales on the config's %s (%s): its backlog alone would not wake a worker", s.field, s.String())
		}
	}
}

// namedSource is one source a worker reads: source or backfill_source.
type namedSource struct {
	field string
	src   config.Source
}

func (s namedSource) String() string {
	switch s.src.Type {
	case "pubsub":
		return s.src.PubSub.Subscription
	case "sqs":
		return s.src.SQS.QueueURL
	}
	return s.src.Type
}

// configSources lists what cfg reads: its source, and its backfill_source
// when it has one.
func configSources(cfg *config.Config) []namedSource {
	out := []namedSource{{"source", cfg.Source}}
	if cfg.BackfillSource.Type != "" {
		out = append(out, namedSource{"backfill_source", cfg.BackfillSource})
	}
	return out
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
// the queues dead-letter, the live and backfill lanes the configs read are
// the ones Terraform creates, and the IAM grants what the worker and the
// backfill identity need.

// tfModule is one Terraform root module (a directory of .tf files).
type tfModule struct {
	dir    string
	blocks []*hclsyntax.Block
	ctx    *hcl.EvalContext // variables' defaults, path, locals, functions
	insts  []tfInstance     // every resource and data instance, evaluated
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
	if !slices.ContainsFunc(pubsubConfigs, func(c *config.Config) bool { return c.BackfillSource.Type == "pubsub" }) ||
		!slices.ContainsFunc(sqsConfigs, func(c *config.Config) bool { return c.BackfillSource.Type == "sqs" }) {
		t.Error("no Pub/Sub or no SQS config under deploy/ reads a backfill_source: the backfill lane is not deployed")
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"bigquery table matches bqsink", func(t *testing.T) { checkBigQueryTable(t, gcp) }},
		{"pubsub subscriptions dead-letter and back off", func(t *testing.T) { checkSubscriptions(t, gcp, pubsubConfigs) }},
		{"pubsub service agent can dead-letter", func(t *testing.T) { checkServiceAgent(t, gcp) }},
		{"pubsub live and backfill lanes", func(t *testing.T) { checkPubSubLanes(t, gcp, pubsubConfigs) }},
		{"sqs queues redrive to their DLQ", func(t *testing.T) { checkQueues(t, aws, sqsConfigs) }},
		{"sqs worker policy", func(t *testing.T) { checkWorkerPolicy(t, aws, sqsConfigs) }},
		{"sqs backfill policy", func(t *testing.T) { checkBackfillPolicy(t, aws, sqsConfigs) }},
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
		m.evalResources()
	}
	return modules
}

// evalContext gives expressions the variables' defaults, path.module, the
// locals that evaluate from those, file() and the few other functions the
// modules call.
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
			"jsonencode": stdlib.JSONEncodeFunc,
			"concat":     stdlib.ConcatFunc,
			"element":    stdlib.ElementFunc,
			"split":      stdlib.SplitFunc,
			"toset":      stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
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

// tfInstance is one instance of a resource or data block (one per for_each
// key or count index), with the attributes that evaluate from the
// variables' defaults, the locals and other instances. What the provider
// computes (id, arn, url, member, ...) is a marker string naming the
// instance, "ADDR.ATTR", so that a reference resolves to the instance it
// names: aws_sqs_queue.jobs.arn evaluates to "aws_sqs_queue.jobs.arn".
type tfInstance struct {
	addr  string // aws_sqs_queue.jobs, google_pubsub_topic.stream["backfill"]
	block *hclsyntax.Block
	ctx   *hcl.EvalContext // the module's, with each or count, and the instances
	attrs map[string]cty.Value
}

// computedAttrs get a marker when the block does not set them.
var computedAttrs = []string{"id", "arn", "url", "name", "member", "email", "json", "number"}

// evalResources expands and evaluates every resource and data block. A few
// passes resolve references between instances (topic → subscription → IAM
// member; queue → policy document → policy).
func (m *tfModule) evalResources() {
	var insts []tfInstance
	for range 4 {
		ctx := m.instanceContext(insts)
		insts = nil
		for _, b := range m.blocks {
			if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
				insts = append(insts, expandInstances(ctx, b)...)
			}
		}
	}
	m.insts = insts
}

// instanceContext is m.ctx with every instance in insts as a reference
// (TYPE.NAME, TYPE.NAME[KEY], data.TYPE.NAME), and the locals evaluated
// again with them.
func (m *tfModule) instanceContext(insts []tfInstance) *hcl.EvalContext {
	type key struct{ mode, typ, name string }
	values := map[key]map[string]cty.Value{} // block → instance suffix → instance
	shape := map[key]string{}                // "", "for_each" or "count"
	for _, b := range m.blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
			k := key{b.Type, b.Labels[0], b.Labels[1]}
			values[k] = map[string]cty.Value{}
			switch {
			case attr(b, "for_each") != nil:
				shape[k] = "for_each"
			case attr(b, "count") != nil:
				shape[k] = "count"
			}
		}
	}
	for _, in := range insts {
		k := key{in.block.Type, in.block.Labels[0], in.block.Labels[1]}
		values[k][instanceKey(in.addr)] = cty.ObjectVal(in.attrs)
	}
	resources := map[string]map[string]cty.Value{} // type → name → value
	data := map[string]map[string]cty.Value{}
	for k, vs := range values {
		var v cty.Value
		switch shape[k] {
		case "for_each":
			v = cty.ObjectVal(vs)
		case "count":
			var list []cty.Value
			for i := range len(vs) {
				if iv, ok := vs[strconv.Itoa(i)]; ok {
					list = append(list, iv)
				}
			}
			v = cty.EmptyTupleVal
			if len(list) > 0 {
				v = cty.TupleVal(list)
			}
		default:
			var ok bool
			if v, ok = vs[""]; !ok {
				continue // did not evaluate
			}
		}
		into := resources
		if k.mode == "data" {
			into = data
		}
		if into[k.typ] == nil {
			into[k.typ] = map[string]cty.Value{}
		}
		into[k.typ][k.name] = v
	}
	ctx := &hcl.EvalContext{Variables: maps.Clone(m.ctx.Variables), Functions: m.ctx.Functions}
	for typ, byName := range resources {
		ctx.Variables[typ] = cty.ObjectVal(byName)
	}
	dataVals := map[string]cty.Value{}
	for typ, byName := range data {
		dataVals[typ] = cty.ObjectVal(byName)
	}
	ctx.Variables["data"] = cty.ObjectVal(dataVals)
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

// instanceKey is the for_each key or count index of an address, "" for
// none.
func instanceKey(addr string) string {
	i := strings.Index(addr, "[")
	if i < 0 {
		return ""
	}
	k := strings.TrimSuffix(addr[i+1:], "]")
	if u, err := strconv.Unquote(k); err == nil {
		return u
	}
	return k
}

// expandInstances evaluates block b once per instance in ctx. A block whose
// for_each or count does not evaluate has no instances.
func expandInstances(ctx *hcl.EvalContext, b *hclsyntax.Block) []tfInstance {
	addr := b.Labels[0] + "." + b.Labels[1]
	if b.Type == "data" {
		addr = "data." + addr
	}
	type each struct {
		suffix string
		vars   map[string]cty.Value
	}
	var eachs []each
	switch {
	case attr(b, "for_each") != nil:
		v, diags := attr(b, "for_each").Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || !v.CanIterateElements() {
			return nil
		}
		set := v.Type().IsSetType()
		for it := v.ElementIterator(); it.Next(); {
			k, val := it.Element()
			if set {
				k = val
			}
			if k.Type() != cty.String {
				return nil
			}
			eachs = append(eachs, each{fmt.Sprintf("[%q]", k.AsString()),
				map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}})
		}
	case attr(b, "count") != nil:
		v, diags := attr(b, "count").Value(ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
			return nil
		}
		n, _ := v.AsBigFloat().Int64()
		for i := range n {
			eachs = append(eachs, each{fmt.Sprintf("[%d]", i),
				map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})}})
		}
	default:
		eachs = []each{{}}
	}
	var out []tfInstance
	for _, e := range eachs {
		ictx := ctx
		if e.vars != nil {
			ictx = ctx.NewChild()
			ictx.Variables = e.vars
		}
		in := tfInstance{addr: addr + e.suffix, block: b, ctx: ictx, attrs: map[string]cty.Value{}}
		for name, a := range b.Body.Attributes {
			if name == "for_each" || name == "count" {
				continue
			}
			if v, diags := a.Expr.Value(ictx); !diags.HasErrors() && v.IsWhollyKnown() {
				in.attrs[name] = v
			}
		}
		for _, c := range computedAttrs {
			if _, ok := in.attrs[c]; !ok {
				in.attrs[c] = cty.StringVal(in.addr + "." + c)
			}
		}
		out = append(out, in)
	}
	return out
}

// instances returns the instances of resources (or data sources) of typ.
func (m *tfModule) instances(typ string) []tfInstance {
	var out []tfInstance
	for _, in := range m.insts {
		if in.block.Labels[0] == typ {
			out = append(out, in)
		}
	}
	return out
}

// s returns a string attribute ("" when unset or not a string).
func (in tfInstance) s(name string) string {
	v, ok := in.attrs[name]
	if !ok || v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// nested evaluates an attribute of a nested block ("dead_letter_policy",
// "max_delivery_attempts") in the instance's context, as text; ok is false
// when the block or attribute is absent or does not evaluate.
func (in tfInstance) nested(blockType, name string) (string, bool) {
	b := in.block
	if blockType != "" {
		if b = block(in.block, blockType); b == nil {
			return "", false
		}
	}
	e := attr(b, name)
	if e == nil {
		return "", false
	}
	v, diags := e.Value(in.ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return "", false
	}
	return ctyText(v), true
}

// ctyText writes a known value as text: strings as they are, numbers in
// decimal, anything else as JSON.
func ctyText(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		return strconv.FormatBool(v.True())
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return v.GoString()
	}
	return string(b)
}

// settings evaluates the named attributes ("x" or "block.x") of an
// instance, for comparing two instances that should agree.
func (in tfInstance) settings(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		blk, a, ok := strings.Cut(n, ".")
		if !ok {
			blk, a = "", n
		}
		if v, ok := in.nested(blk, a); ok {
			out[n] = v
		} else {
			out[n] = "(unset)"
		}
	}
	return out
}

// diffSettings names what differs between two settings maps.
func diffSettings(a, b map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if a[k] != b[k] {
			out = append(out, fmt.Sprintf("%s %s vs %s", k, a[k], b[k]))
		}
	}
	return out
}

// checkPubSubLanes: each config's live and backfill subscriptions are two
// subscriptions on two topics with the same delivery settings and the same
// grants; the worker may read both, the backfill identity may publish to
// the backfill topic (and, by default, only there); every source
// subscription Terraform creates is read by some config.
func checkPubSubLanes(t *testing.T, m *tfModule, configs []*config.Config) {
	subs := map[string]tfInstance{} // subscription name → instance
	for _, in := range m.instances("google_pubsub_subscription") {
		subs[in.s("name")] = in
	}
	topicName := map[string]string{} // id marker or name → topic name
	for _, in := range m.instances("google_pubsub_topic") {
		topicName[in.s("id")], topicName[in.s("name")] = in.s("name"), in.s("name")
	}
	grants := func(typ, on, role string) []string { // members granted role on the named topic or subscription
		var out []string
		for _, in := range m.instances(typ) {
			target := in.s("subscription")
			if typ == "google_pubsub_topic_iam_member" {
				target = topicName[in.s("topic")]
			}
			if target == on && in.s("role") == role {
				out = append(out, in.s("member"))
			}
		}
		return out
	}
	const workerSA, backfillSA = "google_service_account.worker.member", "google_service_account.backfill.member"
	same := []string{
		"ack_deadline_seconds", "message_retention_duration", "enable_exactly_once_delivery", "enable_message_ordering",
		"expiration_policy.ttl", "dead_letter_policy.dead_letter_topic", "dead_letter_policy.max_delivery_attempts",
		"retry_policy.minimum_backoff", "retry_policy.maximum_backoff",
	}
	read := map[string]bool{}
	liveTopics, backfillTopics := map[string]bool{}, map[string]bool{}
	for _, c := range configs {
		var live tfInstance
		for _, s := range configSources(c) {
			name := s.src.PubSub.Subscription
			read[name] = true
			in, ok := subs[name]
			if !ok {
				continue // checkSubscriptions says so
			}
			topic := topicName[in.s("topic")]
			if topic == "" {
				t.Errorf("subscription %s: its topic %q is not a google_pubsub_topic here", name, in.s("topic"))
			}
			members := grants("google_pubsub_subscription_iam_member", name, "roles/pubsub.subscriber")
			if !slices.Contains(members, workerSA) {
				t.Errorf("the worker service account cannot read %s's subscription %s (subscribers: %v)", s.field, name, members)
			}
			if !slices.ContainsFunc(members, func(mb string) bool { return strings.Contains(mb, "gcp-sa-pubsub") }) {
				t.Errorf("the Pub/Sub service agent is not a subscriber on %s: it could not dead-letter from it", name)
			}
			if s.field == "source" {
				live = in
				liveTopics[topic] = true
				continue
			}
			backfillTopics[topic] = true
			if live.block == nil {
				continue
			}
			if name == live.s("name") || topic == topicName[live.s("topic")] {
				t.Errorf("backfill_source %s reads the live subscription or topic (%s): a backlog would queue in front of live feedback at the broker", name, live.s("name"))
			}
			if d := diffSettings(live.settings(same...), in.settings(same...)); len(d) > 0 {
				t.Errorf("live subscription %s and backfill subscription %s differ: %v", live.s("name"), name, d)
			}
		}
	}
	for topic := range backfillTopics {
		if members := grants("google_pubsub_topic_iam_member", topic, "roles/pubsub.publisher"); !slices.Contains(members, backfillSA) {
			t.Errorf("the backfill service account cannot publish to the backfill topic %s (publishers: %v)", topic, members)
		}
	}
	for topic := range liveTopics {
		if backfillTopics[topic] {
			continue
		}
		if members := grants("google_pubsub_topic_iam_member", topic, "roles/pubsub.publisher"); slices.Contains(members, backfillSA) {
			t.Errorf("with the defaults, the backfill service account may publish to the live topic %s: backfills belong on the backfill topic (backfill_publish_to_jobs opts in)", topic)
		}
	}
	for name, in := range subs {
		if block(in.block, "dead_letter_policy") != nil && !read[name] {
			t.Errorf("Terraform creates subscription %s, which no config under deploy/ reads as source or backfill_source", name)
		}
	}
}

// sqsQueue is a queue with a redrive policy, and its dead-letter queue.
type sqsQueue struct {
	in, dlq         tfInstance
	maxReceiveCount int64
}

// sourceQueues returns the queues with a redrive policy, by name.
func sourceQueues(t *testing.T, m *tfModule) map[string]sqsQueue {
	t.Helper()
	byArn := map[string]tfInstance{}
	for _, in := range m.instances("aws_sqs_queue") {
		byArn[in.s("arn")] = in
	}
	out := map[string]sqsQueue{}
	for _, in := range m.instances("aws_sqs_queue") {
		if attr(in.block, "redrive_policy") == nil {
			continue
		}
		var rp struct {
			DeadLetterTargetArn string
			MaxReceiveCount     json.Number
		}
		if err := json.Unmarshal([]byte(in.s("redrive_policy")), &rp); err != nil {
			t.Errorf("%s: redrive_policy does not evaluate to JSON (want jsonencode({...})): %v", in.addr, err)
			continue
		}
		dlq, ok := byArn[rp.DeadLetterTargetArn]
		if !ok {
			t.Errorf("%s: redrive_policy's deadLetterTargetArn %q is not an aws_sqs_queue here", in.addr, rp.DeadLetterTargetArn)
			continue
		}
		n, err := rp.MaxReceiveCount.Int64()
		if err != nil {
			t.Errorf("%s: redrive_policy has no whole maxReceiveCount (%q)", in.addr, rp.MaxReceiveCount)
		}
		out[in.s("name")] = sqsQueue{in: in, dlq: dlq, maxReceiveCount: n}
	}
	return out
}

// queueName is the last path element of a queue URL.
func queueName(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// checkQueues: every queue a config reads (source and backfill_source) has
// a redrive policy to the dead-letter queue the config names, with a
// maxReceiveCount at or above the worker's attempts; the dead-letter queue
// admits it (redrive_allow_policy) and keeps messages longer than it does;
// a config's live and backfill queues are two queues with the same
// settings; every source queue Terraform creates is read by some config.
func checkQueues(t *testing.T, m *tfModule, configs []*config.Config) {
	queues := sourceQueues(t, m)
	if len(queues) == 0 {
		t.Fatal("no aws_sqs_queue with a redrive_policy to another aws_sqs_queue")
	}
	allowed := map[string][]string{} // DLQ id or arn marker → source queue arns it admits ("*": all)
	parseAllow := func(dlqID, policy string) {
		var p struct {
			RedrivePermission string
			SourceQueueArns   []string
		}
		if err := json.Unmarshal([]byte(policy), &p); err != nil {
			t.Errorf("redrive_allow_policy of %s is not JSON: %v", dlqID, err)
			return
		}
		if p.RedrivePermission == "allowAll" {
			p.SourceQueueArns = append(p.SourceQueueArns, "*")
		}
		allowed[dlqID] = append(allowed[dlqID], p.SourceQueueArns...)
	}
	for _, in := range m.instances("aws_sqs_queue") {
		if attr(in.block, "redrive_allow_policy") != nil {
			parseAllow(in.s("id"), in.s("redrive_allow_policy"))
		}
	}
	for _, in := range m.instances("aws_sqs_queue_redrive_allow_policy") {
		parseAllow(in.s("queue_url"), in.s("redrive_allow_policy"))
	}
	for name, q := range queues {
		if a := allowed[q.dlq.s("id")]; !slices.Contains(a, q.in.s("arn")) && !slices.Contains(a, "*") {
			t.Errorf("the dead-letter queue %s has no redrive_allow_policy admitting %s (admits %v)", q.dlq.s("name"), name, a)
		}
		if src, dlq := retention(q.in), retention(q.dlq); dlq <= src {
			t.Errorf("the dead-letter queue %s keeps messages %ds, not longer than %s (%ds): SQS counts a dead letter's age from its first enqueue", q.dlq.s("name"), dlq, name, src)
		}
	}
	same := []string{"visibility_timeout_seconds", "message_retention_seconds", "receive_wait_time_seconds", "sqs_managed_sse_enabled", "fifo_queue", "redrive_policy"}
	read := map[string]bool{}
	for _, c := range configs {
		var live *sqsQueue
		for _, s := range configSources(c) {
			name := queueName(s.src.SQS.QueueURL)
			read[name] = true
			q, ok := queues[name]
			if !ok {
				t.Errorf("a config's %s reads %s, not a queue with a redrive policy that Terraform creates (%v)", s.field, s.src.SQS.QueueURL, slices.Sorted(maps.Keys(queues)))
				continue
			}
			if got := queueName(s.src.SQS.DeadLetterQueueURL); got != q.dlq.s("name") {
				t.Errorf("a config's %s dead-letters to %s, but %s redrives to %s", s.field, s.src.SQS.DeadLetterQueueURL, name, q.dlq.s("name"))
			}
			if int64(c.Worker.MaxDeliveryAttempts) > q.maxReceiveCount {
				t.Errorf("%s: maxReceiveCount %d is below the config's worker.max_delivery_attempts %d: SQS would dead-letter first, without a reason", name, q.maxReceiveCount, c.Worker.MaxDeliveryAttempts)
			}
			if s.field == "source" {
				live = &q
				continue
			}
			if live == nil {
				continue
			}
			if name == live.in.s("name") {
				t.Errorf("backfill_source reads the live queue %s: a backlog would queue in front of live feedback", name)
			}
			if d := diffSettings(live.in.settings(same...), q.in.settings(same...)); len(d) > 0 {
				t.Errorf("live queue %s and backfill queue %s differ: %v", live.in.s("name"), name, d)
			}
		}
	}
	for name := range queues {
		if !read[name] {
			t.Errorf("Terraform creates queue %s, which no config under deploy/ reads as source or backfill_source", name)
		}
	}
}

// retention is a queue's message_retention_seconds, SQS's default 4 days
// when unset.
func retention(in tfInstance) int {
	if v, ok := in.nested("", "message_retention_seconds"); ok {
		n, _ := strconv.Atoi(v)
		return n
	}
	return 345600
}

// policyGrants evaluates a data "aws_iam_policy_document": action → the
// resources (arn markers) its statements grant it on.
func policyGrants(t *testing.T, m *tfModule, name string) map[string][]string {
	t.Helper()
	var doc *tfInstance
	for _, in := range m.instances("aws_iam_policy_document") {
		if in.block.Type == "data" && in.block.Labels[1] == name {
			doc = &in
		}
	}
	if doc == nil {
		t.Fatalf(`no data "aws_iam_policy_document" %q`, name)
	}
	granted := map[string][]string{}
	for _, st := range doc.block.Body.Blocks {
		if st.Type != "statement" {
			continue
		}
		if e := attr(st, "effect"); e != nil && tfEval(t, doc.ctx, e).AsString() != "Allow" {
			continue
		}
		resources := evalStrings(t, doc.ctx, attr(st, "resources"))
		for _, a := range evalStrings(t, doc.ctx, attr(st, "actions")) {
			granted[a] = append(granted[a], resources...)
		}
	}
	return granted
}

// checkWorkerPolicy: what sources/awssqs calls, on every queue a config
// reads and its dead-letter queue. SQS authorises the batch calls with the
// single-message actions.
func checkWorkerPolicy(t *testing.T, m *tfModule, configs []*config.Config) {
	granted := policyGrants(t, m, "worker")
	queues := sourceQueues(t, m)
	for _, c := range configs {
		for _, s := range configSources(c) {
			q, ok := queues[queueName(s.src.SQS.QueueURL)]
			if !ok {
				continue // checkQueues says so
			}
			for _, want := range []struct{ action, on string }{
				{"sqs:ReceiveMessage", q.in.s("arn")}, {"sqs:DeleteMessage", q.in.s("arn")},
				{"sqs:ChangeMessageVisibility", q.in.s("arn")}, {"sqs:GetQueueAttributes", q.in.s("arn")},
				{"sqs:SendMessage", q.dlq.s("arn")},
			} {
				if !slices.Contains(granted[want.action], want.on) {
					t.Errorf("the worker policy does not grant %s on %s (%s; has %v)", want.action, want.on, s.field, granted)
				}
			}
		}
	}
}

// checkBackfillPolicy: `chorus backfill` may send to every backfill queue
// a config reads and, with the defaults, to no live queue.
func checkBackfillPolicy(t *testing.T, m *tfModule, configs []*config.Config) {
	granted := policyGrants(t, m, "backfill")
	queues := sourceQueues(t, m)
	backfill := map[string]bool{}
	for _, c := range configs {
		if c.BackfillSource.Type != "sqs" {
			continue
		}
		q, ok := queues[queueName(c.BackfillSource.SQS.QueueURL)]
		if !ok {
			continue
		}
		backfill[q.in.s("arn")] = true
		if !slices.Contains(granted["sqs:SendMessage"], q.in.s("arn")) {
			t.Errorf("the backfill policy does not grant sqs:SendMessage on the backfill queue %s (has %v)", q.in.s("name"), granted)
		}
	}
	for _, c := range configs {
		q, ok := queues[queueName(c.Source.SQS.QueueURL)]
		if ok && !backfill[q.in.s("arn")] && slices.Contains(granted["sqs:SendMessage"], q.in.s("arn")) {
			t.Errorf("with the defaults, the backfill policy may send to the live queue %s: backfills belong on the backfill queue (backfill_publish_to_jobs opts in)", q.in.s("name"))
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
