package ingest

import (
	"encoding/binary"

	"github.com/segmentio/kafka-go"
)

// isControlRecord reports whether m is a transaction control marker (a commit or abort written by the
// broker when a transactional producer ends a transaction). kafka-go hands these to readers as ordinary
// messages instead of hiding them as the protocol asks of clients. A marker's key is a version (int16, 0)
// and a type (int16: 0 abort, 1 commit), and its value a version (int16, 0) and the coordinator epoch
// (int32): binary, never a JSON object, so no upstream record can be taken for one.
func isControlRecord(m *kafka.Message) bool {
	if len(m.Key) != 4 || len(m.Value) != 6 {
		return false
	}
	if binary.BigEndian.Uint16(m.Key) != 0 || binary.BigEndian.Uint16(m.Value) != 0 {
		return false
	}
	typ := binary.BigEndian.Uint16(m.Key[2:])
	return typ == 0 || typ == 1
}
