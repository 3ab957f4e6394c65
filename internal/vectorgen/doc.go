// Package vectorgen generates the shared client test vectors in testdata/vectors from the Go
// implementation (schema's decimals and checksum, book's levels and view diffs): decimal canonicalisation,
// checksum strings and CRC-32 at several depths, and message sequences a client must follow or reject.
//
// Regenerate with `go test ./internal/vectorgen -update`; without -update the test fails when the committed
// files differ from what Go generates. Files is a pure function and safe for concurrent use.
package vectorgen
