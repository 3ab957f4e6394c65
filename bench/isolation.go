package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/depthcast/depthcast/feed"
)

// The isolation scenario: depthcast fan-out as in fanout/1k, with and without one client that subscribes
// and then never reads, made like the external conformance check's `slow` client: SO_RCVBUF 4 KiB set on
// the socket before connect (shrinking it later makes the kernel drop segments, and the client then
// drains too slowly to reach the close frame), no reads after the subscribe. The server's kernel buffers
// still take about 2.8 MB for such a socket on loopback (measured on this box: 2.8 MB with the 4 KiB
// receive buffer, 4 MB without) before a write blocks and the send queue starts to fill, so the stalled
// client must be sent a few MB within the trial: updates are wide (isoLevels levels, ~0.5 KB) and there are
// isoClients clients, so each gets a share of the fan-out large enough to pass kernel buffers plus the
// send queue bound (isoQueue, feed.Config.SendQueueBytes; 256 KiB as in the conformance check: 64 KiB, ~120
// updates, closed healthy clients too whenever a neighbour on the box starved the process for ~20 ms) in a
// fraction of a quick trial.
//
// As soon as the producer stops at the end of the window, the stalled client reads its socket and
// reports the close code it finds behind the data, and the time field of the last update before it (the
// close was decided after that update was made, and before the producer stopped: nothing is queued for
// it afterwards but heartbeats). The others' throughput and latency (one message in 8 sampled) are
// compared with the trial without a stalled client in the same round.
//
// The feed's WriteTimeout is set past the end of the trial plus the drain: it is also how long a close frame
// may wait behind data the socket has not taken, and the stalled client only reads after the window. With
// the default 10 s and the full mode's 11 s trial, the close decided at ~0.7 s outlived its deadline
// before the client read, and the server shut the connection without the frame (correctly: a peer that
// reads nothing for WriteTimeout cannot be handed one), so the row saw no 1013.

const (
	isoClients = 200       // 199 healthy + 1 stalled
	isoLevels  = 20        // levels per delta: ~540 B updates
	isoQueue   = 256 << 10 // feed.Config.SendQueueBytes here: the conformance check's --send-queue-bytes
	isoRcvBuf  = 4096      // SO_RCVBUF of the stalled client, set before connect
)

type isoStall struct {
	code        int
	reason      string
	closedAfter time.Duration // last update before the close frame, from the producer's start
	trial       time.Duration // warm + measured window
	drained     int
	drainTook   time.Duration
}

func runIsolation(o *options, rep *report) error {
	warm, dur := o.scale(300*time.Millisecond, time.Second), o.scale(2*time.Second, 10*time.Second)
	base := fanCfg{clients: isoClients, syms: 4, nlev: isoLevels, warm: warm, dur: dur, window: 16, bufSize: 16 << 10,
		rcvBuf: isoRcvBuf, feedCfg: feed.Config{SendQueueBytes: isoQueue, WriteTimeout: warm + dur + 20*time.Second}}
	var okRate, okP99, stRate, stP99, ratios, p99Ratios, codes, after []float64
	var stalls []isoStall
	lost := 0
	for r := 0; r < o.rounds; r++ {
		var roundRate, roundP99 float64
		for _, stalled := range []bool{false, true} {
			c := base
			c.lat = &latencySink{every: 8}
			var st isoStall
			if !stalled {
				c.clients = isoClients - 1 // as many healthy clients as beside the stalled one
			} else {
				c.stalled = func(i int) bool { return i == 0 }
				c.afterWindow = func(start time.Time, clients []*wsClient) {
					sc := clients[0]
					st.trial = time.Since(start)
					st.code = sc.drain(5 * time.Second)
					st.reason = sc.fr.closeReason
					st.drained, st.drainTook = sc.drained, sc.drainTook
					if st.code != 0 && !sc.lastUpdate.IsZero() {
						st.closedAfter = sc.lastUpdate.Sub(start)
					}
					fmt.Fprintf(os.Stderr, "   stalled client: read %d bytes (%d messages) in %.0f ms after the window, close %d %q, last update before it made %.2f s into the %.2f s trial (end: %v)\n",
						st.drained, sc.fr.msgs, ms(st.drainTook), st.code, st.reason, st.closedAfter.Seconds(), st.trial.Seconds(), sc.drainErr)
				}
			}
			t, err := fanoutTrial("depthcast", c)
			if err != nil {
				return err
			}
			s := summarize(t.latencies)
			lost += t.closed
			fmt.Fprintf(os.Stderr, "   isolation stalled=%-5v %s msgs/s to the others, p50 %.2f ms, p99 %.2f ms, lost %d healthy\n",
				stalled, fmtNum(t.msgsPerSec), ms(s.P50), ms(s.P99), t.closed)
			if !stalled {
				okRate, okP99 = append(okRate, t.msgsPerSec), append(okP99, ms(s.P99))
				roundRate, roundP99 = t.msgsPerSec, ms(s.P99)
				continue
			}
			stRate, stP99 = append(stRate, t.msgsPerSec), append(stP99, ms(s.P99))
			if roundRate > 0 {
				ratios = append(ratios, t.msgsPerSec/roundRate)
			}
			if roundP99 > 0 {
				p99Ratios = append(p99Ratios, ms(s.P99)/roundP99)
			}
			stalls = append(stalls, st)
			codes = append(codes, float64(st.code))
			if st.code != 0 {
				after = append(after, st.closedAfter.Seconds())
			}
		}
	}
	within := 0
	var reasons []string
	for _, st := range stalls {
		if st.code == 1013 && st.closedAfter > 0 && st.closedAfter <= st.trial {
			within++
		}
		if st.code == 0 {
			reasons = append(reasons, fmt.Sprintf("no close frame within %.2f s of the trial and 5 s of reading (%s B read)", st.trial.Seconds(), fmtNum(float64(st.drained))))
			continue
		}
		reasons = append(reasons, fmt.Sprintf("%d %q after %.2f s of %.2f s, %s B read after the window", st.code, st.reason,
			st.closedAfter.Seconds(), st.trial.Seconds(), fmtNum(float64(st.drained))))
	}
	setup := fmt.Sprintf("%d clients (%d + 1 stalled, SO_RCVBUF %d B set before connect), %d-level updates (~540 B), send queue bound (feed.Config.SendQueueBytes) %d KiB, WriteTimeout %.0f s (past the trial, so the close frame can wait for the stalled client's first read after the window); healthy clients lost: see below; closed-loop producer (16 msgs in flight per healthy client), so p99 includes that queueing",
		isoClients, isoClients-1, isoRcvBuf, isoLevels, isoQueue>>10, base.feedCfg.WriteTimeout.Seconds())
	setup = strings.Replace(setup, "healthy clients lost: see below", fmt.Sprintf("%d healthy clients lost over all trials", lost), 1)
	code := modeCode(codes)
	rep.add(Row{Scenario: "isolation", Metric: "stalled client close code", Value: float64(code), Unit: "code", Trials: codes,
		Target: "1013 within the trial, every trial", Pass: boolp(within == len(stalls) && len(stalls) > 0),
		Notes: fmt.Sprintf("%d of %d trials closed with 1013 within the trial; per trial: %s", within, len(stalls), strings.Join(reasons, "; "))})
	rep.add(Row{Scenario: "isolation", Metric: "stalled client closed after", Value: median(after), Unit: "s", Trials: after,
		Notes: "median over the trials with a close: time field of the last update the stalled client read before the close frame, from the producer's start (the close was decided after it)"})
	v, b := median(stRate), median(okRate)
	rep.add(Row{Scenario: "isolation", Metric: "others' msgs/s", Value: v, Unit: "msg/s", Baseline: "no stalled client", BaselineValue: b,
		Trials: stRate, BaselineTrials: okRate, Target: "≥ 95% of no-stall", Pass: boolp(len(ratios) > 0 && median(ratios) >= 0.95),
		Notes: setup + "; stalled/no-stall ratio per round: " + fmtRatios(ratios)})
	p, bp := median(stP99), median(okP99)
	rep.add(Row{Scenario: "isolation", Metric: "others' p99", Value: p, Unit: "ms", Baseline: "no stalled client", BaselineValue: bp,
		Trials: stP99, BaselineTrials: okP99, Target: "≤ 1.2× no-stall", Pass: boolp(len(p99Ratios) > 0 && median(p99Ratios) <= 1.2),
		Notes: "stalled/no-stall ratio per round: " + fmtRatios(p99Ratios)})
	return nil
}

// modeCode is the most frequent close code (the smallest on a tie).
func modeCode(codes []float64) int {
	s := slices.Clone(codes)
	slices.Sort(s)
	best, bestN := 0, 0
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = int(s[i]), j-i
		}
		i = j
	}
	return best
}

func fmtRatios(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, ", ")
}
