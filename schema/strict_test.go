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
