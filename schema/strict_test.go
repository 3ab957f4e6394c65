package schema

import (
	"errors"
	"testing"
)

// duplicateFieldRecords name a field of the schema twice; each must be refused as bad_json.
var duplicateFieldRecords = []string{
	`{"type":"delta","symbol":"OTHER","SYMBOL":"VICTIM","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["42","42"]]}`,
	`{"type":"delta","symbol":"OTHER","symbol":"VICTIM","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["42","42"]]}`,
	`{"type":"delta","Symbol":"X","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"SEQ":2,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1","1"]],"Bids":null}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","asks":[],"asks":[]}`,
	`{"type":"delta","TYPE":"snapshot","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","symbol":null,"symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":"1","side":"buy","trade_id":"a","TRADE_ID":"b"}`,
	`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","PRICE":"2","size":"1","side":"buy"}`,
	`{"type":"delta","\u0073ymbol":"X","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
	`{"type":"delta","ſymbol":"X","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z"}`,
}

func TestDecodeEventRefusesDuplicateFields(t *testing.T) {
	for _, rec := range duplicateFieldRecords {
		_, err := DecodeEvent([]byte(rec))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Reason != ReasonJSON {
			t.Errorf("DecodeEvent(%s) = %v; want a %s rejection", rec, err, ReasonJSON)
		}
	}
	// Unknown fields may repeat, and each field of the schema named once is fine in any letter case.
	for _, rec := range []string{
		`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","x":1,"x":2,"X":3}`,
		`{"TYPE":"delta","Symbol":"X","SeQ":1,"time":"2026-11-24T10:00:00Z","BIDS":[["1","1"]]}`,
	} {
		if _, err := DecodeEvent([]byte(rec)); err != nil {
			t.Errorf("DecodeEvent(%s) = %v; want it accepted", rec, err)
		}
	}
}

func TestStrictDecimal(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"1", true}, {"43000.25", true}, {"0.001", true}, {"0042999", true}, {"2.000", true},
		{"123456789012345678901234567890", true}, // digits: range is ParseDecimal's concern
		{"", false}, {".", false}, {".5", false}, {"98.", false}, {"+98", false}, {"-0", false}, {"-1", false},
		{"1e2", false}, {"1E2", false}, {"1.5e-3", false}, {" 1", false}, {"1 ", false}, {"1..2", false},
		{"1.2.3", false}, {"0x10", false}, {"Inf", false}, {"NaN", false}, {"１", false}, {"1_000", false},
	} {
		if got := strictDecimal([]byte(tc.in)); got != tc.ok {
			t.Errorf("strictDecimal(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

// laxRecords are records with decimals or levels outside the upstream contract, and their reasons.
var laxRecords = []struct {
	rec    string
	reason Reason
}{
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["1e2","1"]]}`, ReasonPrice},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["+98","1"]]}`, ReasonPrice},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","asks":[[".5","1"]]}`, ReasonPrice},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","asks":[["98.","1"]]}`, ReasonPrice},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["98","-0"]]}`, ReasonSize},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["98","1e0"]]}`, ReasonSize},
	{`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1e2","size":"1","side":"buy"}`, ReasonPrice},
	{`{"type":"trade","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","price":"1","size":".5","side":"buy"}`, ReasonSize},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["98","1","x"]]}`, ReasonJSON},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["98"]]}`, ReasonJSON},
	{`{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[[]]}`, ReasonJSON},
}

func TestDecodeEventStrictDecimalsAndLevels(t *testing.T) {
	for _, tc := range laxRecords {
		_, err := DecodeEvent([]byte(tc.rec))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Reason != tc.reason {
			t.Errorf("DecodeEvent(%s) = %v; want a %s rejection", tc.rec, err, tc.reason)
		}
	}
	ok := `{"type":"delta","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":[["0043000.10","0"],["1","2.50"]]}`
	if _, err := DecodeEvent([]byte(ok)); err != nil {
		t.Errorf("DecodeEvent(%s) = %v; want it accepted", ok, err)
	}
}
