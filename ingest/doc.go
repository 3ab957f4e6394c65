// Package ingest reads the upstream Kafka topic into the books: a Consumer reads every partition (or
// Config.Partitions) with one partition reader each and hands the records to the book engine (package
// engine), whose writers apply them and tell a Publisher what changed. It does not import the feed: the
// feed satisfies engine.Publisher and reads the books through the Consumer (engine.Books); the node wires
// the two.
//
// # Reading
//
// A partition reader sends kafka-go's Fetch requests itself (reader.go). There is no consumer group and
// nothing is committed: each node reads the whole stream from Config.Start (earliest, latest, or a time
// found with ListOffsets by timestamp). A reader decodes each record into an engine.Batcher and hands the
// batches over as soon as the broker has nothing more past them, a batch is full, or 2 ms went by without a
// next record (handoff.go). At start the Consumer reads each partition's high watermark; Ready turns true
// once every partition has been read and applied up to it.
//
// A watchdog (the monitor goroutine) polls the high watermarks every PollInterval (for the lag gauge),
// restarts a reader whose fetch has hung for StallTimeout while records are waiting, and starts readers for
// partitions added to the topic. If the log start moved past a reader's position (retention,
// DeleteRecords) or the offsets went backwards (a re-created topic), the reader resumes at the log start
// and the books of its partition go stale until their next snapshot (engine.Pipeline.Restart). A topic
// re-created and written past a reader's position is found by its topic ID, checked before a reader's first
// fetch and before a fetch that comes late (topicid.go), and read from its start the same way.
//
// Outages: a partition that for OutageTimeout has neither delivered a record nor been seen caught up with
// its high watermark has its live books held stale (engine.Pipeline.Hold), and Ready is false until it
// reads again (outage.go). The monitor decides; the writers change the books.
//
// Transactions: the partition readers fetch read_committed (up to the last stable offset) and drop the
// records of aborted transactions with the aborted-transaction list of each fetch response; transaction
// control markers are skipped (counted by metricControlRecords), and a marker counts as read like any
// record (reader.go, control.go).
//
// Rejected records go, with DeadLetterTopic set, to a dead-letter topic with the reason in their headers
// (deadletter.go). Tracing: with Config.TracerProvider (or Books.TracerProvider) set, each partition reader
// groups what it hands over into "ingest.fetch" spans (topic, partition, offset range, symbols, count)
// that the writers' apply spans link to; without it no span code runs.
//
// # Concurrency contract
//
// A Consumer's Run may be called once at a time; Ready and Do are safe from any goroutine. Each partition
// reader, its hand-off and its Batcher belong to one goroutine; the monitor reads their progress through
// atomics.
package ingest
