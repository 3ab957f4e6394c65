package deploy_test

// Shared helpers: the depthcast binary built once per test run, its flags as its --help lists them, and the
// check that a command line and environment parse with them.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

var tmpDir string

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "depthcast-deploy-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(tmpDir)
		os.Exit(code)
	}))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary returns the path of the depthcast binary, built from ../cmd/depthcast once for all tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(tmpDir, "depthcast")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "../cmd/depthcast")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../cmd/depthcast: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// flagInfo is one flag of a subcommand as its --help shows it.
type flagInfo struct {
	env  string // DEPTHCAST_…
	bool bool   // a boolean flag (default true or false): takes no separate value
}

var (
	flagsMu    sync.Mutex
	flagsCache = map[string]map[string]flagInfo{}
)

// helpLine matches "  --send-queue-bytes  [DEPTHCAST_SEND_QUEUE_BYTES]"; the next line holds the usage and
// "(default …)".
var helpLine = regexp.MustCompile(`^\s+--([a-z0-9][a-z0-9-]*)\s+\[(DEPTHCAST_[A-Z0-9_]+)\]\s*$`)

// commandFlags runs "depthcast CMD --help" and returns its flags by name.
func commandFlags(t *testing.T, command string) map[string]flagInfo {
	t.Helper()
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := flagsCache[command]; ok {
		return f
	}
	cmd := exec.Command(binary(t), command, "--help")
	cmd.Env = cleanEnv(nil)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("depthcast %s --help: %v\n%s", command, err, out)
	}
	flags := map[string]flagInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var last string
	for sc.Scan() {
		line := sc.Text()
		if m := helpLine.FindStringSubmatch(line); m != nil {
			last = m[1]
			flags[last] = flagInfo{env: m[2]}
			continue
		}
		if last != "" && (strings.HasSuffix(line, "(default false)") || strings.HasSuffix(line, "(default true)")) {
			fi := flags[last]
			fi.bool = true
			flags[last] = fi
		}
		last = ""
	}
	if len(flags) < 3 {
		t.Fatalf("depthcast %s --help lists %d flags; the help format changed?\n%s", command, len(flags), out)
	}
	flagsCache[command] = flags
	return flags
}

// cleanEnv is the test's environment without any DEPTHCAST_* variable, plus extra.
func cleanEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEPTHCAST_") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// checkCommand checks that args (subcommand first) and env are what the binary accepts: every flag exists,
// every DEPTHCAST_* variable of env names a flag of that subcommand, and the binary itself parses the line
// with env and inherited (variables set elsewhere, such as in the image) in its environment: it is run with
// --help appended, so it parses every value and then stops.
func checkCommand(t *testing.T, where string, args []string, env, inherited map[string]string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no command", where)
		return
	}
	sub := args[0]
	switch sub {
	case "serve", "simulate", "demo":
	default:
		t.Errorf("%s: %q is not a depthcast command (serve, simulate, demo)", where, sub)
		return
	}
	flags := commandFlags(t, sub)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: %q is not a flag (a boolean flag takes its value as --flag=value)", where, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fi, ok := flags[name]
		if !ok {
			t.Errorf("%s: depthcast %s has no flag --%s", where, sub, name)
			continue
		}
		if !hasValue && !fi.bool {
			i++ // --flag value
		}
	}
	byEnv := map[string]bool{}
	for _, fi := range flags {
		byEnv[fi.env] = true
	}
	for k := range env {
		if strings.HasPrefix(k, "DEPTHCAST_") && !byEnv[k] {
			t.Errorf("%s: depthcast %s reads no variable %s", where, sub, k)
		}
	}
	all := maps.Clone(inherited)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, env)
	cmd := exec.Command(binary(t), append(append([]string{}, args...), "--help")...)
	cmd.Env = cleanEnv(all)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: depthcast %s does not accept %q with %v: %v\n%s", where, sub, args[1:], env, err, lastLines(out, 3))
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// readYAML decodes every document of a YAML file into generic values.
func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readYAMLString(t, path, string(b))
}

// readYAMLString decodes every document of YAML text (from where) into generic values. A document that is
// a list (a JSON patch) comes back as one map per element.
func readYAMLString(t *testing.T, where, text string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []map[string]any
	for {
		var d any
		err := dec.Decode(&d)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", where, err)
		}
		switch v := d.(type) {
		case map[string]any:
			docs = append(docs, v)
		case []any:
			for _, e := range v {
				m, ok := e.(map[string]any)
				if !ok {
					t.Fatalf("%s: list element %v is not a map", where, e)
				}
				docs = append(docs, m)
			}
		case nil:
		default:
			t.Fatalf("%s: document %v is neither a map nor a list", where, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", where)
	}
	return docs
}

// get walks a generic YAML/JSON value by map keys and list indexes ("spec", "template", 0, …) and returns
// nil when a step is missing.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...any) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// stringList converts a YAML list of scalars to strings.
func stringList(t *testing.T, where string, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%s: want a list, got %T", where, v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// stringMap converts a YAML map of scalars to strings.
func stringMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}
