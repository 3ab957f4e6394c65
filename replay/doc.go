// Package replay records the event stream to files and plays recorded history back through the same
// ingest, book and feed path as the live stream.
//
// A Source is recorded history: a directory of recordings written by a Recorder, or the Kafka topic
// itself read by timestamp. A Cursor reads one Source in recorded order.
//
// # Playback
//
// A Player plays a Source through a private ingest.Pipeline with one writer, so its Publisher sees every
// record in recorded order and the same recording always gives the same calls. NewPlayer applies the
// records before From without pacing, which leaves the books as they stood at From; Run then plays up to To,
// paced by the records' times at a speed factor (0: as fast as the consumer's Wait lets it). Pause, Resume
// and SetSpeed are safe from any goroutine while Run runs; a seek is a new Player. Memory is a Source over
// records in memory, Kafka one over the topic (plain fetch requests, no goroutines), and Library caches the
// symbols a Source holds.
package replay
