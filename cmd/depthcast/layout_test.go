package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The dependency direction of the design: schema <- book <- ingest, feed <- cmd. book and schema stay pure,
// ingest and feed never import each other, nothing imports cmd. auth stands alone: feed declares the
// Authenticator it needs and cmd wires auth into it. internal/testkit serves tests only.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/depthcast/depthcast/"
	forbidden := map[string][]string{
		"schema": {"book", "ingest", "feed", "sim", "cmd/", "bench"},
		"book":   {"ingest", "feed", "sim", "cmd/", "bench"},
		"ingest": {"feed", "cmd/", "bench"},
		"feed":   {"ingest", "replay", "sim", "cmd/", "bench", "auth"},
		"auth":   {"schema", "book", "ingest", "feed", "sim", "cmd/", "bench"},
		"sim":    {"ingest", "feed", "cmd/", "bench"},
		"client": {"ingest", "feed", "sim", "cmd/", "bench"},
		"replay": {"feed", "sim", "cmd/", "bench"},
		// Test support imports no package of the project.
		"internal/testkit": {"schema", "book", "ingest", "feed", "auth", "sim", "client", "replay", "cmd/", "bench"},
	}
	// What a pure package may not import: it does no I/O and no logging.
	impure := []string{"net", "net/http", "os", "io/fs", "log", "log/slog", "github.com/segmentio/kafka-go", "github.com/lxzan/gws"}
	for pkg, bad := range forbidden {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", "../../"+pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			dec := json.NewDecoder(strings.NewReader(string(out)))
			for dec.More() {
				var p struct{ ImportPath string }
				if err := dec.Decode(&p); err != nil {
					t.Fatal(err)
				}
				for _, b := range bad {
					if strings.HasPrefix(p.ImportPath, mod+b) {
						t.Errorf("%s depends on %s", pkg, p.ImportPath)
					}
				}
			}
		})
	}
	t.Run("internal/testkit/tests-only", func(t *testing.T) {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "../../...").Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, " "+mod+"internal/testkit") {
				t.Errorf("%s: a package imports internal/testkit outside its tests", line)
			}
		}
	})
	for _, pkg := range []string{"schema", "book"} {
		t.Run(pkg+"/pure", func(t *testing.T) {
			out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "../../"+pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			for _, imp := range strings.Fields(string(out)) {
				for _, b := range impure {
					if imp == b {
						t.Errorf("%s imports %s; it must stay pure (no goroutines, clocks, logs or I/O)", pkg, imp)
					}
				}
			}
			// Nor does it start goroutines or read the clock.
			files, _ := filepath.Glob(filepath.Join("../..", pkg, "*.go"))
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, bad := range []string{"go func", "time.Now(", "time.Since(", "time.Sleep(", "time.After("} {
					if strings.Contains(string(src), bad) {
						t.Errorf("%s uses %s; it must stay pure", f, bad)
					}
				}
			}
		})
	}
}
