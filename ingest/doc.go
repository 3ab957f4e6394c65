// Package ingest turns the upstream event stream into order books: it reads the Kafka topic (or, through
// the same Pipeline, a recording), decodes and validates each record, checks each symbol's sequence, applies
// the events to the books and tells a Publisher what changed. It does not import the feed: the feed
// satisfies Publisher, cmd wires the two.
//
// # Pipeline
//
// A Pipeline has Shards writer goroutines. A symbol belongs to one shard (FNV-1a hash of the symbol), and
// that shard's goroutine is the only one that ever touches the symbol's *book.Book. Submit decodes a record
// in the caller's goroutine and hands the event to the shard through a bounded queue (QueueSize): when the
// queue is full, Submit blocks, so a slow book step slows the Kafka reads instead of growing memory.
//
// Per symbol, in the writer (docs/protocol.md §1):
//   - the first valid event creates the book (not live) and calls PublishStatus;
//   - seq not above the last applied seq: a duplicate, skipped without effect (skipped{reason=duplicate});
//   - seq above last+1: a gap (counted, logged); a live book is marked stale and PublishStatus is called,
//     unless the event is a snapshot, which makes the book live again;
//   - a snapshot is applied and published (PublishBook(b, true)); a delta is applied and published when the
//     book is live and skipped otherwise (skipped{reason=not_live}); a trade is published (PublishTrade)
//     whether or not the book is live;
//   - a record that does not decode or validate, or that the book refuses, is counted by reason, logged at
//     Warn with its partition and offset (rate-limited), optionally copied to a dead-letter topic, and
//     skipped. It never stops ingestion, never changes a book and does not advance the symbol's seq, so the
//     next event of that symbol shows a gap.
//
// # Concurrency contract
//
//   - Every Publisher call for a symbol comes from that symbol's writer goroutine, in event order. Calls for
//     symbols of different shards run concurrently. The *book.Book passed to a Publisher is valid only
//     during the call: read what you need, do not keep it, do not block.
//   - Do(ctx, symbol, fn) runs fn on the symbol's writer goroutine between two events: fn sees one consistent
//     book version, and anything fn hands on (a new subscriber's snapshot) cannot be overtaken by a later
//     Publish call for that symbol. fn must not call Do, Submit or Flush (it would deadlock its shard).
//   - Flush waits until every event submitted before it has been applied and published.
//   - Close stops accepting records, lets the writers drain their queues, and waits for them.
//
// # Kafka
//
// Consumer.Run reads every partition of the topic (or Config.Partitions) with one partition reader each,
// which sends kafka-go's Fetch requests itself (reader.go). There is no consumer group and nothing is committed: each node reads the whole stream from
// Config.Start. A partition reader decodes each record and hands the events to the writers in batches, one
// queue entry per shard for up to 128 events, as soon as the broker has nothing more past them, a batch is
// full, or 2 ms went by without a next record (batch.go); a shard's batches hold at most QueueSize events in all.
// At start it reads each partition's high watermark; Ready turns true once every partition has
// been read and applied up to it. A watchdog polls the high watermarks every PollInterval (for the lag
// gauge) and restarts a reader whose fetch has hung for StallTimeout while records are waiting. If the log
// start moved past a reader's position (retention, DeleteRecords), the reader resumes at the log start: the
// seq check sees that as a gap. A topic deleted and created again (its offsets below the reader's position,
// or its topic ID changed: checked before a reader's first fetch and before a fetch that comes late, see
// topicid.go) is read from its start as a new history: its books are stale and forget their seqs until
// their next snapshot.
//
// Outages: a partition that for OutageTimeout has neither delivered a record nor been seen caught up with
// its high watermark has its live books marked stale by their writers (PublishStatus), and Ready is false
// until it reads again. A held book comes back live, republished as a snapshot of its own content
// (PublishBook(b, true)), when its next event follows its last seq or when its partition reads again
// (outage.go). The monitor goroutine decides; the writers change the books.
//
// Tracing: with Config.TracerProvider set, each partition reader groups the records it submits into
// "ingest.fetch" spans (topic, partition, offset range, symbols, count) and each writer groups what it
// applies into "ingest.apply" spans linked to those; without it no span code runs (trace.go).
//
// Transactions: the partition readers fetch read_committed (up to the last stable offset) and drop the
// records of aborted transactions with the aborted-transaction list of each fetch response; transaction
// control markers are skipped (counted by MetricControlRecords), and a marker counts as read like any
// record (reader.go, control.go).
package ingest
