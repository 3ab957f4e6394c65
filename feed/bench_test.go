package feed_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/depthcast/depthcast/book"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/schema"
	"github.com/gorilla/websocket"
)

// oneBook is the smallest Books: one book behind a mutex, written by the benchmark itself.
type oneBook struct {
	mu sync.Mutex
	b  *book.Book
}

func (o *oneBook) Do(_ context.Context, symbol string, fn func(*book.Book)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	fn(o.b)
	return nil
}

func level(price, size string) schema.Level {
	p, err := schema.ParseDecimal(price)
	if err != nil {
		panic(err)
	}
	z, err := schema.ParseDecimal(size)
	if err != nil {
		panic(err)
	}
	return schema.Level{Price: p, Size: z}
}

// BenchmarkFanout publishes one visible update per op to N subscribers of the same depth-10 view over
// real WebSocket connections, and reports the cost per delivered message. Allocations per op are those of
// encoding the update once; delivering it to each subscriber allocates nothing.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			ob := &oneBook{b: book.New("BTC-USD")}
			var bids, asks []schema.Level
			for i := 0; i < 50; i++ {
				bids = append(bids, level(fmt.Sprintf("%d.5", 43000-i), "1"))
				asks = append(asks, level(fmt.Sprintf("%d.5", 43001+i), "1"))
			}
			if err := ob.b.ApplySnapshot(1, "2026-11-24T10:00:00Z", bids, asks); err != nil {
				b.Fatal(err)
			}
			hub, err := feed.NewHub(feed.HubConfig{})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := feed.New(feed.Config{Logger: quietLogger(), SendQueueBytes: 64 << 20, SendQueueMessages: 1 << 20}, hub, ob)
			if err != nil {
				b.Fatal(err)
			}
			hub.PublishBook(ob.b, true)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			var wg sync.WaitGroup
			ready := make(chan struct{}, n)
			url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"
			for i := 0; i < n; i++ {
				c, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channel":"book","symbols":["BTC-USD"],"depth":10}`))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 2 { // "subscribed", then the snapshot: the view holds this client
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
					}
					ready <- struct{}{}
					// From here on read raw bytes without parsing, so that the client allocates nothing
					// and allocs/op are the server's.
					_, _ = io.Copy(io.Discard, c.UnderlyingConn())
				}()
			}
			for i := 0; i < n; i++ {
				<-ready
			}
			pub := newBenchPublisher(ob, hub)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pub.next(b, i)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
			_ = srv.Shutdown(context.Background())
			wg.Wait()
		})
	}
}

// BenchmarkIdleUpdate publishes one visible update per op to one subscriber whose queue is empty and
// waits until the client has read it: the latency of a single update to an idle connection (book apply,
// encode, queue, write, client read), with the client's WebSocket parsing included.
func BenchmarkIdleUpdate(b *testing.B) {
	ob := &oneBook{b: book.New("BTC-USD")}
	if err := ob.b.ApplySnapshot(1, "2026-11-24T10:00:00Z", []schema.Level{level("43000.5", "1")}, []schema.Level{level("43001.5", "1")}); err != nil {
		b.Fatal(err)
	}
	hub, err := feed.NewHub(feed.HubConfig{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := feed.New(feed.Config{Logger: quietLogger()}, hub, ob)
	if err != nil {
		b.Fatal(err)
	}
	hub.PublishBook(ob.b, true)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"subscribe","channel":"book","symbols":["BTC-USD"]}`))
	got := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			if strings.Contains(string(p), `"update"`) || strings.Contains(string(p), `"snapshot"`) {
				got <- struct{}{}
			}
		}
	})
	<-got // the snapshot: the subscription is in place
	pub := newBenchPublisher(ob, hub)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pub.next(b, i)
		if _, ok := <-got; !ok {
			b.Fatal("the connection ended")
		}
	}
	b.StopTimer()
	_ = srv.Shutdown(context.Background())
	wg.Wait()
}

// benchPublisher applies the i-th of a stream of one-level deltas (sizes alternating at the best bid) to a
// book and publishes it, as a book writer does.
type benchPublisher struct {
	ob    *oneBook
	hub   *feed.Hub
	delta []schema.Level
	sizes []string
}

func newBenchPublisher(ob *oneBook, hub *feed.Hub) *benchPublisher {
	return &benchPublisher{ob: ob, hub: hub, delta: []schema.Level{level("43000.5", "1")}, sizes: []string{"2", "3"}}
}

func (p *benchPublisher) next(b *testing.B, i int) {
	p.delta[0] = level("43000.5", p.sizes[i&1])
	p.ob.mu.Lock()
	if err := p.ob.b.ApplyDelta(uint64(i+2), "2026-11-24T10:00:01Z", p.delta, nil); err != nil {
		b.Fatal(err)
	}
	p.hub.PublishBook(p.ob.b, false)
	p.ob.mu.Unlock()
}
