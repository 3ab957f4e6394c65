// Package book keeps one L2 order book per symbol: the total size resting at each price on each side.
//
// Book is not safe for concurrent use; one writer per symbol. The package is pure: no goroutines, no I/O,
// no clock, no logging. Callers (ingest) own the single writer and hand results to readers (feed) by value.
//
// # Numbers
//
// Prices and sizes arrive as schema.Decimal and are stored as int64 ticks and lots in a per-book scale:
// PriceExp and SizeExp are the numbers of fractional digits. The scale grows when an input carries more
// fractional digits than the book holds ("100.5" then "100.25" moves prices from 1 to 2 digits): every
// stored level is multiplied by 10^k. If that, or an input at the new scale, would overflow int64 the
// event is refused with ErrScale and the book is left unchanged. A delete (size 0) never grows the scale:
// a price with more digits than the book holds cannot be in it, so deleting it is a no-op. A snapshot keeps
// the current scale when its levels fit in it, and otherwise starts again at the scale the snapshot needs.
// Every level the book returns (Top, Changes, ViewDiff, Size) is in the scale current at the call.
//
// # Data structure
//
// Each side is a slice of levels sorted WORST-FIRST (bids by ascending price, asks by descending price),
// so the best level is the last element and the rank of index i is len-1-i. Market activity concentrates
// at the top of the book, where an insert or delete moves only the few elements after it. Lookups are
// binary searches. Internally an ask's price is stored negated, so both sides are ascending by one key and
// share one code path; the public API always uses real prices.
//
// A side holds at most MaxLevels levels (DefaultMaxLevels unless SetMaxLevels says otherwise): a snapshot
// or delta that would pass it is refused with ErrTooManyLevels and the book is unchanged.
//
// A delta of more than a few dozen levels is not applied level by level, where each insert moves the
// levels below it and the cost grows with the size of the book: its levels are sorted and merged with the
// side in one pass, the old side kept for undo.
//
// ApplyDelta edits the slices while writing an undo log. The usual delta, valid and within the book's
// scales, is checked, converted and applied level by level in one pass; at the first level that is not,
// the log is replayed backwards and the delta goes the general way: validated and converted whole first,
// the book rescaled if it needs more digits, then applied. If the result is crossed (best bid >= best ask)
// the log is replayed backwards and the book is exactly as before. On success the log, sorted by side and
// price, gives the net Changes. Scratch slices are reused, so a warm book does not allocate per update.
//
// # Views
//
// ViewDiff turns the last delta's Changes into the update a client holding only the top n levels per side
// needs: changed levels it sees, levels pushed out of its view (sent with size 0) and levels pulled into
// it. It starts at the best changed price and, between changes, uses the rank shift (levels inserted minus
// deleted so far) to jump straight to the levels crossing the n boundary, so its cost does not depend on
// the size of the book.
package book
