package feed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/depthcast/depthcast/schema"
)

// replayRequest is a client message on /replay.
type replayRequest struct {
	Op       string   `json:"op"`
	ID       *int64   `json:"id"`
	Symbols  []string `json:"symbols"`
	Channels []string `json:"channels"`
	Depth    *int     `json:"depth"`
	From     *string  `json:"from"`
	To       *string  `json:"to"`
	Speed    *float64 `json:"speed"`
	Action   string   `json:"action"`
}

// replayWant is what a connection asked to replay.
type replayWant struct {
	id       int64
	symbols  []string
	book     bool
	trades   bool
	depth    int
	from, to time.Time
}

// replayConn is the replay protocol of one /replay connection (docs/protocol.md §4): replay,
// replay_control and ping. Requests come from the connection's read goroutine; each playback runs on a
// goroutine of its own, which stop cancels and waits for, and publishes into a Hub of its own, fed by the
// private books the Replayer prepares.
type replayConn struct {
	srv  *Server
	sess *session

	mu     sync.Mutex
	want   *replayWant // the last replay asked for; nil before the first
	speed  float64
	paused bool
	slot   bool // holds one of the server's MaxReplays slots
	play   *replayPlay
}

// replayPlay is one playback of a replayConn.
type replayPlay struct {
	cancel     context.CancelFunc
	done       chan struct{}
	superseded atomic.Bool // stopped by a later replay or seek, not by the connection closing
	mu         sync.Mutex
	run        ReplayRun // set once prepared
}

var _ protocol = (*replayConn)(nil)

var errReplayClosed = errors.New("connection closing")

func (rc *replayConn) handle(data []byte) {
	var req replayRequest
	id, ok := rc.sess.decodeRequest(data, &req, &req.ID)
	if !ok {
		return
	}
	switch req.Op {
	case "replay":
		rc.start(id, &req)
	case "replay_control":
		rc.control(id, &req)
	case "ping":
		rc.sess.pong(id)
	default:
		rc.sess.unknownOp(id, req.Op, " on /replay: want replay, replay_control or ping")
	}
}

func (rc *replayConn) bad(id int64, msg string) { rc.sess.malformed(id, CodeBadRequest, msg) }

func parseReplayTime(field string, v *string) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %.40q is not an RFC 3339 time", field, *v)
	}
	return t, nil
}

// start validates a replay request and starts it, replacing the connection's current playback.
func (rc *replayConn) start(id int64, req *replayRequest) {
	s, sess := rc.srv, rc.sess
	w := &replayWant{id: id}
	if !sess.checkSymbolCount(id, req.Symbols) || !sess.authorize(id, req.Symbols) {
		return
	}
	channels := req.Channels
	if len(channels) == 0 {
		channels = []string{schema.ChannelBook, schema.ChannelTrades}
	}
	for _, c := range channels {
		switch c {
		case schema.ChannelBook:
			w.book = true
		case schema.ChannelTrades:
			w.trades = true
		default:
			sess.malformed(id, CodeUnknownChannel, fmt.Sprintf("unknown channel %.40q: want book or trades", c))
			return
		}
	}
	if req.Depth != nil {
		w.depth = *req.Depth
	}
	if !sess.checkDepth(id, w.depth) {
		return
	}
	speed := 1.0
	if req.Speed != nil {
		speed = *req.Speed
	}
	if err := CheckReplaySpeed(speed); err != nil {
		rc.bad(id, err.Error())
		return
	}
	var err error
	if w.from, err = parseReplayTime("from", req.From); err != nil {
		rc.bad(id, err.Error())
		return
	}
	if w.to, err = parseReplayTime("to", req.To); err != nil {
		rc.bad(id, err.Error())
		return
	}
	if !w.from.IsZero() && !w.to.IsZero() && w.from.After(w.to) {
		rc.bad(id, "from is after to")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
	defer cancel()
	first, last, err := s.cfg.Replayer.Range(ctx)
	if err != nil {
		sess.reply(id, CodeUnavailable, "recorded history not available: "+err.Error())
		return
	}
	if w.from.IsZero() || w.from.Before(first) {
		w.from = first
	}
	if w.to.IsZero() || w.to.After(last) {
		w.to = last
	}
	if w.from.After(last) || w.to.Before(first) || w.from.After(w.to) {
		sess.reply(id, CodeBadRequest, fmt.Sprintf("nothing recorded in that range: history runs from %s to %s", schema.FormatTime(first), schema.FormatTime(last)))
		return
	}
	known, err := s.cfg.Replayer.Symbols(ctx)
	if err != nil {
		sess.reply(id, CodeUnavailable, "recorded history not available: "+err.Error())
		return
	}
	var unknown []string
	for _, sym := range req.Symbols {
		if slices.Contains(w.symbols, sym) {
			continue
		}
		if !slices.Contains(known, sym) && s.hub.lookup(sym) == nil {
			unknown = append(unknown, sym)
			continue
		}
		w.symbols = append(w.symbols, sym)
	}
	if len(unknown) > 0 {
		sess.reply(id, CodeUnknownSymbol, "no such symbol in the recording: "+quoteList(unknown))
		return
	}

	if !rc.restart(id, func() { rc.want, rc.speed, rc.paused = w, speed, false }) {
		return
	}
	rc.launch(id, w.from)
}

// restart stops the connection's playback, if any, and holds a replay slot for the next one: the slot it
// held, or a new one. It answers limit_exceeded and reports false when the server has none left. set, when
// not nil, runs under rc.mu once the slot is held.
func (rc *replayConn) restart(id int64, set func()) bool {
	rc.supersede()
	rc.mu.Lock()
	if !rc.slot && !rc.srv.takeReplaySlot() {
		rc.mu.Unlock()
		rc.sess.reply(id, CodeLimitExceeded, fmt.Sprintf("%d replays are running, the server's limit", rc.srv.cfg.MaxReplays))
		return false
	}
	rc.slot = true
	if set != nil {
		set()
	}
	rc.mu.Unlock()
	return true
}

// control applies a replay_control action to the connection's replay.
func (rc *replayConn) control(id int64, req *replayRequest) {
	rc.mu.Lock()
	w := rc.want
	var run ReplayRun
	if rc.play != nil {
		rc.play.mu.Lock()
		run = rc.play.run
		rc.play.mu.Unlock()
	}
	rc.mu.Unlock()
	if w == nil {
		rc.sess.reply(id, CodeBadRequest, "no replay on this connection: send a replay op first")
		return
	}
	switch req.Action {
	case "pause", "resume":
		rc.mu.Lock()
		rc.paused = req.Action == "pause"
		rc.mu.Unlock()
		if run != nil {
			if req.Action == "pause" {
				run.Pause()
			} else {
				run.Resume()
			}
		}
	case "speed":
		if req.Speed == nil {
			rc.bad(id, "speed: missing speed")
			return
		}
		if err := CheckReplaySpeed(*req.Speed); err != nil {
			rc.bad(id, err.Error())
			return
		}
		rc.mu.Lock()
		rc.speed = *req.Speed
		rc.mu.Unlock()
		if run != nil {
			_ = run.SetSpeed(*req.Speed)
		}
	case "seek":
		to, err := parseReplayTime("to", req.To)
		if err != nil || to.IsZero() {
			if err == nil {
				err = errors.New("seek: missing to")
			}
			rc.bad(id, err.Error())
			return
		}
		if to.Before(w.from) || to.After(w.to) {
			rc.sess.reply(id, CodeBadRequest, fmt.Sprintf("seek to %s is outside the replay's range %s to %s", schema.FormatTime(to), schema.FormatTime(w.from), schema.FormatTime(w.to)))
			return
		}
		if !rc.restart(id, nil) {
			return
		}
		rc.launch(id, to)
	case "":
		rc.bad(id, "replay_control: missing action")
	default:
		rc.bad(id, fmt.Sprintf("unknown action %.40q: want pause, resume, speed or seek", req.Action))
	}
}

// launch starts a playback of rc.want from from; replay_started carries id.
func (rc *replayConn) launch(id int64, from time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &replayPlay{cancel: cancel, done: make(chan struct{})}
	rc.mu.Lock()
	rc.play = p
	w, speed := rc.want, rc.speed
	rc.mu.Unlock()
	go rc.playback(ctx, p, w, id, from, speed)
}

// stop cancels the current playback, if any, and waits for it to end. Messages it queued stay queued.
func (rc *replayConn) stop() { rc.halt(false) }

// supersede stops the current playback for a later replay or seek: one that had not answered yet with
// replay_started answers replay_end "superseded" with its own id, so that every request gets a reply.
func (rc *replayConn) supersede() { rc.halt(true) }

func (rc *replayConn) halt(superseded bool) {
	rc.mu.Lock()
	p := rc.play
	rc.play = nil
	rc.mu.Unlock()
	if p != nil {
		p.superseded.Store(superseded)
		p.cancel()
		<-p.done
	}
}

// closed stops the playback and gives back the slot: the connection is going away.
func (rc *replayConn) closed() {
	rc.stop()
	rc.mu.Lock()
	if rc.slot {
		rc.slot = false
		rc.srv.releaseReplaySlot()
	}
	rc.mu.Unlock()
}

// playback prepares a run into a Hub of its own, subscribes the connection to it (snapshots as the books
// stood at from), plays, and ends with replay_end unless it was stopped.
func (rc *replayConn) playback(ctx context.Context, p *replayPlay, w *replayWant, id int64, from time.Time, speed float64) {
	defer close(p.done)
	s, sess := rc.srv, rc.sess
	hub := newReplayHub()
	run, err := s.cfg.Replayer.Prepare(ctx, ReplayParams{From: from, To: w.to, Speed: speed, Wait: rc.wait}, hub)
	if err == nil && ctx.Err() != nil {
		run.Close()
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			if p.superseded.Load() {
				sess.sendBytes(schema.AppendReplayEnd(nil, id, ReplayEndSuperseded, ""))
			}
			return
		}
		rc.release(p)
		code := CodeUnavailable
		if errors.Is(err, ErrReplayRequest) {
			code = CodeBadRequest
		}
		sess.reply(id, code, "replay cannot start: "+err.Error())
		return
	}
	defer run.Close()
	p.mu.Lock()
	p.run = run
	p.mu.Unlock()
	// A control that came while preparing applies now (the connection's state is the truth).
	rc.mu.Lock()
	if rc.paused {
		run.Pause()
	}
	if rc.speed != speed {
		speed = rc.speed
		_ = run.SetSpeed(speed)
	}
	rc.mu.Unlock()
	sess.sendBytes(schema.AppendReplayStarted(nil, id, from, w.to, speed))
	// Nothing is published before run.Run: the trades of every symbol are subscribed at once, then each book.
	if w.trades {
		entries := make([]*entry, len(w.symbols))
		for i, sym := range w.symbols {
			entries[i] = hub.entry(sym)
		}
		hub.subscribeTrades(sess, entries, nil)
	}
	for _, sym := range w.symbols {
		if w.book {
			if err := hub.subscribeReplayBook(ctx, run, sess, sym, w.depth); err != nil {
				return // stopped
			}
		}
	}
	err = run.Run(ctx)
	if ctx.Err() != nil {
		return
	}
	rc.release(p)
	if err != nil {
		if errors.Is(err, errReplayClosed) {
			return
		}
		sess.sendBytes(schema.AppendReplayEnd(nil, w.id, ReplayEndError, err.Error()))
		return
	}
	sess.sendBytes(schema.AppendReplayEnd(nil, w.id, ReplayEndDone, ""))
}

// release gives back the slot of a playback that ended on its own, if it is still the current one. The
// playback stays current, so that stop still waits for its goroutine to end.
func (rc *replayConn) release(p *replayPlay) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.play == p && rc.slot {
		rc.slot = false
		rc.srv.releaseReplaySlot()
	}
}

// wait holds the playback while the connection's send queue is above a quarter of its limits, so that a
// replay read as fast as the client reads never drops anything nor trips the slow-consumer close.
func (rc *replayConn) wait(ctx context.Context) error {
	sess := rc.sess
	maxBytes, maxMsgs := rc.srv.cfg.SendQueueBytes/4, rc.srv.cfg.SendQueueMessages/4
	var timer *time.Timer
	for {
		sess.mu.Lock()
		closing, queued, msgs := sess.closing, sess.queuedBytes, len(sess.queue)
		sess.mu.Unlock()
		if closing {
			return errReplayClosed
		}
		if queued <= maxBytes && msgs <= maxMsgs {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(time.Millisecond)
			defer timer.Stop()
		} else {
			timer.Reset(time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
	}
}
