// Package replay records the event stream to files and plays recorded history back through the same
// ingest, book and feed path as the live stream.
//
// A Source is recorded history: a directory of recordings written by a Recorder, or the Kafka topic
// itself read by timestamp. A Cursor reads one Source in recorded order.
//
// # Recording
//
// A Recorder writes raw records (partition, offset, Kafka timestamp, key, value) to a directory of
// segment files: zstd-compressed blocks, each with a CRC-32C, and per segment an index of its blocks (file
// offset, earliest and latest record time, the symbols with events and with a snapshot in it). FORMAT.md
// describes the format byte by byte. Set as ingest.Config.Books.Tap (an engine.Config.Tap), a Recorder
// records exactly what a Consumer's readers hand to the pipeline.
//
// OpenDir opens a recording as a Source. Missing or damaged indexes are rebuilt by reading the segments
// (with a warning); damaged data is served up to the damage, and then reported as a *FormatError naming the
// file and the byte offset. ReadSegment reads one segment held in memory.
//
// # Concurrency contract
//
//   - Recorder.Write is safe for concurrent use; records from one goroutine keep their order. A background
//     goroutine writes the open block every FlushInterval and closes segments that reached SegmentAge;
//     Close stops it, and Write after Close returns ErrClosed.
//   - A Recording is immutable once opened and safe for concurrent use: each Open returns an independent
//     Cursor with its own file handle and decompressor. A Cursor is not safe for concurrent use.
//   - Nothing in the recording side reads the clock except the Recorder (segment age, flush interval).
//
// # Playback
//
// A Player plays a Source through a private engine.Pipeline with one writer, so its Publisher sees every
// record in recorded order and the same recording always gives the same calls. NewPlayer applies the
// records before From without pacing, which leaves the books as they stood at From; Run then plays up to To,
// paced by the records' times at a speed factor (0: as fast as the consumer's Wait lets it). Pause, Resume
// and SetSpeed are safe from any goroutine while Run runs; a seek is a new Player. Memory is a Source over
// records in memory, Kafka one over the topic (plain fetch requests, no goroutines), and Library caches the
// symbols a Source holds. A Player and the cursor it reads are owned by the goroutine that runs it; NewPlayer
// and Run start no goroutine besides the pipeline's writer, which Close stops.
package replay
