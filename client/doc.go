// Package client is a Go client of the depthcast WebSocket feed (docs/protocol.md §2). It subscribes to book and
// trade channels, keeps a local order book per subscribed symbol built from the feed's snapshot and updates,
// checks every update's prev_seq chain and checksum, and repairs what it cannot trust on its own: a gap or a
// checksum mismatch resubscribes that symbol for a fresh snapshot, a lost connection is redialled with
// exponential backoff and jitter and every book subscription resumes from the last seq it holds.
//
// # Events on a channel
//
// Everything the client learns arrives on one channel, Events: BookEvent (a book changed, with a copy of its
// top levels), TradeEvent, StatusEvent (live, stale, or resyncing after a gap or a bad checksum), StateEvent
// (connecting, connected, waiting to reconnect, closed) and ErrorEvent. A channel was chosen over callbacks
// because the reading goroutine then never runs user code: a consumer selects on Events beside its own
// context and timers, a slow consumer cannot corrupt the books or hold the client's lock, and Close never
// waits for user code to return. The cost is a copy of the top Config.ViewDepth levels per book event;
// Book returns a copy of a whole book on demand.
//
// The channel is buffered (Config.EventBuffer). A consumer that stops reading stops the client's reading too:
// the feed then sees a slow consumer and closes the connection with 1013, after which the client reconnects
// and resumes. Read Events until it is closed. The replies that SubscribeBook, SubscribeTrades and
// Unsubscribe wait for are read by the same goroutine, so a goroutine that both reads Events and subscribes
// should pass them a context with a deadline, or subscribe before the events pile up.
//
// # Connections and close codes
//
// Dial makes the first connection and returns its error if it fails. After that the client reconnects on its
// own: a close with 1001 (the node is shutting down or draining) is redialled at once; 1013 (try again later)
// and HTTP 429 wait a longer backoff; a connection that delivers nothing, not even a heartbeat, for
// Config.StaleTimeout is dropped and redialled. A close with 1008 (policy violation) stops the client unless
// Config.RetryOnPolicy is set, as do 1002, 1003, 1007 and 1009 and a handshake refused with 400, 401, 403 or 404:
// repeating what the feed refused would be refused again. The reason is a *CloseError or *HandshakeError,
// returned by Err once Events is closed.
//
// # Refused restores
//
// A node that has just started may not know every symbol yet (it learns them from the stream as it catches
// up), and refuses a whole subscribe naming one it does not know with unknown_symbol, or one it is too busy
// for with unavailable. A node still catching up also refuses to resume a book it has not read as far as the
// seq the client holds: that unavailable names the symbol (ServerError.Symbol) and concerns it alone, the
// request's other symbols stand; it comes before the "subscribed" reply, which then leaves the symbol out,
// or after it when the node could not serve a listed symbol in time. When the feed so refuses a request the
// client made on its own (the restore after a reconnect, a resubscribe after a gap or a checksum mismatch),
// the client retries each refused symbol on a request of its own: at once after unknown_symbol on a request
// of several symbols, so that the known ones are subscribed, and then with exponential backoff and jitter
// (Config.MinBackoff doubling with each refusal of the symbol up to Config.MaxBackoff, started anew by a
// reconnect) until the symbol is subscribed, unsubscribed or the client closed. Each refused book reports a
// StatusEvent with StatusWaiting, the *ServerError and the Delay before its retry; its next BookEvent shows
// it live again. Any other refusal (limit_exceeded, unauthorized, bad_request) would be refused again: the
// subscription is dropped and reported by an ErrorEvent per symbol wrapping ErrDropped and the
// *ServerError. One goroutine sends every retry; Close stops it.
//
// Trades missed while disconnected are not replayed: the feed keeps no trade history for resume.
//
// # Concurrency
//
// A Client is safe for concurrent use. One goroutine per client reads the connection, applies messages to
// the books and sends events; each connection has one more goroutine, which closes it when the client is
// closed; one more sends the retries of refused subscriptions. Close stops them all and closes Events;
// nothing is left running after it returns.
package client
