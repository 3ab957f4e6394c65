package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// eventView is the golden form of an accepted Event: decimals as their canonical strings.
type eventView struct {
	Type    string      `json:"type"`
	Symbol  string      `json:"symbol"`
	Seq     uint64      `json:"seq"`
	Time    string      `json:"time"`
	Bids    [][2]string `json:"bids,omitempty"`
	Asks    [][2]string `json:"asks,omitempty"`
	Price   string      `json:"price,omitempty"`
	Size    string      `json:"size,omitempty"`
	Side    string      `json:"side,omitempty"`
	TradeID string      `json:"trade_id,omitempty"`
}

func viewLevels(ls []Level) [][2]string {
	var out [][2]string
	for _, l := range ls {
		out = append(out, [2]string{l.Price.String(), l.Size.String()})
	}
	return out
}

// renderDecode is the golden text of DecodeEvent(data).
func renderDecode(t testing.TB, data []byte) []byte {
	ev, err := DecodeEvent(data)
	if err != nil {
		var ee *EventError
		if !errors.As(err, &ee) || !errors.Is(err, ErrInvalid) || ReasonOf(err) != ee.Reason {
			t.Fatalf("DecodeEvent error %v (%T) is not an *EventError wrapping ErrInvalid", err, err)
		}
		if ee.Reason == ReasonJSON {
			// The message comes from encoding/json, whose wording may change between Go releases.
			return []byte("rejected: " + string(ee.Reason) + "\n")
		}
		return []byte("rejected: " + string(ee.Reason) + "\n" + ee.Msg + "\n")
	}
	v := eventView{Type: ev.Type.String(), Symbol: ev.Symbol, Seq: ev.Seq, Time: ev.Time,
		Bids: viewLevels(ev.Bids), Asks: viewLevels(ev.Asks)}
	if ev.Type == EventTrade {
		v.Price, v.Size, v.Side, v.TradeID = ev.Price.String(), ev.Size.String(), ev.Side.String(), ev.TradeID
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte("accepted\n"), b...), '\n')
}

// checkGolden compares got with the golden file path, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./schema -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestDecodeEventGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := renderDecode(t, data)
			wantReject := strings.HasPrefix(name, "reject_")
			if gotReject := bytes.HasPrefix(got, []byte("rejected")); gotReject != wantReject {
				t.Errorf("fixture %s: rejected = %v, want %v:\n%s", name, gotReject, wantReject, got)
			}
			if ev, err := DecodeEvent(data); err == nil {
				checkEvent(t, ev)
			} else if ev.Type != 0 || ev.Symbol != "" || ev.Bids != nil {
				t.Errorf("rejected record returned a non-zero Event %+v", ev)
			}
			checkGolden(t, strings.TrimSuffix(in, ".json")+".golden", got)
		})
	}
}

// TestDecodeEventConformance pins the malformed records the external conformance check sends.
func TestDecodeEventConformance(t *testing.T) {
	for _, rec := range []string{
		`{"type":"delta","symbol":`,
		`not json at all`,
		`{"type":"teleport","symbol":"X","seq":0}`,
		`{"type":"delta","symbol":"X","seq":0,"bids":[["abc","1"]]}`,
		`{"type":"snapshot","seq":0}`,
		``,
	} {
		for _, data := range [][]byte{[]byte(rec), nil} {
			if data == nil && rec != "" {
				continue
			}
			if ev, err := DecodeEvent(data); err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("DecodeEvent(%q) = %+v, %v; want an invalid-event error", rec, ev, err)
			}
		}
	}
}

func TestDecodeEventLimits(t *testing.T) {
	const head = `{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z",`
	levels := func(n int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `["%d","1"]`, i+1)
		}
		b.WriteByte(']')
		return b.String()
	}
	tests := []struct {
		name string
		rec  string
		want Reason // "" means accepted
	}{
		{"max levels bids", head + `"bids":` + levels(MaxLevels) + `}`, ""},
		{"too many bids", head + `"bids":` + levels(MaxLevels+1) + `}`, ReasonTooBig},
		{"too many asks", head + `"asks":` + levels(MaxLevels+1) + `}`, ReasonTooBig},
		{"record over MaxRecordBytes", head + `"pad":"` + strings.Repeat("x", MaxRecordBytes) + `"}`, ReasonTooBig},
		{"symbol at MaxSymbolLength", strings.Replace(head, `"X"`, `"`+strings.Repeat("S", MaxSymbolLength)+`"`, 1) + `"bids":[]}`, ""},
		{"symbol over MaxSymbolLength", strings.Replace(head, `"X"`, `"`+strings.Repeat("S", MaxSymbolLength+1)+`"`, 1) + `"bids":[]}`, ReasonSymbol},
		{"trade id at MaxTradeIDBytes", `{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":"1","side":"buy","trade_id":"` + strings.Repeat("t", MaxTradeIDBytes) + `"}`, ""},
	}
	for _, tt := range tests {
		ev, err := DecodeEvent([]byte(tt.rec))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want == "":
			checkEvent(t, ev)
		case err == nil:
			t.Errorf("%s: accepted, want %s", tt.name, tt.want)
		case ReasonOf(err) != tt.want:
			t.Errorf("%s: reason %s (%v), want %s", tt.name, ReasonOf(err), err, tt.want)
		}
	}
}

func TestReasonOf(t *testing.T) {
	if r := ReasonOf(errors.New("other")); r != ReasonJSON {
		t.Errorf("ReasonOf(other) = %s", r)
	}
	wrapped := fmt.Errorf("partition 3 offset 9: %w", invalid(ReasonCrossed, "x"))
	if r := ReasonOf(wrapped); r != ReasonCrossed || !errors.Is(wrapped, ErrInvalid) {
		t.Errorf("ReasonOf(wrapped) = %s", r)
	}
	if s := invalid(ReasonSeq, "missing %s", "seq").Error(); s != "bad_seq: missing seq" {
		t.Errorf("Error() = %q", s)
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{EventSnapshot.String(), "snapshot"}, {EventDelta.String(), "delta"}, {EventTrade.String(), "trade"},
		{EventType(9).String(), "EventType(9)"}, {Buy.String(), "buy"}, {Sell.String(), "sell"}, {Side(0).String(), "Side(0)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), "2026-11-24T10:00:00Z"},
		{time.Date(2026, 11, 24, 5, 0, 0, 1, loc), "2026-11-24T10:00:00.000000001Z"},
		{time.Date(2026, 11, 24, 10, 0, 0, 500000000, time.UTC), "2026-11-24T10:00:00.5Z"},
	} {
		if got := FormatTime(tt.t); got != tt.want {
			t.Errorf("FormatTime(%v) = %q; want %q", tt.t, got, tt.want)
		}
	}
}

// checkEvent re-validates an accepted event against the contract of DecodeEvent.
func checkEvent(t testing.TB, ev Event) {
	t.Helper()
	if ev.Symbol == "" || len(ev.Symbol) > MaxSymbolLength || !validSymbol(ev.Symbol) {
		t.Errorf("accepted bad symbol %q", ev.Symbol)
	}
	if ev.Seq == 0 {
		t.Errorf("accepted seq 0")
	}
	tm, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil || tm.Location() != time.UTC || !strings.HasSuffix(ev.Time, "Z") || FormatTime(tm) != ev.Time {
		t.Errorf("time %q is not canonical RFC 3339 UTC: %v", ev.Time, err)
	}
	canonical := func(what string, d Decimal) {
		if d != d.Canonical() || d.Exp > MaxExp {
			t.Errorf("%s %#v is not canonical", what, d)
		}
		if back, err := ParseDecimal(d.String()); err != nil || back != d {
			t.Errorf("%s %#v does not round-trip through %q: %#v, %v", what, d, d.String(), back, err)
		}
	}
	switch ev.Type {
	case EventSnapshot, EventDelta:
		if len(ev.Bids) > MaxLevels || len(ev.Asks) > MaxLevels {
			t.Errorf("accepted %d bids, %d asks", len(ev.Bids), len(ev.Asks))
		}
		var bestBid, bestAsk *Decimal
		for si, side := range [][]Level{ev.Bids, ev.Asks} {
			seen := map[Decimal]bool{}
			for _, l := range side {
				canonical("price", l.Price)
				canonical("size", l.Size)
				if l.Price.Sign() <= 0 {
					t.Errorf("accepted price %v", l.Price)
				}
				if l.Size.Sign() < 0 || (ev.Type == EventSnapshot && l.Size.Sign() == 0) {
					t.Errorf("accepted %s size %v", ev.Type, l.Size)
				}
				if ev.Type == EventSnapshot && seen[l.Price] {
					t.Errorf("accepted snapshot with repeated price %v", l.Price)
				}
				seen[l.Price] = true
				p := l.Price
				if si == 0 && (bestBid == nil || p.Cmp(*bestBid) > 0) {
					bestBid = &p
				}
				if si == 1 && (bestAsk == nil || p.Cmp(*bestAsk) < 0) {
					bestAsk = &p
				}
			}
		}
		if ev.Type == EventSnapshot && bestBid != nil && bestAsk != nil && bestBid.Cmp(*bestAsk) >= 0 {
			t.Errorf("accepted crossed snapshot: bid %v ask %v", bestBid, bestAsk)
		}
		if ev.Price != (Decimal{}) || ev.Size != (Decimal{}) || ev.Side != 0 || ev.TradeID != "" {
			t.Errorf("book event carries trade fields: %+v", ev)
		}
	case EventTrade:
		canonical("price", ev.Price)
		canonical("size", ev.Size)
		if ev.Price.Sign() <= 0 || ev.Size.Sign() <= 0 {
			t.Errorf("accepted trade price %v size %v", ev.Price, ev.Size)
		}
		if ev.Side != Buy && ev.Side != Sell {
			t.Errorf("accepted side %v", ev.Side)
		}
		if len(ev.TradeID) > MaxTradeIDBytes {
			t.Errorf("accepted trade id of %d bytes", len(ev.TradeID))
		}
		if ev.Bids != nil || ev.Asks != nil {
			t.Errorf("trade carries levels: %+v", ev)
		}
		msg := AppendTrade(nil, &ev, false)
		if !json.Valid(msg) {
			t.Errorf("AppendTrade of an accepted trade is not JSON: %s", msg)
		}
	default:
		t.Errorf("accepted type %v", ev.Type)
	}
}
