package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/node"
	"github.com/depthcast/depthcast/replay"
	"github.com/depthcast/depthcast/sim"
	"github.com/gorilla/websocket"
)

// The replay scenario: a recording of n simulated events (8 symbols, 50 levels, trades and re-snapshots)
// on disk, played at speed 0 to one /replay client over loopback (book and trades of every symbol, full
// depth), timed from the request to replay_end; beside it, the bare read of the same recording (OpenDir's
// cursor, Next in a loop), which is the ceiling of any replay of it.

func writeBenchRecording(dir string, n int) ([]string, error) {
	x, err := sim.New(sim.Config{Symbols: 8, Levels: 50, Seed: 1})
	if err != nil {
		return nil, err
	}
	rec, err := replay.NewRecorder(replay.RecorderConfig{Dir: dir, Logger: quietLogger})
	if err != nil {
		return nil, err
	}
	for i := range n {
		e := x.Next()
		if err := rec.Write(engine.Record{Offset: int64(i), Time: e.Time, Key: []byte(e.Key), Value: e.Value}); err != nil {
			_ = rec.Close()
			return nil, err
		}
	}
	return x.Symbols(), rec.Close()
}

// replayClient runs one replay at speed 0 and returns the messages received.
func replayClient(addr string, syms []string) (int, error) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/replay", nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	req := fmt.Sprintf(`{"op":"replay","id":1,"symbols":["%s"],"channels":["book","trades"],"speed":0}`, strings.Join(syms, `","`))
	if err := c.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		return 0, err
	}
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			return n, err
		}
		n++
		if strings.HasPrefix(string(data), `{"type":"replay_end"`) {
			if !strings.Contains(string(data), `"done"`) {
				return n, fmt.Errorf("replay ended with %s", data)
			}
			return n, nil
		}
		if strings.HasPrefix(string(data), `{"type":"error"`) {
			return n, fmt.Errorf("replay refused: %s", data)
		}
	}
}

func readRecording(src replay.Source) (int, error) {
	cur, err := src.Open(context.Background(), time.Time{})
	if err != nil {
		return 0, err
	}
	defer cur.Close()
	n := 0
	for {
		if _, err := cur.Next(context.Background()); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n++
	}
}

func runReplay(o *options, rep *report) error {
	n := o.n(100_000, 500_000)
	dir, err := os.MkdirTemp("", "depthcast-bench-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	syms, err := writeBenchRecording(dir, n)
	if err != nil {
		return err
	}
	rec, err := replay.OpenDir(dir)
	if err != nil {
		return err
	}
	defer rec.Close()
	// A node serving /replay of the recording (the recording's symbols come from its indexes); its live
	// books are empty.
	nd, err := startNode(node.Config{Feed: feed.Config{Replayer: replay.NewHistory(rec, quietLogger)},
		Input: func(pub engine.Publisher) (node.Input, error) {
			return engine.New(engine.Config{Logger: quietLogger}, pub)
		}})
	if err != nil {
		return err
	}
	defer nd.Close()
	fmt.Fprintf(os.Stderr, "   replay: %d records recorded\n", n)
	vals, cpus, bvals, bcpus := []float64{}, []float64{}, []float64{}, []float64{}
	for r := 0; r < o.rounds; r++ {
		w := startWindow()
		msgs, err := replayClient(nd.Addr(), syms)
		w.stop()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		vals, cpus = append(vals, float64(n)/w.wall.Seconds()), append(cpus, float64(n)/w.cpu.Seconds())
		fmt.Fprintf(os.Stderr, "   replay depthcast      %s events/s (%d messages)\n", fmtNum(vals[len(vals)-1]), msgs)
		w = startWindow()
		got, err := readRecording(rec)
		w.stop()
		if err != nil || got != n {
			return fmt.Errorf("read recording: %d records, %v", got, err)
		}
		bvals, bcpus = append(bvals, float64(n)/w.wall.Seconds()), append(bcpus, float64(n)/w.cpu.Seconds())
		fmt.Fprintf(os.Stderr, "   replay bare read      %s records/s\n", fmtNum(bvals[len(bvals)-1]))
	}
	rep.add(Row{Scenario: "replay", Metric: "events/s at speed 0", Value: median(vals), Unit: "ev/s", Baseline: "bare read of the recording",
		BaselineValue: median(bvals), PerCPUSecond: median(cpus), BaselinePerCPU: median(bcpus), Trials: vals, BaselineTrials: bvals,
		Notes: fmt.Sprintf("%d events from disk through a Player, private books and the feed's encoders to one /replay client (gorilla) over loopback, book and trades of 8 symbols", n)})
	return nil
}
