// Package engine is the book engine: it turns upstream records into order books and tells a Publisher what
// changed. It knows nothing of Kafka or files: the Kafka consumer (package ingest) and a replay's player
// (package replay) hand it records, and the feed publishes what it reports and reads books through Books.
//
// # Pipeline
//
// A Pipeline has Config.Shards writer goroutines. A symbol belongs to one shard (FNV-1a hash of the
// symbol), and that shard's goroutine is the only one that ever touches the symbol's *book.Book. Submit
// decodes a record in the caller's goroutine and hands the event to the shard through a bounded queue
// (Config.QueueSize); a Batcher does the same for a stream of records, one queue entry per shard for up to
// 128 events (batch.go). When a queue is full they block, so a slow book step slows the input instead of
// growing memory.
//
// Per symbol, in the writer (docs/protocol.md §1):
//   - the first valid event creates the book (not live) and calls PublishStatus;
//   - seq not above the last applied seq: a duplicate, skipped without effect (skipped{reason=duplicate});
//   - seq above last+1: a gap (counted, logged); a live book is marked stale and PublishStatus is called,
//     unless the event is a snapshot, which makes the book live again;
//   - a snapshot is applied and published (PublishBook(b, true)); a delta is applied and published when the
//     book is live and skipped otherwise (skipped{reason=not_live}); a trade is published (PublishTrade)
//     whether or not the book is live;
//   - a record that does not decode or validate, whose Kafka key is not its symbol, or that the book refuses
//     (crossed, past Config.MaxBookLevels) is counted by reason, logged at Warn with its partition and
//     offset (rate-limited), passed to Config.OnReject, and skipped. It never stops ingestion, never changes
//     a book and does not advance the symbol's seq, so the next event of that symbol shows a gap.
//
// Holds (hold.go): the input may have the writers mark a partition's live books stale while it is out of
// contact (Hold) and revive them when it reads again (Release), or mark them stale until their next
// snapshot when records were lost below its position (Restart).
//
// Tracing: with Config.TracerProvider set, each batch (or event submitted alone) is applied inside an
// "ingest.apply" span linked to the span it was handed over under; without it no span code runs (trace.go).
//
// # Concurrency contract
//
//   - Every Publisher call for a symbol comes from that symbol's writer goroutine, in event order. Calls for
//     symbols of different shards run concurrently. The *book.Book passed to a Publisher is valid only
//     during the call: read what you need, do not keep it, do not block.
//   - Do(ctx, symbol, fn) runs fn on the symbol's writer goroutine between two events: fn sees one
//     consistent book version, and anything fn hands on (a new subscriber's snapshot) cannot be overtaken by
//     a later Publish call for that symbol. When Do returns nil fn has run; when it returns an error fn has
//     not run and never will (Books). fn must not call Do, Submit or Flush (it would deadlock its shard).
//   - Submit may be called from several goroutines, and so may several Batchers each on its own goroutine;
//     the records of one symbol must come in order through one of them.
//   - Flush waits until every event submitted before it has been applied and published.
//   - Close stops accepting records, lets the writers drain their queues, and waits for them.
package engine
