package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/feed"
)

// fanCfg is one fan-out trial.
type fanCfg struct {
	clients int
	syms    int
	nlev    int // levels per delta
	warm    time.Duration
	dur     time.Duration
	window  int64 // messages in flight per healthy client before the producer waits
	deflate bool
	bufSize int
	feedCfg feed.Config
	lat     *latencySink
	stalled func(i int) bool
	rcvBuf  int    // SO_RCVBUF of stalled clients
	profile string // write a CPU profile of the measured window here
	// afterWindow, when set, runs as soon as the producer has stopped at the end of the window (before
	// the messages in flight settle); start is when the producer started.
	afterWindow func(start time.Time, clients []*wsClient)
}

type fanTrial struct {
	msgsPerSec  float64
	perCPU      float64 // delivered messages per process CPU-second (server + clients + producer)
	cores       float64 // CPU-seconds per second
	bytesPerMsg float64 // wire bytes per delivered message, frame headers included
	closed      int     // healthy clients that lost their connection during the trial
	deflated    int     // clients whose upgrade accepted permessage-deflate
	latencies   []int64
}

func startContender(kind string, c *fanCfg) (fanServer, error) {
	switch kind {
	case "depthcast":
		return startDepthcast(c.feedCfg, symbolNames(c.syms), 50)
	case "gorilla-hub":
		return startGorilla()
	case "raw-tcp":
		return startRaw()
	}
	return nil, fmt.Errorf("unknown contender %q", kind)
}

// fanRig is a contender with its clients connected and subscribed, ready for measurement windows.
type fanRig struct {
	kind    string
	cfg     fanCfg
	srv     fanServer
	clients []*wsClient
	total   atomic.Int64
	syms    []string
	gen     *deltaGen
}

// setupFan starts a contender and connects c.clients clients subscribed to the same c.syms symbols.
func setupFan(kind string, c fanCfg) (*fanRig, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	srv, err := startContender(kind, &c)
	if err != nil {
		return nil, err
	}
	r := &fanRig{kind: kind, cfg: c, srv: srv, syms: symbolNames(c.syms)}
	r.gen = newDeltaGen(r.syms, c.nlev)
	sub := srv.subscribe(r.syms)
	o := &clientOpts{subscribe: func(int) []byte { return sub }, total: &r.total, deflate: c.deflate,
		bufSize: c.bufSize, lat: c.lat, stalled: c.stalled, rcvBuf: c.rcvBuf}
	if r.clients, err = dialAll(ctx, srv.addr(), c.clients, o); err != nil {
		srv.close()
		return nil, err
	}
	if err := waitMsgs(ctx, r.clients, srv.initialMsgs(len(r.syms)), 60*time.Second); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *fanRig) close() {
	closeAll(r.clients)
	r.srv.close()
}

// measure runs one window: a producer publishes deltas round-robin over the symbols as fast as the
// clients take them, keeping at most cfg.window messages per live healthy client in flight on average
// (closed loop, so no contender is pushed into its slow-consumer policy); delivered messages are counted
// over cfg.dur after cfg.warm. A healthy client that loses its connection leaves the loop's reckoning
// (checked every 10 ms), so that it does not throttle the producer for the others.
func (r *fanRig) measure() (res fanTrial) {
	c := r.cfg
	for _, cl := range r.clients {
		if cl.deflated {
			res.deflated++
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	base := r.total.Load()
	live := make([]*wsClient, 0, len(r.clients))
	var msgs0 []int64
	for _, cl := range r.clients {
		if !cl.stalled && !cl.gone() {
			live = append(live, cl)
			msgs0 = append(msgs0, cl.msgs.Load())
		}
	}
	started := time.Now()
	wg.Go(func() {
		var published, deadRecv int64 // deadRecv: messages received in this window by clients since lost
		n := int64(len(live))
		counted := make([]bool, len(live))
		lastScan := time.Now()
		for n > 0 {
			select {
			case <-stop:
				return
			default:
			}
			if time.Since(lastScan) >= 10*time.Millisecond {
				lastScan = time.Now()
				for i, cl := range live {
					if !counted[i] && cl.gone() {
						counted[i] = true
						n--
						deadRecv += cl.msgs.Load() - msgs0[i]
					}
				}
			}
			if published*n-(r.total.Load()-base-deadRecv) > c.window*n {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			for range 8 {
				d := r.gen.next(time.Now())
				r.srv.publish(&d)
				published++
			}
		}
	})
	time.Sleep(c.warm)
	for _, cl := range r.clients {
		cl.takeLatencies()
	}
	if c.profile != "" {
		f, err := os.Create(c.profile)
		if err == nil {
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	m0, b0 := sumMsgs(r.clients)
	if c.lat != nil {
		c.lat.on.Store(true)
	}
	w := startWindow()
	time.Sleep(c.dur)
	w.stop()
	if c.lat != nil {
		c.lat.on.Store(false)
	}
	m1, b1 := sumMsgs(r.clients)
	close(stop)
	wg.Wait()
	if c.afterWindow != nil {
		c.afterWindow(started, r.clients)
	}
	// Let the messages in flight arrive, so the next window starts from an idle rig.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a, _ := sumMsgs(r.clients)
		time.Sleep(20 * time.Millisecond)
		if b, _ := sumMsgs(r.clients); a == b {
			break
		}
	}
	for _, cl := range r.clients {
		select {
		case <-cl.done:
			if !cl.stalled {
				res.closed++
			}
		default:
		}
		if c.lat != nil {
			res.latencies = append(res.latencies, cl.takeLatencies()...)
		}
	}
	dm := float64(m1 - m0)
	res.msgsPerSec = dm / w.wall.Seconds()
	res.cores = w.cpu.Seconds() / w.wall.Seconds()
	if w.cpu > 0 {
		res.perCPU = dm / w.cpu.Seconds()
	}
	if dm > 0 {
		res.bytesPerMsg = float64(b1-b0) / dm
	}
	return res
}

// fanoutTrial sets up a rig, measures one window and tears down.
func fanoutTrial(kind string, c fanCfg) (fanTrial, error) {
	r, err := setupFan(kind, c)
	if err != nil {
		return fanTrial{}, err
	}
	defer r.close()
	return r.measure(), nil
}

func runFanout(o *options, rep *report) error {
	kinds := []string{"depthcast", "gorilla-hub", "raw-tcp"}
	for _, n := range []int{1000, 5000} {
		cfg := fanCfg{clients: n, syms: 4, nlev: 1, warm: o.scale(250*time.Millisecond, time.Second),
			dur: o.scale(time.Second, 5*time.Second), window: 64, bufSize: 16 << 10}
		vals := map[string][]float64{}
		cpus := map[string][]float64{}
		var notes []string
		// All three contenders stay connected for the whole comparison (idle ones cost nothing: no
		// traffic); measurement windows alternate between them.
		rigs := map[string]*fanRig{}
		closeRigs := func() {
			for _, r := range rigs {
				r.close()
			}
		}
		// Each connection takes two descriptors here (client and server side); without room for all
		// three rigs, each trial sets up and tears down its own.
		together := fdLimit() > uint64(2*n*len(kinds)+2000)
		if together {
			for _, k := range kinds {
				r, err := setupFan(k, cfg)
				if err != nil {
					closeRigs()
					return fmt.Errorf("%s with %d clients: %w", k, n, err)
				}
				rigs[k] = r
			}
		}
		for r := 0; r < o.rounds; r++ {
			for _, k := range kinds {
				var t fanTrial
				if together {
					t = rigs[k].measure()
				} else {
					var err error
					if t, err = fanoutTrial(k, cfg); err != nil {
						return fmt.Errorf("%s with %d clients: %w", k, n, err)
					}
				}
				fmt.Fprintf(os.Stderr, "   fanout/%d %-12s %s msgs/s, %.2f cores, %s msgs/CPU-s, %.0f B/msg, lost %d\n",
					n, k, fmtNum(t.msgsPerSec), t.cores, fmtNum(t.perCPU), t.bytesPerMsg, t.closed)
				vals[k] = append(vals[k], t.msgsPerSec)
				cpus[k] = append(cpus[k], t.perCPU)
				if t.closed > 0 {
					notes = append(notes, fmt.Sprintf("%s lost %d clients by round %d", k, t.closed, r+1))
				}
			}
		}
		closeRigs()
		scen := fmt.Sprintf("fanout/%dk", n/1000)
		dc := median(vals["depthcast"])
		note := "4 symbols, every client subscribed to all (full book), ~170 B updates, closed-loop producer (64 msgs in flight per client); per CPU-s counts the whole process (clients too)"
		if len(notes) > 0 {
			note += "; " + fmt.Sprint(notes)
		}
		g := median(vals["gorilla-hub"])
		row := Row{Scenario: scen, Metric: "delivered msgs/s", Value: dc, Unit: "msg/s", Baseline: "gorilla-hub",
			BaselineValue: g, PerCPUSecond: median(cpus["depthcast"]), BaselinePerCPU: median(cpus["gorilla-hub"]),
			Trials: vals["depthcast"], BaselineTrials: vals["gorilla-hub"], Notes: note}
		if n == 1000 {
			row.Target = "≥ 1M msg/s and ≥ 5× gorilla"
			row.Pass = boolp(dc >= 1e6 && g > 0 && dc/g >= 5)
		} else {
			row.Target = "≥ 5× gorilla"
			row.Pass = boolp(g > 0 && dc/g >= 5)
		}
		rep.add(row)
		raw := median(vals["raw-tcp"])
		rep.add(Row{Scenario: scen, Metric: "delivered msgs/s", Value: dc, Unit: "msg/s", Baseline: "raw-tcp",
			BaselineValue: raw, PerCPUSecond: median(cpus["depthcast"]), BaselinePerCPU: median(cpus["raw-tcp"]),
			Trials: vals["depthcast"], BaselineTrials: vals["raw-tcp"], Target: "≥ 40% of raw", Pass: boolp(raw > 0 && dc/raw >= 0.4)})
	}
	if o.profile {
		cfg := fanCfg{clients: 1000, syms: 4, nlev: 1, warm: 400 * time.Millisecond, dur: o.scale(3*time.Second, 8*time.Second),
			window: 64, bufSize: 16 << 10, profile: filepath.Join(o.outDir, "fanout-1k.cpu.pprof")}
		t, err := fanoutTrial("depthcast", cfg)
		if err != nil {
			return err
		}
		rep.note("fanout profile (extra depthcast trial, not in the medians): %s msgs/s under the profiler, written to %s",
			fmtNum(t.msgsPerSec), cfg.profile)
	}
	return nil
}

// runDeflate runs depthcast's fan-out with clients that offer permessage-deflate and clients that do not,
// on updates large enough (40 levels, ~1.3 KB) to pass the 512-byte compression threshold.
func runDeflate(o *options, rep *report) error {
	cfg := fanCfg{clients: 1000, syms: 4, nlev: 40, warm: o.scale(250*time.Millisecond, time.Second),
		dur: o.scale(time.Second, 5*time.Second), window: 32, bufSize: 64 << 10}
	var rate, cpu, wire [2][]float64
	deflated := 0
	var rigs [2]*fanRig
	defer func() {
		for _, r := range rigs {
			if r != nil {
				r.close()
			}
		}
	}()
	for i, def := range []bool{true, false} {
		c := cfg
		c.deflate = def
		r, err := setupFan("depthcast", c)
		if err != nil {
			return err
		}
		rigs[i] = r
	}
	for r := 0; r < o.rounds; r++ {
		for i, def := range []bool{true, false} {
			c := rigs[i].cfg
			t := rigs[i].measure()
			fmt.Fprintf(os.Stderr, "   deflate=%-5v %s msgs/s, %s msgs/CPU-s, %.0f wire B/msg, %d/%d clients negotiated\n",
				def, fmtNum(t.msgsPerSec), fmtNum(t.perCPU), t.bytesPerMsg, t.deflated, c.clients)
			rate[i] = append(rate[i], t.msgsPerSec)
			cpu[i] = append(cpu[i], t.perCPU)
			wire[i] = append(wire[i], t.bytesPerMsg)
			if def {
				deflated = t.deflated
			}
		}
	}
	note := fmt.Sprintf("depthcast only, 1k clients, 40-level updates; %d/1000 clients negotiated deflate; client-side inflate not done (the client counts frames), so CPU is the server's compression plus equal client cost", deflated)
	rep.add(Row{Scenario: "deflate", Metric: "wire bytes/msg", Value: median(wire[0]), Unit: "B", Baseline: "no deflate",
		BaselineValue: median(wire[1]), Trials: wire[0], BaselineTrials: wire[1], Notes: note})
	rep.add(Row{Scenario: "deflate", Metric: "delivered msgs/s", Value: median(rate[0]), Unit: "msg/s", Baseline: "no deflate",
		BaselineValue: median(rate[1]), PerCPUSecond: median(cpu[0]), BaselinePerCPU: median(cpu[1]), Trials: rate[0], BaselineTrials: rate[1]})
	rep.add(Row{Scenario: "deflate", Metric: "msgs per CPU-s", Value: median(cpu[0]), Unit: "msg/CPU-s", Baseline: "no deflate",
		BaselineValue: median(cpu[1]), Trials: cpu[0], BaselineTrials: cpu[1]})
	rep.note("deflate: updates under %d bytes (the default CompressThreshold) are never compressed, so the ~170 B updates of the fanout scenario cost the same with or without deflate", feed.DefaultCompressThreshold)
	return nil
}
