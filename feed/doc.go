// Package feed is the WebSocket side of depthcast: sessions, subscriptions, per-connection bounded send
// queues, conflation, heartbeats, close codes, and the HTTP endpoints beside the feed (docs/protocol.md §2–3).
//
// A Server receives book changes from the book writers through PublishBook, PublishTrade and
// PublishStatus, and reads books through the Books it was given, whose Do runs a function on a symbol's
// writer. All messages of a symbol are built on that symbol's writer, so a new subscriber's snapshot and
// the updates after it come from one book version.
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
// Beside the WebSocket endpoint the Server serves the dashboard at / (HTML, CSS and JavaScript embedded
// from web/, no external assets) and its health at GET /v1/stats (Server.Stats), answered from atomic
// counters updated where the metrics are.
//
// The door: every WebSocket upgrade, whatever its route, passes the guard of Config.Guard before the
// upgrade (Origin allow-list, token through the Authenticator the caller wires in, per-IP and per-token
// connection limits, per-IP handshake rate), and a connection holds its slots until its socket closes.
// Connections get a WebSocket ping every PingInterval and are closed when silent past IdleTimeout.
//
// Replay (docs/protocol.md §4): with Config.Replayer set, /replay plays recorded history. Each playback gets a
// private set of hubs, fed by a private book writer the Replayer prepares, so its messages are built by the
// same code as the live feed's, plus the replay flag. Playback waits whenever the connection's queue is above
// a quarter of its limits, so a replay is never dropped nor closed as a slow consumer; Config.MaxReplays
// bounds the playbacks running at once. A playback runs on its own goroutine, stopped and waited for when
// the client seeks, starts another replay or goes away.
//
// Drain: Shutdown refuses new handshakes (503) and turns /readyz to 503 at once, lets each connection's
// queue go out and closes it with 1001 "server draining"; after DrainTimeout whatever is still connected is
// dropped. Shutdown may be called from any goroutine while publishing goes on.
//
// Concurrency: Server is safe for concurrent use. The Publish methods for one symbol must come from one
// goroutine at a time (the symbol's book writer), which is what the ingest side guarantees.
//
// Lock order. A goroutine that holds a lock on the left may take one further right, never the reverse:
//
//	Server.dirtyMu → hub.mu
//	Server.hubsMu  → hub.mu → session.mu
//	                 hub.mu → flushShard.mu   (session.send starts a flusher after releasing session.mu)
//	replayConn.mu  → replayPlay.mu
//
// Leaves, never held while another of these is taken: Server.sessMu, netConn.wmu, guard.mu and
// admission.mu (admission.release lets go of admission.mu before it takes guard.mu). session.mu is
// released before netConn.wmu is taken: a connection's writer (its flusher round or its write loop) takes
// wmu alone. One lock crosses goroutines: when a flusher's non-blocking writev leaves part of a batch,
// flushOnce keeps the wmu it got with TryLock and hands it to the connection's write loop, which unlocks
// it after writing the rest (restBatch.locked); nothing else unlocks a mutex it did not lock. Book writers
// call into hub.mu while running on a book writer goroutine; the feed never calls Books.Do with
// one of these locks held.
package feed
