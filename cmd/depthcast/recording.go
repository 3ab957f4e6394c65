package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/depthcast/depthcast/replay"
)

// runRecording runs "recording verify DIR".
func runRecording(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("recording", "recording verify [flags] DIR",
		"verify reads every block of the recording in DIR, checking every checksum and record against the\n"+
			"index, and prints a summary: segments, blocks, records, time range, partitions and any damage (with\n"+
			"the file and byte offset). It exits 1 when the recording is damaged.", stderr)
	var lf logFlags
	lf.register(fs)
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			return usageErr(parseFlags(fs, args[:1]))
		}
		return usageError{errString("want: recording verify [flags] DIR")}
	}
	args = args[1:]
	var dir string
	if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") {
		dir, args = args[n-1], args[:n-1]
	}
	if err := parseFlags(fs, args); err != nil {
		return usageErr(err)
	}
	if dir == "" {
		return usageError{errString("the recording directory is required")}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return usageError{err}
	}
	rec, err := replay.OpenDirLogger(dir, log)
	if err != nil {
		return err
	}
	defer rec.Close()
	sum, err := rec.Verify(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d segments, %d blocks, %d records, %d symbols\n", dir, len(sum.Segments), sum.Blocks, sum.Records, sum.Symbols)
	if sum.Records > 0 {
		fmt.Fprintf(stdout, "  time  %s to %s (%v)\n", sum.First.Format(time.RFC3339Nano), sum.Last.Format(time.RFC3339Nano), sum.Last.Sub(sum.First))
	}
	for _, s := range sum.Segments {
		fmt.Fprintf(stdout, "  %s  %d bytes, %d blocks, %d records, index %s\n", s.File, s.Bytes, s.Blocks, s.Records, s.Index)
		if s.Damage != nil {
			fmt.Fprintf(stdout, "    DAMAGED: %v\n", s.Damage)
		}
	}
	for _, p := range sum.Partitions {
		fmt.Fprintf(stdout, "  partition %d: %d records, offsets %d to %d", p.Partition, p.Records, p.FirstOffset, p.LastOffset)
		if p.Backwards > 0 {
			fmt.Fprintf(stdout, ", %d not above the previous offset", p.Backwards)
		}
		fmt.Fprintln(stdout)
	}
	if len(sum.Damage) > 0 {
		fmt.Fprintf(stdout, "DAMAGED: %d problems\n", len(sum.Damage))
		return fmt.Errorf("recording %s is damaged: %w", dir, sum.Damage[0])
	}
	fmt.Fprintln(stdout, "OK")
	return nil
}
