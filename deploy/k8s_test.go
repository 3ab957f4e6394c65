package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// k8sObject is one Kubernetes object and the file it came from.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return str(o.doc, "kind") }
func (o k8sObject) name() string { return str(o.doc, "metadata", "name") }

// k8sObjects reads every object under k8s/ (kustomization.yaml and Helm values files are not objects).
func k8sObjects(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("k8s/*/*.yaml")
	var out []k8sObject
	for _, f := range append(files, more...) {
		if filepath.Base(f) == "kustomization.yaml" || strings.HasSuffix(f, "-values.yaml") {
			continue
		}
		for _, d := range readYAML(t, f) {
			out = append(out, k8sObject{file: f, doc: d})
		}
	}
	return out
}

// one returns the single object of kind.
func one(t *testing.T, objs []k8sObject, kind string) k8sObject {
	t.Helper()
	var found []k8sObject
	for _, o := range objs {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s under k8s/, found %d", kind, len(found))
	}
	return found[0]
}

// subset reports whether every key of sel has the same value in labels (a selector matches the labels).
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Every object has apiVersion, kind and a name; the kustomization lists exactly the top-level objects.
func TestK8sObjects(t *testing.T) {
	objs := k8sObjects(t)
	topLevel := map[string]bool{}
	for _, o := range objs {
		if str(o.doc, "apiVersion") == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: object without apiVersion, kind or metadata.name", o.file)
		}
		if filepath.Dir(o.file) == "k8s" {
			topLevel[filepath.Base(o.file)] = true
		}
	}
	k := readYAML(t, "k8s/kustomization.yaml")[0]
	res := stringList(t, "kustomization resources", get(k, "resources"))
	slices.Sort(res)
	want := slices.Sorted(maps.Keys(topLevel))
	if !slices.Equal(res, want) {
		t.Errorf("kustomization resources %v, want the top-level files %v", res, want)
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "PodMonitor"} {
		one(t, objs, kind)
	}
}

// The Deployment: the command line and ConfigMap the binary accepts, probes on the real endpoints at the
// container port, a non-root read-only container, resources, and a grace period that covers the drain.
func TestK8sDeployment(t *testing.T) {
	objs := k8sObjects(t)
	dep := one(t, objs, "Deployment").doc
	cm := one(t, objs, "ConfigMap")
	config := stringMap(get(cm.doc, "data"))
	tmplLabels := stringMap(get(dep, "spec", "template", "metadata", "labels"))
	if sel := stringMap(get(dep, "spec", "selector", "matchLabels")); !subset(sel, tmplLabels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", sel, tmplLabels)
	}
	pod := get(dep, "spec", "template", "spec")
	containers := list(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]

	args := stringList(t, "container args", get(c, "args"))
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("container args %v, want serve", args)
	}
	if str(c, "envFrom", 0, "configMapRef", "name") != cm.name() {
		t.Errorf("container envFrom %v, want the ConfigMap %s", get(c, "envFrom"), cm.name())
	}
	env := maps.Clone(config)
	for _, e := range list(c, "env") {
		if v := str(e, "value"); v != "" {
			env[str(e, "name")] = v
		}
	}
	checkCommand(t, "Deployment + ConfigMap", args, env, nil)

	// Ports and probes.
	ports := map[string]int{}
	for _, p := range list(c, "ports") {
		ports[str(p, "name")], _ = get(p, "containerPort").(int)
	}
	_, listenPort, err := net.SplitHostPort(config["DEPTHCAST_LISTEN"])
	if err != nil {
		t.Fatalf("ConfigMap DEPTHCAST_LISTEN %q: %v", config["DEPTHCAST_LISTEN"], err)
	}
	if !strings.HasPrefix(config["DEPTHCAST_LISTEN"], "0.0.0.0:") && !strings.HasPrefix(config["DEPTHCAST_LISTEN"], ":") {
		t.Errorf("DEPTHCAST_LISTEN %q: a pod must listen on all interfaces", config["DEPTHCAST_LISTEN"])
	}
	if strconv.Itoa(ports["http"]) != listenPort {
		t.Errorf("container port http %d, but the node listens on %s", ports["http"], listenPort)
	}
	node := realNode(t)
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": ""} {
		g := get(c, probe, "httpGet")
		if g == nil {
			if path != "" {
				t.Errorf("%s: want an httpGet probe on %s", probe, path)
			}
			continue
		}
		p := str(g, "path")
		if path != "" && p != path {
			t.Errorf("%s probes %s, want %s", probe, p, path)
		}
		if node.status[p] != 200 {
			t.Errorf("%s probes %s, which a real node did not answer with 200 (got %d)", probe, p, node.status[p])
		}
		port := fmt.Sprint(get(g, "port"))
		if n, ok := ports[port]; !(ok && n > 0) && port != listenPort {
			t.Errorf("%s probes port %s, which is not the container's port", probe, port)
		}
	}

	// Security: non-root as the image's user, read-only root, no privilege escalation, no capabilities.
	final, _ := dockerfile(t)
	imageUID, _, _ := strings.Cut(final.user, ":")
	for _, sc := range []any{get(pod, "securityContext"), get(c, "securityContext")} {
		if get(sc, "runAsNonRoot") != true {
			t.Errorf("securityContext %v: want runAsNonRoot: true", sc)
		}
	}
	if uid := fmt.Sprint(get(pod, "securityContext", "runAsUser")); uid == "0" || uid != imageUID {
		t.Errorf("runAsUser %s, want the image's non-root user %s", uid, imageUID)
	}
	csc := get(c, "securityContext")
	if get(csc, "readOnlyRootFilesystem") != true || get(csc, "allowPrivilegeEscalation") != false ||
		!slices.Contains(stringList(t, "capabilities.drop", get(csc, "capabilities", "drop")), "ALL") {
		t.Errorf("container securityContext %v: want a read-only root, no privilege escalation, capabilities dropped", csc)
	}

	// Resources, and the Go memory limit under the pod's.
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		a, b, _ := strings.Cut(r, ".")
		if get(c, "resources", a, b) == nil {
			t.Errorf("resources.%s is not set", r)
		}
	}
	if limit, goLimit := quantity(t, str(c, "resources", "limits", "memory")), quantity(t, env["GOMEMLIMIT"]); goLimit <= 0 || goLimit >= limit {
		t.Errorf("GOMEMLIMIT %q: want it set below the memory limit %s", env["GOMEMLIMIT"], str(c, "resources", "limits", "memory"))
	}

	// The drain: preStop (no shell in the image: the sleep action), then SIGTERM and the shutdown timeout.
	pre := get(c, "lifecycle", "preStop")
	if get(pre, "exec") != nil {
		t.Error("preStop exec: the image has no shell or sleep binary; use the sleep action")
	}
	preSleep, _ := get(pre, "sleep", "seconds").(int)
	shutdown, err := time.ParseDuration(config["DEPTHCAST_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("DEPTHCAST_SHUTDOWN_TIMEOUT %q: %v", config["DEPTHCAST_SHUTDOWN_TIMEOUT"], err)
	}
	grace, _ := get(pod, "terminationGracePeriodSeconds").(int)
	need := time.Duration(preSleep)*time.Second + shutdown
	if preSleep <= 0 || time.Duration(grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d: want more than preStop sleep %d s + shutdown timeout %v", grace, preSleep, shutdown)
	}
	if node.stopped > shutdown {
		t.Errorf("a real node took %v to stop after SIGTERM, more than the %v budget", node.stopped, shutdown)
	}
}

// quantity parses the memory sizes used here: Kubernetes' Ki, Mi, Gi, Go's KiB, MiB, GiB (GOMEMLIMIT), or
// plain bytes.
func quantity(t *testing.T, q string) int64 {
	t.Helper()
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"B", 1}} {
		if s, ok := strings.CutSuffix(q, u.suffix); ok {
			q, mult = s, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		t.Errorf("quantity %q: %v", q, err)
	}
	return n * mult
}

// The Service, the PodDisruptionBudget and the PodMonitor select the Deployment's pods, on its port.
func TestK8sSelectors(t *testing.T) {
	objs := k8sObjects(t)
	dep := one(t, objs, "Deployment").doc
	labels := stringMap(get(dep, "spec", "template", "metadata", "labels"))
	var portNames []string
	for _, p := range list(dep, "spec", "template", "spec", "containers", 0, "ports") {
		portNames = append(portNames, str(p, "name"), fmt.Sprint(get(p, "containerPort")))
	}

	svc := one(t, objs, "Service").doc
	if sel := stringMap(get(svc, "spec", "selector")); !subset(sel, labels) {
		t.Errorf("Service selector %v does not match the pods %v", sel, labels)
	}
	for _, p := range list(svc, "spec", "ports") {
		if !slices.Contains(portNames, fmt.Sprint(get(p, "targetPort"))) {
			t.Errorf("Service targetPort %v is not a container port (%v)", get(p, "targetPort"), portNames)
		}
	}
	if a := str(svc, "spec", "sessionAffinity"); a != "" && a != "None" {
		t.Errorf("Service sessionAffinity %s: clients resume on any node, no affinity is needed", a)
	}

	pdb := one(t, objs, "PodDisruptionBudget").doc
	if sel := stringMap(get(pdb, "spec", "selector", "matchLabels")); !subset(sel, labels) {
		t.Errorf("PodDisruptionBudget selector %v does not match the pods %v", sel, labels)
	}
	replicas, _ := get(dep, "spec", "replicas").(int)
	if mu, ok := get(pdb, "spec", "maxUnavailable").(int); ok {
		if mu < 1 || mu >= replicas {
			t.Errorf("PodDisruptionBudget maxUnavailable %d with %d replicas", mu, replicas)
		}
	} else if ma, ok := get(pdb, "spec", "minAvailable").(int); !ok || ma >= replicas {
		t.Errorf("PodDisruptionBudget: want maxUnavailable, or minAvailable below %d replicas", replicas)
	}

	pm := one(t, objs, "PodMonitor").doc
	if sel := stringMap(get(pm, "spec", "selector", "matchLabels")); !subset(sel, labels) {
		t.Errorf("PodMonitor selector %v does not match the pods %v", sel, labels)
	}
	for _, e := range list(pm, "spec", "podMetricsEndpoints") {
		if !slices.Contains(portNames, str(e, "port")) || str(e, "path") != "/metrics" {
			t.Errorf("PodMonitor endpoint %v: want a container port and /metrics", e)
		}
	}
}

var adapterSeries = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// The HorizontalPodAutoscaler scales the Deployment on the connection gauge a real node exports, as the
// prometheus-adapter rule names it.
func TestK8sAutoscaler(t *testing.T) {
	objs := k8sObjects(t)
	dep := one(t, objs, "Deployment")
	hpa := one(t, objs, "HorizontalPodAutoscaler").doc
	if str(hpa, "apiVersion") != "autoscaling/v2" {
		t.Errorf("HPA apiVersion %s, want autoscaling/v2", str(hpa, "apiVersion"))
	}
	ref := get(hpa, "spec", "scaleTargetRef")
	if str(ref, "kind") != "Deployment" || str(ref, "name") != dep.name() || str(ref, "apiVersion") != "apps/v1" {
		t.Errorf("HPA scaleTargetRef %v, want the Deployment %s", ref, dep.name())
	}
	minR, _ := get(hpa, "spec", "minReplicas").(int)
	maxR, _ := get(hpa, "spec", "maxReplicas").(int)
	if minR < 2 || maxR < minR {
		t.Errorf("HPA replicas %d..%d: want at least 2 (one node may be draining)", minR, maxR)
	}
	var podsMetric string
	for _, m := range list(hpa, "spec", "metrics") {
		if str(m, "type") == "Pods" {
			podsMetric = str(m, "pods", "metric", "name")
			if str(m, "pods", "target", "type") != "AverageValue" || get(m, "pods", "target", "averageValue") == nil {
				t.Errorf("HPA Pods metric target %v: want an AverageValue", get(m, "pods", "target"))
			}
		}
	}
	if podsMetric != "depthcast_feed_connections" {
		t.Fatalf("HPA Pods metric %q, want the connection gauge depthcast_feed_connections", podsMetric)
	}
	metrics := realNode(t).metrics

	values := readYAML(t, "k8s/monitoring/prometheus-adapter-values.yaml")[0]
	var found bool
	for _, r := range list(values, "rules", "custom") {
		if str(r, "name", "as") != podsMetric {
			continue
		}
		found = true
		series := str(r, "seriesQuery")
		checkQuery(t, "adapter seriesQuery", series, metrics, "namespace", "pod")
		if m := adapterSeries.FindString(series); !regexp.MustCompile(str(r, "name", "matches")).MatchString(m) {
			t.Errorf("adapter rule: name.matches %q does not match the series %s", str(r, "name", "matches"), m)
		}
		for _, res := range []string{"namespace", "pod"} {
			if str(r, "resources", "overrides", res, "resource") != res {
				t.Errorf("adapter rule: label %s is not mapped to the %s resource", res, res)
			}
		}
		mq := str(r, "metricsQuery")
		for _, want := range []string{"<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"} {
			if !strings.Contains(mq, want) {
				t.Errorf("adapter metricsQuery %q lacks %s", mq, want)
			}
		}
	}
	if !found {
		t.Errorf("no prometheus-adapter rule exposes %s", podsMetric)
	}
}

// kubectl's own rendering of the kustomization (offline), and a client-side dry run where a cluster is
// configured. Neither a cluster nor a kubeconfig is needed for the first.
func TestK8sKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; the manifests were only checked by this package's own tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", "k8s").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize k8s: %v\n%s", err, out)
	}
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} {
		if !strings.Contains(string(out), "\nkind: "+kind+"\n") {
			t.Errorf("kubectl kustomize output has no %s", kind)
		}
	}
	home, _ := os.UserHomeDir()
	if _, err := os.Stat(filepath.Join(home, ".kube", "config")); os.Getenv("KUBECONFIG") == "" && err != nil {
		t.Skip("no kubeconfig: kubectl apply --dry-run=client needs a cluster's API discovery; only kustomize ran")
	}
	out, err = exec.CommandContext(ctx, kubectl, "apply", "--dry-run=client", "--validate=false", "-k", "k8s").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "connection refused") || strings.Contains(string(out), "no such host") ||
			strings.Contains(string(out), "Unable to connect") || strings.Contains(string(out), "couldn't get current server API group list") {
			t.Skipf("kubectl apply --dry-run=client: no reachable cluster: %s", lastLines(out, 1))
		}
		t.Errorf("kubectl apply --dry-run=client -k k8s: %v\n%s", err, out)
	}
}
