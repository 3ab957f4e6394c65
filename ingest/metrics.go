package ingest

// Metric names of the Kafka side. The Prometheus exporter turns them into
// depthcast_ingest_partition_offset and so on. The books' writers report theirs under the same prefix
// (engine.MetricEvents and the others).
const (
	MetricPartitionOffset = "depthcast.ingest.partition.offset"   // gauge {partition}: next offset to read
	MetricPartitionLag    = "depthcast.ingest.partition.lag"      // gauge {partition}: high watermark - next offset
	MetricReaderRestarts  = "depthcast.ingest.reader.restarts"    // counter {partition}: stuck or failed readers restarted
	MetricDeadLetter      = "depthcast.ingest.deadletter.records" // counter {result}: written, dropped, failed
	MetricControlRecords  = "depthcast.ingest.records.control"    // counter {partition}: transaction markers skipped
)
