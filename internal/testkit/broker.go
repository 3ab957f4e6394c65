package testkit

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// StartBroker starts a one-broker kfake cluster on port that keeps its log in dir, with opts added, so
// that a broker started again on the same port and dir finds the log the last one left. It retries for up
// to 10 s while the port is still held by a broker that just closed.
func StartBroker(t testing.TB, port int, dir string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir)}, opts...)
	var err error
	for range 100 {
		var c *kfake.Cluster
		if c, err = kfake.NewCluster(opts...); err == nil {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kfake on port %d: %v", port, err)
	return nil
}
