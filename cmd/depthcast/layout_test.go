package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The dependency direction of the design: schema <- book <- engine <- ingest, feed <- replay; all <- node <-
// cmd. book and schema stay pure, the engine knows nothing of Kafka, files or WebSockets, ingest and feed
// never import each other, replay depends on the engine (and on the feed, whose Replayer it implements) and
// not on Kafka ingestion, only node and cmd put the parts together, nothing imports cmd. internal/testkit,
// internal/enginetest and node/nodetest serve tests only.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/depthcast/depthcast/"
	forbidden := map[string][]string{
		"schema": {"book", "ingest", "feed", "sim", "cmd/", "bench"},
		"book":   {"ingest", "feed", "sim", "cmd/", "bench"},
		"engine": {"ingest", "feed", "replay", "sim", "client", "node", "cmd/", "bench", "internal/kafkatopic", "auth"},
		"ingest": {"feed", "replay", "node", "cmd/", "bench"},
		"feed":   {"ingest", "replay", "sim", "client", "node", "cmd/", "bench"},
		"auth":   {"schema", "book", "ingest", "feed", "sim", "cmd/", "bench"},
		"sim":    {"ingest", "feed", "cmd/", "bench"},
		"client": {"ingest", "feed", "sim", "cmd/", "bench"},
		"replay": {"ingest", "node", "sim", "cmd/", "bench"},
		"node":   {"cmd/", "bench", "sim", "client", "replay"},
		// Test support imports no package of the project.
		"internal/testkit":    {"schema", "book", "engine", "ingest", "feed", "auth", "sim", "client", "replay", "cmd/", "bench"},
		"internal/enginetest": {"engine", "ingest", "feed", "auth", "sim", "client", "replay", "cmd/", "bench"},
		"internal/kafkatopic": {"schema", "book", "engine", "ingest", "feed", "auth", "sim", "client", "replay", "cmd/", "bench"},
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
	// The book engine knows nothing of Kafka or WebSockets: the inputs and the feed meet it through its
	// contracts (Publisher, Books, Record).
	t.Run("engine/no-transport", func(t *testing.T) {
		out, err := exec.Command("go", "list", "-deps", "../../engine").Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range []string{"github.com/segmentio/kafka-go", "github.com/lxzan/gws", "net/http"} {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("engine depends on %s", dep)
				}
			}
		}
	})
	t.Run("test-support/tests-only", func(t *testing.T) {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "../../...").Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			for _, p := range []string{"internal/testkit", "internal/enginetest", "node/nodetest"} {
				if strings.Contains(line, " "+mod+p) {
					t.Errorf("%s: a package imports %s outside its tests", line, p)
				}
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
