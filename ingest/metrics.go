package ingest

// Metric names of the Kafka side. The Prometheus exporter turns them into
// depthcast_ingest_partition_offset and so on. The books' writers report theirs under the same prefix
// (engine.MetricEvents and the others).
const (
	metricPartitionOffset = "depthcast.ingest.partition.offset"   // gauge {partition}: next offset to read
	metricPartitionLag    = "depthcast.ingest.partition.lag"      // gauge {partition}: high watermark - next offset
	metricReaderRestarts  = "depthcast.ingest.reader.restarts"    // counter {partition}: stuck or failed readers restarted
	metricDeadLetter      = "depthcast.ingest.deadletter.records" // counter {result}: written, dropped, failed
	metricControlRecords  = "depthcast.ingest.records.control"    // counter {partition}: transaction markers skipped
)
