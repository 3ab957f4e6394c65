// Package replay records the event stream to files and plays recorded history back through the same
// ingest, book and feed path as the live stream.
//
// A Source is recorded history: a directory of recordings written by a Recorder, or the Kafka topic
// itself read by timestamp. A Cursor reads one Source in recorded order.
package replay
