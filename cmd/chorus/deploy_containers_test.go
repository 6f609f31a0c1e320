package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusml/chorus/worker/config"
)

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
