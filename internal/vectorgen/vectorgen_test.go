package vectorgen_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/depthcast/depthcast/internal/vectorgen"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from the Go implementation")

const dir = "../../testdata/vectors"

// The committed vectors are what the Go implementation generates now.
func TestVectorsUpToDate(t *testing.T) {
	files, err := vectorgen.Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with go test ./internal/vectorgen -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what Go generates: regenerate with go test ./internal/vectorgen -update", path)
		}
	}
}

// The same call gives the same bytes (no map order or randomness leaks into the files).
func TestVectorsDeterministic(t *testing.T) {
	a, err := vectorgen.Files()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := vectorgen.Files()
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s: two generations differ", name)
		}
	}
}
