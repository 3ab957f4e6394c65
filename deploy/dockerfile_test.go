package deploy_test

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stage is one FROM … of the Dockerfile.
type stage struct {
	from, name string
	runs       []string
	copies     []string
	env        map[string]string
	user       string
	expose     []string
	entrypoint string
	healthchk  bool
}

var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// dockerfile parses deploy/Dockerfile (continuation lines joined, comments dropped) and returns its final
// stage and all stages; global ARG defaults are substituted into FROM lines.
func dockerfile(t *testing.T) (final stage, all []stage) {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	args := map[string]string{}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			if len(all) == 0 {
				k, v, _ := strings.Cut(rest, "=")
				args[k] = v
			}
		case "FROM":
			fields := strings.Fields(argRef.ReplaceAllStringFunc(rest, func(m string) string {
				return args[argRef.FindStringSubmatch(m)[1]]
			}))
			var s stage
			s.env = map[string]string{}
			for i := 0; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					s.name = fields[i+1]
					i++
				default:
					s.from = fields[i]
				}
			}
			all = append(all, s)
		default:
			if len(all) == 0 {
				t.Fatalf("Dockerfile: %s before FROM", instr)
			}
			s := &all[len(all)-1]
			switch strings.ToUpper(instr) {
			case "RUN":
				s.runs = append(s.runs, rest)
			case "COPY":
				s.copies = append(s.copies, rest)
			case "ENV":
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					s.env[k] = v
				}
			case "USER":
				s.user = rest
			case "EXPOSE":
				s.expose = append(s.expose, strings.Fields(rest)...)
			case "ENTRYPOINT":
				var ep []string
				if err := json.Unmarshal([]byte(rest), &ep); err != nil || len(ep) != 1 {
					t.Errorf("Dockerfile: ENTRYPOINT %s: want the exec form with the binary alone", rest)
				} else {
					s.entrypoint = ep[0]
				}
			case "HEALTHCHECK":
				s.healthchk = true
			}
		}
	}
	if len(all) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return all[len(all)-1], all
}

// The image: built in a golang stage with module and build caches, static and trimmed; run from distroless
// (or scratch) as a numeric non-root user, with the entrypoint the build produced and the port it listens on.
func TestDockerfile(t *testing.T) {
	final, all := dockerfile(t)
	if len(all) < 2 {
		t.Fatalf("Dockerfile: %d stage(s), want a builder and a final stage", len(all))
	}
	build := all[0]
	if !strings.HasPrefix(build.from, "golang:1.26") {
		t.Errorf("builder FROM %s, want golang:1.26", build.from)
	}
	run := strings.Join(build.runs, "\n")
	for _, want := range []string{"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build",
		"CGO_ENABLED=0", "-trimpath", "./cmd/depthcast"} {
		if !strings.Contains(run, want) {
			t.Errorf("builder RUN lacks %s", want)
		}
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(run)
	if out == nil {
		t.Fatal("builder: no go build -o")
	}
	switch {
	case strings.HasPrefix(final.from, "gcr.io/distroless/static"):
	case final.from == "scratch":
		if !strings.Contains(strings.Join(final.copies, "\n"), "ca-certificates") {
			t.Error("scratch image without CA certificates")
		}
	default:
		t.Errorf("final FROM %s, want distroless static or scratch", final.from)
	}
	var binDest string
	for _, c := range final.copies {
		f := strings.Fields(c)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == out[1] {
			binDest = f[2]
		}
	}
	if binDest == "" || final.entrypoint != binDest || path.Base(binDest) != "depthcast" {
		t.Errorf("ENTRYPOINT %q: want the binary copied from %s (copied to %q)", final.entrypoint, out[1], binDest)
	}
	uid, _, _ := strings.Cut(final.user, ":")
	if uid == "" || uid == "0" || uid == "root" || strings.Trim(uid, "0123456789") != "" {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes runAsNonRoot can only verify a number)", final.user)
	}
	_, port, err := net.SplitHostPort(final.env["DEPTHCAST_LISTEN"])
	if err != nil || len(final.expose) != 1 || final.expose[0] != port {
		t.Errorf("EXPOSE %v and DEPTHCAST_LISTEN %q: want the port the binary listens on", final.expose, final.env["DEPTHCAST_LISTEN"])
	}
	if final.healthchk {
		t.Error("HEALTHCHECK in an image without a shell or curl cannot run")
	}
	checkCommand(t, "Dockerfile ENV", []string{"serve", "--brokers=kafka:9092"}, final.env, nil)
}

// .dockerignore keeps out what the build does not need, and nothing it does: go.mod, go.sum and every file
// of every package the binary is built from (embedded files included).
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(path.Clean(l), "/"))
		}
	}
	ignored := func(file string) string {
		parts := strings.Split(file, "/")
		for _, p := range patterns {
			for i := 1; i <= len(parts); i++ { // the file or any directory above it
				prefix := strings.Join(parts[:i], "/")
				if ok, _ := filepath.Match(p, prefix); ok {
					return p
				}
				if rest, ok := strings.CutPrefix(p, "**/"); ok {
					if ok, _ := filepath.Match(rest, parts[i-1]); ok {
						return p
					}
				}
			}
		}
		return ""
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}{{end}}`, "../cmd/depthcast").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, f := range files {
		if p := ignored(f); p != "" {
			t.Errorf(".dockerignore pattern %q keeps %s out of the build", p, f)
		}
	}
	for _, want := range []string{".git", "deploy/k8s"} {
		if ignored(want) == "" {
			t.Errorf(".dockerignore lets %s into the build context", want)
		}
	}
}
