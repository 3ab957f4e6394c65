// Package feed is the WebSocket side of depthcast: a registry of symbols and their subscribers, sessions
// with bounded send queues, conflation, heartbeats, close codes, the door, and the HTTP API beside the feed
// (docs/protocol.md §2–4). Its parts, each a type in files of its own name:
//
//   - Hub (hub.go, view.go): the registry. It is the engine.Publisher of the books: their writers call its
//     Publish methods, and it encodes each change once per view and queues it for the view's subscribers.
//     Subscribing runs on the symbol's book writer, through engine.Books.Do, so a new subscriber's snapshot
//     and the updates after it come from one book version. The live Server serves one Hub; each replay
//     playback owns a Hub of its own, whose messages carry the replay flag.
//   - Server (server.go): the routes, the sessions, Run's timers (heartbeats, pings, conflated flushes, the
//     sweep of idle views) and Shutdown. A node builds it in one order: NewHub, then the books publishing to
//     the Hub, then New.
//   - session (session.go, flusher.go, netconn.go, frame.go, framecheck.go): one connection, its send queue
//     and writers, its close; handler.go receives gws's events.
//   - the protocols of the routes: liveConn (live.go) on /ws, replayConn (replay_conn.go) on /replay, picked
//     when the route is registered; replay.go is the contract of recorded history (Replayer).
//   - guard (guard.go, guard_conn.go): the door.
//   - api (api.go, stats.go, dashboard.go): the HTTP endpoints and the dashboard.
//
// Encode once, write many: every update is encoded once per (symbol, depth, interval) view and framed
// once; the same bytes are queued for every subscriber of the view, and compressed at most once for all
// connections that negotiated permessage-deflate.
//
// Backpressure: publishing never blocks. Each connection has a queue bounded in bytes and messages;
// everything queued goes out with one writev call. On plain TCP connections a flusher goroutine per shard
// of connections (GOMAXPROCS shards, each flusher running only while it has work) writes each dirty
// connection once per round without blocking; what a full socket leaves, and every write on other
// connections (TLS), goes through the connection's own write loop, started when needed and ended when
// the queue drains. A connection whose queue passes its limit is closed with 1013; its close frame follows
// the data already on its way, with WriteTimeout to go out. A write that does not complete within
// WriteTimeout closes the connection with 1013 too: the frame it cut is finished first, so that the close
// frame starts at a frame boundary. Both count as slow consumers.
//
// Beside the WebSocket routes the api serves the dashboard at / (HTML, CSS and JavaScript embedded from
// web/, no external assets) and the feed's health at GET /v1/stats (Server.Stats), answered from atomic
// counters updated where the metrics are.
//
// The door: every WebSocket upgrade, whatever its route, passes the guard of Config.Guard before the
// upgrade (Origin allow-list, token through the Authenticator, whose auth.Grant applies on every route that
// yields data, per-IP and per-token connection limits, per-IP handshake rate), and a connection holds its
// slots until its socket closes. Connections get a WebSocket ping every PingInterval and are closed when
// silent past IdleTimeout.
//
// Replay (docs/protocol.md §4): with Config.Replayer set, /replay plays recorded history. Each playback gets a
// Hub of its own, fed by private books the Replayer prepares, so its messages are built by the same code as
// the live feed's, plus the replay flag. Playback waits whenever the connection's queue is above
// a quarter of its limits, so a replay is never dropped nor closed as a slow consumer; Config.MaxReplays
// bounds the playbacks running at once. A playback runs on its own goroutine, stopped and waited for when
// the client seeks, starts another replay or goes away.
//
// Drain: Shutdown refuses new handshakes (503) and turns /readyz to 503 at once, lets each connection's
// queue go out and closes it with 1001 "server draining"; after DrainTimeout whatever is still connected is
// dropped. Shutdown may be called from any goroutine while publishing goes on.
//
// Concurrency: Server and Hub are safe for concurrent use. The Publish methods for one symbol must come from
// one goroutine at a time (the symbol's book writer), which is what the engine guarantees. A connection's
// protocol runs on its read goroutine only.
//
// Lock order. A goroutine that holds a lock on the left may take one further right, never the reverse:
//
//	Hub.dirtyMu → entry.mu   (Hub.flushConflated)
//	entry.mu    → session.mu
//	entry.mu    → flushShard.mu   (session.send starts a flusher after releasing session.mu)
//	replayConn.mu → replayPlay.mu
//
// Several entry.mu are held at once only by Hub.subscribeTrades, taken in symbol order. Leaves, never held
// while another of these is taken: Hub.mu (the symbol map), Server.sessMu, netConn.wmu, guard.mu and
// admission.mu (admission.release lets go of admission.mu before it takes guard.mu). session.mu is
// released before netConn.wmu is taken: a connection's writer (its flusher round or its write loop) takes
// wmu alone. One lock crosses goroutines: when a flusher's non-blocking writev leaves part of a batch,
// flushOnce keeps the wmu it got with TryLock and hands it to the connection's write loop, which unlocks
// it after writing the rest (restBatch.locked); nothing else unlocks a mutex it did not lock. Book writers
// call into entry.mu while running on a book writer goroutine; the feed never calls Books.Do with
// one of these locks held.
package feed
