// Package node puts one depthcast node together and runs it: its input (the Kafka consumer of package
// ingest, or a recording's player) and the books it feeds (package engine), the feed (package feed) with its
// Hub, the HTTP server with its timeouts and per-IP connection cap, and the metrics served at /metrics.
//
// There is one way to wire a node, in Node.Run: the Hub first (it needs nothing), then the input whose books
// publish to it, then the feed server over the Hub and the input's books. The depthcast command, the
// benchmarks, the examples and the tests (through node/nodetest) all build nodes this way.
//
// # Concurrency contract
//
// Run may be called once; Close may be called from any goroutine and waits for Run to return. Addr, TLS and
// Feed may be read once Started is closed. Stopping drains the clients first (1001 "server draining"),
// then stops the HTTP server, then the input: goroutines the node started have all returned when Run does.
package node
