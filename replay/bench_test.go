package replay

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// BenchmarkRecorderWrite: records of the simulated exchange through a Recorder with default settings.
func BenchmarkRecorderWrite(b *testing.B) {
	recs := simRecords(b, 10000, 8, 5000)
	var bytes int64
	for _, r := range recs {
		bytes += int64(len(r.Key) + len(r.Value))
	}
	r, err := NewRecorder(RecorderConfig{Dir: b.TempDir(), Logger: quietLogger(), FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bytes / int64(len(recs)))
	b.ResetTimer()
	for i := range b.N {
		if err := r.Write(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCursor: reading a recording back, per record.
func BenchmarkCursor(b *testing.B) {
	recs := simRecords(b, 20000, 8, 5000)
	dir := b.TempDir()
	record(b, RecorderConfig{Dir: dir}, recs)
	rec, err := OpenDirLogger(dir, quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	n := 0
	for n < b.N {
		c, err := rec.Open(context.Background(), time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		for n < b.N {
			if _, err := c.Next(context.Background()); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
			n++
		}
		c.Close()
	}
}
