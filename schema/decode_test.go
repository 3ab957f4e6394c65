package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// quirks are records on which encoding/json has something to say: each must decode as the reference does.
var quirks = []string{
	// Keys: case folding (with Unicode simple folding), escapes, duplicates, null.
	`{"TYPE":"delta","Symbol":"X","sEq":1,"TiMe":"2026-11-24T10:00:00Z","BIDS":[["1","2"]],"aSKS":[["3","4"]]}`,
	`{"type":"delta","ſymbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","asKs":[["3","4"]]}`,
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":"1","ſide":"buy","trade_İd":"x"}`,
	`{"\u0074ype":"delta","symbo\u006c":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","type":"trade","price":"1","size":"1","side":"sell"}`,
	`{"type":"delta","type":null,"symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"seq":null,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":null,"seq":7,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","trade_id":null,"price":null}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":1}`,
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":"1","side":"buy","bids":[["x"]]}`,
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":"1","side":"buy","bids":[[1]]}`,
	// Level lists: duplicates reuse the elements, null leaves them, extra elements are skipped.
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"],["3","4"]],"bids":[["5","6"],null]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"],["3","4"]],"bids":[["5","6"]],"bids":[["7","8"],null]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"],["3","4"]],"bids":[],"bids":[null]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"],["3","4"]],"bids":null,"bids":[null,null]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"]],"bids":[[null,"3"]]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"]],"bids":[["4"]]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"]],"bids":[[]]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2",{"a":[1,{"b":null}]},[],-0.5e+7,true]]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[null]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2"],]}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":{}}`,
	// Strings: escapes, surrogates, invalid UTF-8.
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"\u0031","size":"1","side":"b\u0075y","trade_id":"\ud83d\ude00\ud800x\udc00\u00e9\/\b\f\n\r\t"}`,
	"{\"type\":\"trade\",\"symbol\":\"X\",\"seq\":1,\"time\":\"2026-11-24T10:00:00Z\",\"price\":\"1\",\"size\":\"1\",\"side\":\"buy\",\"trade_id\":\"\xff\xed\xa0\x80\xc3\"}",
	"{\"type\":\"delta\",\"symbol\":\"X\",\"seq\":1,\"time\":\"2026-11-24T10:00:00Z\",\"x\":\"a\x01\"}",
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","x":"\x"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","x":"\u12"}`,
	`{"type":"delta","symbol":"X\u0020Y","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	// Numbers for seq.
	`{"type":"delta","symbol":"X","seq":18446744073709551615,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":18446744073709551616,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1.0,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1e2,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":-1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":-0,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":01,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":0,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":"1","time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":true,"time":"2026-11-24T10:00:00Z"}`,
	// Whitespace and framing.
	" \t\r\n{ \"type\" : \"delta\" , \"symbol\" :\"X\",\"seq\"\n:\n1,\"time\":\"2026-11-24T10:00:00Z\" , \"bids\" : [ [ \"1\" , \"2\" ] ] } \n",
	"\v\f{\"type\":\"delta\",\"symbol\":\"X\",\"seq\":1,\"time\":\"2026-11-24T10:00:00Z\"}\u00a0\u2028",
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}{}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"} x`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z",}`,
	`{"x":[1,2,{"y":{}}],"z":tru}`,
	`{"x":nul}`, `{"x":-}`, `{"x":1.}`, `{"x":1e}`, `{"x":.5}`, `{"x":[}`, `{"x":{"a"}}`, `{"x":{"a":1,}}`, `{}`, `{`, `{"`,
	// Times.
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00.100000000Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00.000Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00.Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00,5Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:60Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2024-02-29T23:59:59Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2023-02-29T23:59:59Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2000-02-29T24:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"1900-02-29T00:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-04-31T00:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-13-01T00:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24t10:00:00z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00.123456789123Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00+00:00"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T5:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00\u005a"}`,
	// Snapshots.
	`{"type":"snapshot","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","1"],["2","1"],["1.0","3"]]}`,
	`{"type":"snapshot","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","1"]],"asks":[["1","1"]]}`,
}

// nested returns a record whose unknown field nests n arrays (so n+1 levels with the record itself).
func nested(n int) string {
	return `{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","x":` +
		strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
}

// compareWithReference fails t unless Decoder and DecodeEvent decode data exactly as the reference does.
func compareWithReference(t testing.TB, data []byte) {
	t.Helper()
	want, wantErr := decodeEventReference(data)
	got, gotErr := DecodeEvent(data)
	if err := sameResult(got, gotErr, want, wantErr); err != nil {
		t.Fatalf("DecodeEvent(%q): %v", data, err)
	}
	// A warm Decoder, into an Event holding an earlier event.
	var d Decoder
	var ev Event
	warm := []byte(`{"type":"snapshot","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","1"],["2","1"],["3","1"]],"asks":[["4","1"]]}`)
	if err := d.Decode(warm, &ev); err != nil {
		t.Fatal(err)
	}
	ev.TradeID, ev.Side, ev.Price = "old", Sell, Decimal{Coef: 7}
	gotErr = d.Decode(data, &ev)
	if gotErr != nil && (len(ev.Bids) != 0 || len(ev.Asks) != 0) {
		t.Fatalf("Decode(%q) failed but left levels in the Event: %+v", data, ev)
	}
	if len(ev.Bids) == 0 {
		ev.Bids = nil
	}
	if len(ev.Asks) == 0 {
		ev.Asks = nil
	}
	if err := sameResult(ev, gotErr, want, wantErr); err != nil {
		t.Fatalf("Decoder.Decode(%q) into a used Event: %v", data, err)
	}
}

func sameResult(got Event, gotErr error, want Event, wantErr error) error {
	switch {
	case (gotErr == nil) != (wantErr == nil):
		return fmt.Errorf("error %v; the reference's is %v (reference event %+v, got %+v)", gotErr, wantErr, want, got)
	case gotErr != nil:
		var ge, we *EventError
		if !errors.As(gotErr, &ge) || !errors.As(wantErr, &we) || !errors.Is(gotErr, ErrInvalid) {
			return fmt.Errorf("error %v (%T) is not an *EventError", gotErr, gotErr)
		}
		if ge.Reason != we.Reason || (we.Reason != ReasonJSON && ge.Msg != we.Msg) {
			return fmt.Errorf("error %q; the reference's is %q", gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, Event{}) {
			return fmt.Errorf("rejected with a non-zero Event %+v", got)
		}
	case !reflect.DeepEqual(got, want):
		return fmt.Errorf("decoded %+v; the reference decodes %+v", got, want)
	}
	return nil
}

func TestDecoderMatchesReference(t *testing.T) {
	records := append([]string(nil), quirks...)
	for _, b := range fixtures(t) {
		records = append(records, string(b))
	}
	records = append(records, nested(maxNestingDepth-1), nested(maxNestingDepth), nested(maxNestingDepth+5),
		`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2",`+
			strings.Repeat("[", maxNestingDepth-3)+strings.Repeat("]", maxNestingDepth-3)+`]]}`,
		`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","2",`+
			strings.Repeat("[", maxNestingDepth-2)+strings.Repeat("]", maxNestingDepth-2)+`]]}`)
	for _, r := range records {
		compareWithReference(t, []byte(r))
	}
	// Every prefix of a record with escapes and nesting, which exercises each truncation point.
	full := `{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00.5Z","price":"1","size":"1",` +
		`"side":"buy","trade_id":"\ud83d\ude00\u00e9\n","bids":[["1","2",[{}]],null],"u":{"a":[1,-2.5e+3,true,false,null,"\u00e9"],"b":{}}}`
	for i := range len(full) + 1 {
		compareWithReference(t, []byte(full[:i]))
	}
}

func FuzzDecoderMatchesReference(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	for _, q := range quirks {
		f.Add([]byte(q))
	}
	for _, q := range duplicateFieldRecords {
		f.Add([]byte(q))
	}
	for _, tc := range laxRecords {
		f.Add([]byte(tc.rec))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareWithReference(t, data)
	})
}

func readFixture(tb testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDecoderAllocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  float64 // the time; a trade adds its id
	}{{"delta4", 1}, {"trade", 2}, {"snapshot25", 1}} {
		data := benchRecords(t)[tc.name]
		var d Decoder
		var ev Event
		allocs := testing.AllocsPerRun(100, func() {
			if err := d.Decode(data, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > tc.max {
			t.Errorf("%s: %.1f allocations a record with a warm Decoder, want at most %.0f", tc.name, allocs, tc.max)
		}
	}
}

func TestDecoderInternsSymbols(t *testing.T) {
	var d Decoder
	var a, b Event
	rec := `{"type":"delta","symbol":"BTC-USD","seq":1,"time":"2026-11-24T10:00:00Z"}`
	if err := d.Decode([]byte(rec), &a); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte(strings.Replace(rec, `"seq":1`, `"seq":2`, 1)), &b); err != nil {
		t.Fatal(err)
	}
	if a.Symbol != "BTC-USD" || unsafe.StringData(a.Symbol) != unsafe.StringData(b.Symbol) {
		t.Errorf("symbol not interned: %q and %q", a.Symbol, b.Symbol)
	}
	// The cache stops growing at its bound, and decoding goes on.
	for i := range MaxInternedSymbols + 10 {
		rec := fmt.Sprintf(`{"type":"delta","symbol":"S%d","seq":1,"time":"2026-11-24T10:00:00Z"}`, i)
		if err := d.Decode([]byte(rec), &a); err != nil || a.Symbol != fmt.Sprintf("S%d", i) {
			t.Fatalf("%s: %+v, %v", rec, a, err)
		}
	}
	if len(d.symbols) != MaxInternedSymbols {
		t.Errorf("cache holds %d symbols, want %d", len(d.symbols), MaxInternedSymbols)
	}
}

func TestDecoderTimeCache(t *testing.T) {
	// Fresh Events each time (no previous time to compare with): the Decoder's own memory of the last time
	// must give every record its own canonical time, shared when it repeats.
	var d Decoder
	rec := func(tm string) []byte {
		return []byte(`{"type":"delta","symbol":"X","seq":1,"time":"` + tm + `"}`)
	}
	steps := []struct{ in, want string }{
		{"2026-11-24T10:00:00.50Z", "2026-11-24T10:00:00.5Z"},
		{"2026-11-24T10:00:00.50Z", "2026-11-24T10:00:00.5Z"}, // not canonical: parsed again
		{"2026-11-24T10:00:00.5Z", "2026-11-24T10:00:00.5Z"},  // the last result: taken as is
		{"2026-11-24T11:00:00.5+01:00", "2026-11-24T10:00:00.5Z"},
		{"bad", ""},
		{"2026-11-24T10:00:00.5Z", "2026-11-24T10:00:00.5Z"},
		{"2026-11-24T10:00:01Z", "2026-11-24T10:00:01Z"},
		{"2026-11-24T10:00:00.5Z", "2026-11-24T10:00:00.5Z"},
	}
	var last string
	for i, s := range steps {
		var ev Event
		err := d.Decode(rec(s.in), &ev)
		if s.want == "" {
			if err == nil {
				t.Errorf("%d: time %q accepted as %q", i, s.in, ev.Time)
			}
			continue
		}
		if err != nil || ev.Time != s.want {
			t.Fatalf("%d: time %q decoded as %q, %v; want %q", i, s.in, ev.Time, err, s.want)
		}
		if i == 2 && unsafe.StringData(ev.Time) != unsafe.StringData(last) {
			t.Errorf("%d: a repeated canonical time was not shared", i)
		}
		last = ev.Time
	}
	allocs := testing.AllocsPerRun(100, func() {
		var ev Event
		if err := d.Decode(rec("2026-11-24T10:00:00.5Z"), &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the record itself
		t.Errorf("%.1f allocations a record repeating the last time into a fresh Event, want at most 1", allocs)
	}
}

func FuzzParseDecimalBytes(f *testing.F) {
	for _, s := range []string{"43000.10", "0.0015", ".5", "5.", ".", "", "1.2.3", "123456789012345678", "1234567890123456789",
		"12345678901234567.8", "0.000000000000000001", "000000000000000000.", "-1", "+1", "1e3", "00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotErr := parseDecimal([]byte(s))
		want, wantErr := ParseDecimal(s)
		if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("parseDecimal(%q) = %#v, %v; ParseDecimal gives %#v, %v", s, got, gotErr, want, wantErr)
		}
	})
}
