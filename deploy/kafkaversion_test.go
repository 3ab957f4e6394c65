package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Apache Kafka version the real-Kafka suite runs (scripts/kafka.sh) is the one compose runs, the one the
// Kubernetes manifests name, and the one the README lists as tested.
func TestKafkaVersionIsTheTestedOne(t *testing.T) {
	script, err := os.ReadFile("../scripts/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`KAFKA_VERSION="\$\{KAFKA_VERSION:-([0-9.]+)\}"`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/kafka.sh: no default KAFKA_VERSION")
	}
	tested := string(m[1])
	svcs := composeServices(t)
	n := 0
	for name, s := range svcs {
		img := str(s, "image")
		if !strings.HasPrefix(img, "apache/kafka") {
			continue
		}
		n++
		if img != "apache/kafka:"+tested {
			t.Errorf("compose service %s runs %s; the suite tests apache/kafka:%s", name, img, tested)
		}
	}
	if n == 0 {
		t.Error("compose.yaml runs no apache/kafka image")
	}
	for _, f := range []string{"k8s/configmap.yaml", "../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range regexp.MustCompile(`Apache Kafka ([0-9]+\.[0-9]+\.[0-9]+)`).FindAllStringSubmatch(string(b), -1) {
			if v[1] != tested {
				t.Errorf("%s names Apache Kafka %s; the suite tests %s", f, v[1], tested)
			}
		}
		if !strings.Contains(string(b), "Apache Kafka "+tested) {
			t.Errorf("%s does not name Apache Kafka %s, the tested version", f, tested)
		}
	}
}
