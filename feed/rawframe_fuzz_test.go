package feed_test

import (
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/node/nodetest"
)

// startRawFeed starts a node on a real TCP listener for tb and returns its feed and address; it stops when
// tb ends.
func startRawFeed(tb testing.TB) (*feed.Server, string) {
	tb.Helper()
	n := nodetest.Start(tb, node.Config{MaxHTTPConnectionsPerIP: -1, Feed: feed.Config{
		// The fuzzer connects twice per input from one address, far faster than a client may.
		Guard: feed.GuardConfig{MaxConnectionsPerIP: 1 << 20, ConnectRatePerIP: 1e9, ConnectBurstPerIP: 1 << 30}}})
	return n.Feed(), n.Addr()
}

// FuzzRawFrames drives the real server path with arbitrary bytes after a valid handshake (the first byte's
// low bit asks for permessage-deflate): whatever the bytes, the process stays up, the server never closes
// the connection as its own failure (1011 internal_error, or a panic contained on the read loop), and a
// fresh client is still served.
func FuzzRawFrames(f *testing.F) {
	for _, p := range rawProbes(f) {
		if len(p.bytes) > 4096 {
			continue // the deflate bomb: the fuzzer mutates better from the small seeds
		}
		flag := byte(0)
		if p.deflate {
			flag = 1
		}
		f.Add(append([]byte{flag}, p.bytes...))
	}
	f.Add(append([]byte{1}, maskedFrame(0xc1, compress(f, []byte(`{"op":"ping","id":1}`)))...))
	f.Add(append([]byte{0}, maskedFrame(0x81, []byte(`{"op":"subscribe","id":1,"channel":"book","symbols":["BTC-USD"]}`))...))
	srv, addr := startRawFeed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		deflate := data[0]&1 != 0
		rc := rawUpgrade(t, addr, deflate)
		_ = rc.c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_ = rc.write(data[1:], false)
		for {
			if _, _, err := rc.readFrame(); err != nil {
				break // closed by the server, or nothing more within the deadline
			}
		}
		_ = rc.c.Close()
		waitFor(t, "the server to close its side", func() bool { return srv.Stats().Connections == 0 })
		for _, c := range srv.Stats().Closes {
			if c.Reason == feed.ReasonInternal.String() || c.Reason == feed.ReasonPanic.String() {
				t.Fatalf("client bytes closed a connection as the server's own failure: %s (%d)", c.Reason, c.Code)
			}
		}
		assertServes(t, addr, deflate)
	})
}
