package schema

import (
	"encoding/json"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const testTime = "2026-11-24T10:00:00.000000001Z"

func TestEncodersGolden(t *testing.T) {
	trade, err := DecodeEvent([]byte(`{"type":"trade","symbol":"BTC-USD","seq":1202,"time":"` + testTime + `","price":"43000.20","size":"0.50","side":"buy","trade_id":"t-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	sell := Event{Type: EventTrade, Symbol: "ETH-USD", Seq: 7, Time: "2026-11-24T10:00:00Z",
		Price: Decimal{300015, 2}, Size: Decimal{15, 4}, Side: Sell, TradeID: "id \"quoted\" \\ \n\x01"}
	tests := []struct {
		name string
		out  []byte
	}{
		{"book_snapshot", AppendBookMessage(nil, &BookMessage{
			Type: TypeSnapshot, Symbol: "BTC-USD", Seq: 1200, Time: testTime, PriceExp: 3, SizeExp: 4,
			Bids:     []IntLevel{{43000100, 20000}, {42999000, 15000}},
			Asks:     []IntLevel{{43000200, 15000}, {43001000, 15}},
			Checksum: 3735928559,
		})},
		{"book_snapshot_empty", AppendBookMessage(nil, &BookMessage{Type: TypeSnapshot, Symbol: "BTC-USD", Seq: 1, Time: testTime})},
		{"book_snapshot_replay", AppendBookMessage(nil, &BookMessage{
			Type: TypeSnapshot, Symbol: "BTC-USD", Seq: 5, Time: testTime, PriceExp: 1, SizeExp: 0,
			Bids: []IntLevel{{430001, 2}}, Asks: []IntLevel{{430002, 1}}, Checksum: 1, Replay: true,
		})},
		{"book_update", AppendBookMessage(nil, &BookMessage{
			Type: TypeUpdate, Symbol: "BTC-USD", Seq: 1201, PrevSeq: 1200, Time: testTime, PriceExp: 1, SizeExp: 1,
			Bids:     []IntLevel{{430001, 0}},
			Checksum: 123456789,
		})},
		{"book_update_both_sides_max_values", AppendBookMessage(nil, &BookMessage{
			Type: TypeUpdate, Symbol: "BTC-USD", Seq: math.MaxUint64, PrevSeq: math.MaxUint64 - 1, Time: testTime, PriceExp: 18, SizeExp: 18,
			Bids:     []IntLevel{{math.MaxInt64, 1}},
			Asks:     []IntLevel{{1, math.MaxInt64}, {2, 0}},
			Checksum: math.MaxUint32, Replay: true,
		})},
		{"trade", AppendTrade(nil, &trade, false)},
		{"trade_sell_escaped_id_replay", AppendTrade(nil, &sell, true)},
		{"trade_no_id", AppendTrade(nil, &Event{Type: EventTrade, Symbol: "X", Seq: 1, Time: testTime, Price: Decimal{1, 0}, Size: Decimal{1, 0}, Side: Buy}, false)},
		{"status_stale", AppendStatus(nil, "BTC-USD", StatusStale, false)},
		{"status_live_replay", AppendStatus(nil, "BTC-USD", StatusLive, true)},
		{"subscribed_book", AppendSubscribed(nil, "subscribed", 1, ChannelBook, []string{"BTC-USD", "ETH-USD"}, 25, 0)},
		{"subscribed_trades", AppendSubscribed(nil, "subscribed", 2, ChannelTrades, []string{"BTC-USD"}, 0, 0)},
		{"subscribed_book_no_id_no_symbols", AppendSubscribed(nil, "subscribed", -1, ChannelBook, nil, 0, 100)},
		{"unsubscribed_book", AppendSubscribed(nil, "unsubscribed", 4, ChannelBook, []string{"ETH-USD"}, 25, 0)},
		{"error", AppendError(nil, 1, "unknown_symbol", "no such symbol: FOO-BAR")},
		{"error_no_id_escaped", AppendError(nil, -1, "bad_request", "bad JSON near \"}\\\x00\xff")},
		{"error_id_zero", AppendError(nil, 0, "unknown_op", "unknown op \"x\"")},
		{"error_symbol", AppendSymbolError(nil, 7, "ETH-USD", "unavailable", "ETH-USD is not available now")},
		{"heartbeat", AppendHeartbeat(nil, testTime)},
		{"pong", AppendPong(nil, 5, testTime)},
		{"pong_no_id", AppendPong(nil, -1, testTime)},
		{"replay_started", AppendReplayStarted(nil, 3, replayFrom, replayFrom.Add(90*time.Minute), 2.5)},
		{"replay_started_no_id_speed_0", AppendReplayStarted(nil, -1, replayFrom, replayFrom.Add(90*time.Minute), 0)},
		{"replay_end_done", AppendReplayEnd(nil, 3, "done", "")},
		{"replay_end_error_escaped", AppendReplayEnd(nil, 0, "error", "segment 00000001: \"bad\" block")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v map[string]any
			if err := json.Unmarshal(tt.out, &v); err != nil {
				t.Fatalf("not a JSON object: %v\n%s", err, tt.out)
			}
			if _, ok := v["type"].(string); !ok {
				t.Errorf("no type: %s", tt.out)
			}
			checkGolden(t, filepath.Join("testdata", "messages", tt.name+".golden"), append(tt.out, '\n'))
		})
	}
}

var replayFrom = time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)

// TestAppendAppends checks that the encoders append to dst rather than overwrite it.
func TestAppendAppends(t *testing.T) {
	prefix := []byte("prefix")
	m := &BookMessage{Type: TypeSnapshot, Symbol: "X", Seq: 1, Time: testTime}
	for name, out := range map[string][]byte{
		"book":      AppendBookMessage(prefix[:6:6], m),
		"status":    AppendStatus(prefix[:6:6], "X", StatusLive, false),
		"pong":      AppendPong(prefix[:6:6], 1, testTime),
		"heartbeat": AppendHeartbeat(prefix[:6:6], testTime),
		"error":     AppendError(prefix[:6:6], 1, "c", "m"),
		"replay":    AppendReplayEnd(prefix[:6:6], 1, "done", ""),
		"string":    AppendString(prefix[:6:6], "s"),
		"decimal":   AppendDecimal(prefix[:6:6], 15, 4),
	} {
		if !strings.HasPrefix(string(out), "prefix") || !json.Valid(out[6:]) && name != "decimal" {
			t.Errorf("%s: %q", name, out)
		}
	}
}

// TestBookMessageDecimals checks the levels of a book message against the canonical decimal strings.
func TestBookMessageDecimals(t *testing.T) {
	out := AppendBookMessage(nil, &BookMessage{Type: TypeSnapshot, Symbol: "BTC-USD", Seq: 1, Time: testTime, PriceExp: 3, SizeExp: 6,
		Bids: []IntLevel{{43000100, 2000000}, {42999000, 1500000}}, Asks: []IntLevel{{43000200, 1500}}})
	var v struct {
		Bids, Asks [][2]string
		Checksum   uint32
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	want := `[[43000.1 2] [42999 1.5]] [[43000.2 0.0015]]`
	if got := strings.Join([]string{fmtLevels(v.Bids), fmtLevels(v.Asks)}, " "); got != want {
		t.Errorf("levels %s; want %s", got, want)
	}
}

func fmtLevels(ls [][2]string) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, l[0]+" "+l[1])
	}
	return "[[" + strings.Join(parts, "] [") + "]]"
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"BTC-USD", `"BTC-USD"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb\rc\td", `"a\nb\rc\td"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"é€😀", `"é€😀"`},
		{"\xff", `"\ufffd"`},
		{"a\xc3", `"a\ufffd"`},                   // truncated sequence
		{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`}, // UTF-8-encoded surrogate
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"</script>&", `"</script>&"`},
	}
	for _, tt := range tests {
		got := AppendString(nil, tt.in)
		if string(got) != tt.want {
			t.Errorf("AppendString(%q) = %s; want %s", tt.in, got, tt.want)
		}
		checkStringRoundTrip(t, tt.in)
	}
	for b := range 256 {
		checkStringRoundTrip(t, string([]byte{byte(b)}))
		checkStringRoundTrip(t, "x"+string([]byte{byte(b)})+"y")
	}
}

// checkStringRoundTrip checks that AppendString(s) is a JSON string that decodes as encoding/json's own
// encoding of s does: s itself when valid UTF-8, otherwise s with each invalid byte replaced by U+FFFD.
func checkStringRoundTrip(t testing.TB, s string) {
	t.Helper()
	out := AppendString(nil, s)
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("AppendString(%q) = %q is not a JSON string: %v", s, out, err)
	}
	want := strings.ToValidUTF8(s, "\ufffd")
	if utf8.ValidString(s) {
		want = s
	} else {
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
	}
	if got != want {
		t.Errorf("AppendString(%q) = %s decodes to %q; want %q", s, out, got, want)
	}
}

func TestChecksum(t *testing.T) {
	const example = "43000.1:2;42999:1.5;|43000.2:1;" // docs/protocol.md §2
	tests := []struct {
		name       string
		bids, asks []IntLevel
		pexp, sexp uint8
		str        string
	}{
		{"protocol example", []IntLevel{{430001, 20}, {429990, 15}}, []IntLevel{{430002, 10}}, 1, 1, example},
		{"protocol example, canonical scales", []IntLevel{{430001, 2}, {42999, 15}}, []IntLevel{{430002, 1}}, 1, 0, ""},
		{"protocol example, scaled integers", []IntLevel{{43000100, 20000}, {42999000, 15000}}, []IntLevel{{43000200, 10000}}, 3, 4, example},
		{"protocol example, max scale", []IntLevel{{43000100, 2e18}, {42999000, 15e17}}, []IntLevel{{43000200, 1e18}}, 3, 18, example},
		{"empty book", nil, nil, 2, 2, "|"},
		{"bids only", []IntLevel{{15, 15}}, nil, 4, 4, "0.0015:0.0015;|"},
		{"asks only", nil, []IntLevel{{100, 3}}, 0, 0, "|100:3;"},
		{"extremes", []IntLevel{{math.MaxInt64, math.MinInt64}}, nil, 18, 0, "9.223372036854775807:-9223372036854775808;|"},
	}
	// {42999, 15} at price exp 1 is 4299.9: only the sizes of that case are canonical, so it must differ.
	tests[1].str = "43000.1:15;4299.9:15;|43000.2:1;"
	tests[1].sexp, tests[1].bids[0].Size, tests[1].bids[1].Size = 0, 15, 15
	for _, tt := range tests {
		want := crc32.ChecksumIEEE([]byte(tt.str))
		if got := Checksum(tt.bids, tt.asks, tt.pexp, tt.sexp); got != want {
			t.Errorf("%s: Checksum = %d; want crc32(%q) = %d", tt.name, got, tt.str, want)
		}
	}
	// Pinned so that a change of CRC polynomial or of the string cannot go unnoticed.
	if got := Checksum([]IntLevel{{430001, 20}, {429990, 15}}, []IntLevel{{430002, 10}}, 1, 1); got != 2185181894 {
		t.Errorf("protocol example: checksum %d; want 2185181894", got)
	}
}

// TestPlain8 checks AppendString's eight-byte test against the bytes it copies as they are: every byte
// value in every position among plain neighbours, and random words.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	check := func(w [8]byte) {
		want := true
		var x uint64
		for i, c := range w {
			want = want && plain(c)
			x |= uint64(c) << (8 * i)
		}
		if got := plain8(x); got != want {
			t.Fatalf("plain8(%q) = %v, want %v", w[:], got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', '~', '!', '#', '[', ']', 0x7f} {
				w := [8]byte{fill, fill, fill, fill, fill, fill, fill, fill}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(r.Uint32())
			if r.IntN(4) != 0 {
				w[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		check(w)
	}
}
