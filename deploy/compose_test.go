package deploy_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// composeServices returns the services of compose.yaml.
func composeServices(t *testing.T) map[string]any {
	t.Helper()
	doc := readYAML(t, "compose.yaml")[0]
	svcs, ok := get(doc, "services").(map[string]any)
	if !ok || len(svcs) == 0 {
		t.Fatal("compose.yaml: no services")
	}
	return svcs
}

// depthcastServices are the compose services that run the depthcast image.
func depthcastServices(t *testing.T, svcs map[string]any) []string {
	t.Helper()
	var out []string
	for name, s := range svcs {
		if str(s, "build", "dockerfile") == "deploy/Dockerfile" || strings.HasPrefix(str(s, "image"), "depthcast:") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// flagValue returns the value of --name in args (--name=v or --name v).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// The stack has what it must, and each depthcast container's command line and environment are ones the
// binary accepts.
func TestComposeCommands(t *testing.T) {
	svcs := composeServices(t)
	for _, want := range []string{"kafka", "kafka-init", "depthcast", "simulate", "prometheus", "grafana"} {
		if svcs[want] == nil {
			t.Errorf("compose.yaml: no service %q", want)
		}
	}
	dc := depthcastServices(t, svcs)
	if !slices.Equal(dc, []string{"depthcast", "simulate"}) {
		t.Errorf("services running the depthcast image: %v, want [depthcast simulate]", dc)
	}
	image, _ := dockerfile(t)
	for _, name := range dc {
		s := svcs[name]
		args := stringList(t, name+" command", get(s, "command"))
		checkCommand(t, "compose service "+name, args, stringMap(get(s, "environment")), image.env)
	}
	if args := stringList(t, "depthcast command", get(svcs["depthcast"], "command")); len(args) == 0 || args[0] != "serve" {
		t.Errorf("the depthcast service runs %v, want serve", args)
	}
	if args := stringList(t, "simulate command", get(svcs["simulate"], "command")); len(args) == 0 || args[0] != "simulate" {
		t.Errorf("the simulate service runs %v, want simulate", args)
	}
}

// Kafka: KRaft, one node, a listener the other containers reach by the name they use, and the topics the
// feed and the simulator use created before they start.
func TestComposeKafka(t *testing.T) {
	svcs := composeServices(t)
	kenv := stringMap(get(svcs["kafka"], "environment"))
	if img := str(svcs["kafka"], "image"); !strings.HasPrefix(img, "apache/kafka:") {
		t.Errorf("kafka image %q, want the official apache/kafka", img)
	}
	if !strings.Contains(kenv["KAFKA_PROCESS_ROLES"], "controller") || !strings.Contains(kenv["KAFKA_PROCESS_ROLES"], "broker") {
		t.Errorf("KAFKA_PROCESS_ROLES %q: want broker,controller (KRaft, one node)", kenv["KAFKA_PROCESS_ROLES"])
	}
	if kenv["KAFKA_CONTROLLER_QUORUM_VOTERS"] != kenv["KAFKA_NODE_ID"]+"@kafka:9093" {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %q does not name node %s", kenv["KAFKA_CONTROLLER_QUORUM_VOTERS"], kenv["KAFKA_NODE_ID"])
	}
	// listener name -> advertised host:port, and the listener names that exist.
	advertised := map[string]string{}
	for _, l := range strings.Split(kenv["KAFKA_ADVERTISED_LISTENERS"], ",") {
		name, addr, _ := strings.Cut(l, "://")
		advertised[name] = addr
	}
	listeners := map[string]string{}
	for _, l := range strings.Split(kenv["KAFKA_LISTENERS"], ",") {
		name, addr, _ := strings.Cut(l, "://")
		listeners[name] = addr
	}
	protocols := map[string]bool{}
	for _, p := range strings.Split(kenv["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
		name, _, _ := strings.Cut(p, ":")
		protocols[name] = true
	}
	for name := range listeners {
		if !protocols[name] {
			t.Errorf("listener %s has no security protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", name)
		}
	}
	if _, ok := listeners[kenv["KAFKA_CONTROLLER_LISTENER_NAMES"]]; !ok {
		t.Errorf("controller listener %q is not in KAFKA_LISTENERS", kenv["KAFKA_CONTROLLER_LISTENER_NAMES"])
	}
	if get(svcs["kafka"], "healthcheck", "test") == nil {
		t.Error("kafka has no healthcheck: kafka-init cannot wait for it")
	}
	if c := str(svcs["kafka-init"], "depends_on", "kafka", "condition"); c != "service_healthy" {
		t.Errorf("kafka-init waits for kafka with %q, want service_healthy", c)
	}
	initScript := strings.Join(stringList(t, "kafka-init command", get(svcs["kafka-init"], "command")), "\n")
	initScript = strings.ReplaceAll(initScript, "\\\n", " ")

	for _, name := range depthcastServices(t, svcs) {
		s := svcs[name]
		args := stringList(t, name+" command", get(s, "command"))
		brokers, ok := flagValue(args, "brokers")
		if !ok {
			t.Errorf("%s: no --brokers", name)
			continue
		}
		for _, b := range strings.Split(brokers, ",") {
			var found string
			for l, addr := range advertised {
				if addr == b {
					found = l
				}
			}
			if found == "" {
				t.Errorf("%s: broker %s is not an advertised listener of kafka (%v)", name, b, advertised)
				continue
			}
			host, port, _ := net.SplitHostPort(b)
			if svcs[host] == nil || !strings.HasSuffix(listeners[found], ":"+port) {
				t.Errorf("%s: broker %s: want a compose service name and the port listener %s binds (%s)", name, b, found, listeners[found])
			}
		}
		if c := str(s, "depends_on", "kafka-init", "condition"); c != "service_completed_successfully" {
			t.Errorf("%s waits for kafka-init with %q, want service_completed_successfully", name, c)
		}
		for _, f := range []string{"topic", "dead-letter-topic"} {
			topic, ok := flagValue(args, f)
			if !ok && f == "topic" {
				topic = "md.events" // the default
			}
			if topic != "" && !strings.Contains(initScript, "--topic "+topic+" ") {
				t.Errorf("%s: --%s %s is not created by kafka-init", name, f, topic)
			}
		}
	}
}

// docker stop gives the feed more time than its shutdown timeout, so its clients get their 1001 and the
// readers stop before the container is killed.
func TestComposeStopGrace(t *testing.T) {
	svc := composeServices(t)["depthcast"]
	args := stringList(t, "depthcast command", get(svc, "command"))
	timeout, ok := flagValue(args, "shutdown-timeout")
	if !ok {
		timeout = stringMap(get(svc, "environment"))["DEPTHCAST_SHUTDOWN_TIMEOUT"]
	}
	if timeout == "" {
		timeout = "5s" // the flag's default
	}
	shutdown, err := time.ParseDuration(timeout)
	if err != nil {
		t.Fatalf("shutdown timeout %q: %v", timeout, err)
	}
	grace, err := time.ParseDuration(str(svc, "stop_grace_period"))
	if err != nil {
		t.Fatalf("depthcast stop_grace_period %q: %v (docker's default of 10 s would be used)", str(svc, "stop_grace_period"), err)
	}
	if grace <= shutdown {
		t.Errorf("stop_grace_period %v: want more than the shutdown timeout %v", grace, shutdown)
	}
}

// The feed is published on the port the image listens on, Prometheus scrapes it there, and every file the
// stack mounts exists.
func TestComposePortsAndMounts(t *testing.T) {
	svcs := composeServices(t)
	image, _ := dockerfile(t)
	_, listenPort, err := net.SplitHostPort(image.env["DEPTHCAST_LISTEN"])
	if err != nil {
		t.Fatalf("Dockerfile DEPTHCAST_LISTEN %q: %v", image.env["DEPTHCAST_LISTEN"], err)
	}
	ports := stringList(t, "depthcast ports", get(svcs["depthcast"], "ports"))
	if !slices.ContainsFunc(ports, func(p string) bool { return strings.HasSuffix(p, ":"+listenPort) }) {
		t.Errorf("depthcast publishes %v, not the port it listens on (%s)", ports, listenPort)
	}
	if env := stringMap(get(svcs["depthcast"], "environment")); env["DEPTHCAST_LISTEN"] != "" {
		t.Errorf("depthcast overrides DEPTHCAST_LISTEN; the published port follows the image's")
	}
	targets := prometheusTargets(t, "prometheus/prometheus.yml", "depthcast")
	if !slices.Contains(targets, "depthcast:"+listenPort) {
		t.Errorf("prometheus scrapes %v, want depthcast:%s", targets, listenPort)
	}
	for name, s := range svcs {
		for _, v := range list(s, "volumes") {
			src, _, _ := strings.Cut(fmt.Sprint(v), ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
		if ctx := str(s, "build", "context"); ctx != "" {
			if _, err := os.Stat(filepath.Join(ctx, str(s, "build", "dockerfile"))); err != nil {
				t.Errorf("%s builds from %s: %v", name, ctx, err)
			}
		}
	}
}

// prometheusTargets returns the static targets of a scrape job, after checking the job scrapes /metrics.
func prometheusTargets(t *testing.T, path, job string) []string {
	t.Helper()
	doc := readYAML(t, path)[0]
	for _, sc := range list(doc, "scrape_configs") {
		if str(sc, "job_name") != job {
			continue
		}
		if p := str(sc, "metrics_path"); p != "" && p != "/metrics" {
			t.Errorf("job %s scrapes %s, want /metrics", job, p)
		}
		var out []string
		for _, c := range list(sc, "static_configs") {
			out = append(out, stringList(t, "targets", get(c, "targets"))...)
		}
		return out
	}
	t.Fatalf("%s: no scrape job %q", path, job)
	return nil
}

// Prometheus' own checker, where it is installed (Debian's prometheus package has it).
func TestPrometheusConfigPromtool(t *testing.T) {
	tool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed; the configuration was only parsed as YAML")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "check", "config", "--syntax-only", "prometheus/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// docker compose's own validation, where the compose plugin is installed (it needs no engine for config).
func TestComposeConfigDocker(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("the docker compose plugin is not installed: %s", lastLines(out, 1))
	}
	out, err := exec.CommandContext(ctx, docker, "compose", "-f", "compose.yaml", "config", "--quiet").CombinedOutput()
	if err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}
