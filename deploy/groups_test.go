package deploy_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// groupPartitions returns the DEPTHCAST_PARTITIONS a node-group overlay patches into the ConfigMap.
func groupPartitions(t *testing.T, file string) string {
	t.Helper()
	k := readYAML(t, file)[0]
	for _, p := range list(k, "patches") {
		if str(p, "target", "kind") != "ConfigMap" {
			continue
		}
		for _, op := range readYAMLString(t, file, str(p, "patch")) {
			if str(op, "path") == "/data/DEPTHCAST_PARTITIONS" {
				return str(op, "value")
			}
		}
	}
	t.Fatalf("%s: no patch sets DEPTHCAST_PARTITIONS", file)
	return ""
}

// The node-group overlays of docs/scaling.md: each builds on k8s/ with its own name suffix and a group
// label in every selector, the binary accepts each group's partitions, and the groups' partitions are
// disjoint.
func TestK8sNodeGroups(t *testing.T) {
	files, err := filepath.Glob("k8s-groups/*/kustomization.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("want at least two node groups under k8s-groups/, found %v (%v)", files, err)
	}
	cm := one(t, k8sObjects(t), "ConfigMap")
	seen := map[int]string{}
	for _, f := range files {
		group := filepath.Base(filepath.Dir(f))
		k := readYAML(t, f)[0]
		if res := stringList(t, f+" resources", get(k, "resources")); !slices.Equal(res, []string{"../../k8s"}) {
			t.Errorf("%s: resources %v, want [../../k8s]", f, res)
		}
		if s := str(k, "nameSuffix"); s != "-"+group {
			t.Errorf("%s: nameSuffix %q, want -%s", f, s, group)
		}
		if get(k, "labels", 0, "includeSelectors") != true || stringMap(get(k, "labels", 0, "pairs"))["depthcast.io/group"] != group {
			t.Errorf("%s: want the label depthcast.io/group=%s in every selector (includeSelectors)", f, group)
		}
		parts := groupPartitions(t, f)
		env := stringMap(get(cm.doc, "data"))
		env["DEPTHCAST_PARTITIONS"] = parts
		checkCommand(t, f, []string{"serve"}, env, nil)
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				t.Errorf("%s: partition %q: %v", f, p, err)
				continue
			}
			if other, ok := seen[n]; ok {
				t.Errorf("partition %d is in group %s and group %s", n, other, group)
			}
			seen[n] = group
		}
	}
	for n := range len(seen) {
		if _, ok := seen[n]; !ok {
			t.Errorf("partitions %v: no group reads partition %d", seen, n)
		}
	}

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the overlays were not rendered")
	}
	for _, f := range files {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Dir(f)).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", filepath.Dir(f), err, out)
			continue
		}
		group := filepath.Base(filepath.Dir(f))
		if want := "DEPTHCAST_PARTITIONS: " + groupPartitions(t, f); !strings.Contains(string(out), want) {
			t.Errorf("%s renders without %q", f, want)
		}
		if n := strings.Count(string(out), "name: depthcast-"+group+"\n"); n < 6 {
			t.Errorf("%s renders %d objects or references named depthcast-%s, want the 5 objects and the ConfigMap reference", f, n, group)
		}
	}
}
