package feed_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/feed"
)

// With the default limits a stalled client hits the write timeout long before its 8 MiB send queue fills.
// Once it reads again it must find the stream ending at a frame boundary with a 1013 close frame, not a
// frame cut short (1006), and the close counts as a slow consumer.
func TestWriteTimeoutClosesWith1013(t *testing.T) {
	f := newTestFeed(t, feed.Config{})
	u := newUpstream("BTC-USD")
	f.submitAndFlush(u.snapshot([]lv{{"43000.12", "1"}}, []lv{{"43001.12", "1"}}))

	slow := f.dialWith(slowDialer())
	slow.subscribe(1, "book", []string{"BTC-USD"}, "")
	// The slow client reads nothing more: about 6 MB of wide deltas, more than the socket buffers hold and
	// far less than the send queue's limit.
	for round := 1; round <= 100; round++ {
		for n := range 100 {
			var d []lv
			for i := range 20 {
				d = append(d, lv{fmt.Sprintf("%d.12", 42999-i), fmt.Sprintf("%d.%03d", round*100+n, i+1)})
			}
			f.Submit(u.delta(d, nil))
		}
		f.Flush()
	}
	waitFor(t, "the write timeout to close the stalled client", func() bool {
		return f.metric("depthcast.feed.slow_consumers") > 0
	})
	ce := slow.closeError()
	if ce.Code != 1013 || !strings.Contains(ce.Text, "write timeout") {
		t.Errorf("stalled client closed with %d %q, want 1013 write timeout", ce.Code, ce.Text)
	}
	if n := f.metric("depthcast.feed.slow_consumers"); n != 1 {
		t.Errorf("%d slow consumers, want 1", n)
	}
}
