package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/depthcast/depthcast/client"
	"github.com/depthcast/depthcast/schema"
)

// vectorSeq is a sequence of testdata/vectors/sequences.json (described in its README.md).
type vectorSeq struct {
	Name   string `json:"name"`
	Symbol string `json:"symbol"`
	Depth  int    `json:"depth"`
	Steps  []struct {
		Message   json.RawMessage `json:"message"`
		Reconnect *struct {
			Resume uint64 `json:"resume"`
		} `json:"reconnect"`
		Expect *struct {
			Seq            uint64      `json:"seq"`
			Bids           [][2]string `json:"bids"`
			Asks           [][2]string `json:"asks"`
			ChecksumString string      `json:"checksum_string"`
		} `json:"expect"`
		Error string `json:"error"`
	} `json:"steps"`
}

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("../testdata/vectors/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// The decimals the client hands out are the shared vectors' canonical strings.
func TestVectorsDecimals(t *testing.T) {
	var f struct {
		Valid   []struct{ In, Out string }   `json:"valid"`
		Invalid []struct{ In, Error string } `json:"invalid"`
	}
	readVectors(t, "decimals.json", &f)
	for _, v := range f.Valid {
		d, err := schema.ParseDecimal(v.In)
		if err != nil || d.String() != v.Out {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %s", v.In, d, err, v.Out)
		}
	}
	for _, v := range f.Invalid {
		want := map[string]error{"overflow": schema.ErrOverflow, "not_decimal": schema.ErrNotDecimal}[v.Error]
		if _, err := schema.ParseDecimal(v.In); !errors.Is(err, want) {
			t.Errorf("ParseDecimal(%q): %v, want %v", v.In, err, want)
		}
	}
}

// The client verifies a snapshot of each checksums.json case at each depth against the vector's CRC-32, and
// its book's top min(10, depth) levels (10 for a full book) are the vector's checksum string.
func TestVectorsChecksums(t *testing.T) {
	var f struct {
		Cases []struct {
			Name   string      `json:"name"`
			Bids   [][2]string `json:"bids"`
			Asks   [][2]string `json:"asks"`
			Depths []struct {
				Depth  int    `json:"depth"`
				String string `json:"string"`
				CRC32  uint32 `json:"crc32"`
			} `json:"depths"`
		} `json:"cases"`
	}
	readVectors(t, "checksums.json", &f)
	n := 0
	for _, tc := range f.Cases {
		for _, d := range tc.Depths {
			n++
			t.Run(fmt.Sprintf("%s/depth_%d", tc.Name, d.Depth), func(t *testing.T) {
				top := func(side [][2]string, n int) [][2]string {
					if n > 0 && len(side) > n {
						return side[:n]
					}
					return side
				}
				bids, _ := json.Marshal(top(tc.Bids, d.Depth))
				asks, _ := json.Marshal(top(tc.Asks, d.Depth))
				fs := newFakeServer(t, func(fc *fakeConn) {
					req := fc.next(t)
					fc.send(t, fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":["X"],"depth":%d,"interval_ms":0}`, req["id"], d.Depth))
					fc.send(t, fmt.Sprintf(`{"type":"snapshot","channel":"book","symbol":"X","seq":1,"time":"2026-11-24T10:00:00Z","bids":%s,"asks":%s,"checksum":%d}`, bids, asks, d.CRC32))
				})
				c := dial(t, fs.url(), client.Config{ViewDepth: client.MaxDepth})
				rec := record(t, c)
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				if err := c.SubscribeBook(ctx, client.BookOptions{Depth: d.Depth}, "X"); err != nil {
					t.Fatal(err)
				}
				ev := rec.wait("the snapshot", func(ev client.Event) bool { _, ok := ev.(client.BookEvent); return ok }).(client.BookEvent)
				if !ev.Book.ChecksumOK {
					t.Errorf("checksum %d not verified", d.CRC32)
				}
				levels := 10
				if d.Depth > 0 && d.Depth < 10 {
					levels = d.Depth
				}
				v := ev.Book
				v.Bids, v.Asks = v.Bids[:min(levels, len(v.Bids))], v.Asks[:min(levels, len(v.Asks))]
				if got := render(v); got != d.String {
					t.Errorf("checksum string %q, want %q", got, d.String)
				}
			})
		}
	}
	if n < 40 {
		t.Fatalf("%d cases", n)
	}
}

// The client follows every shared message sequence to the books it lists, across a reconnect with resume,
// and detects the gaps and mismatches it marks, served by a scripted feed over a real WebSocket.
func TestVectorsSequences(t *testing.T) {
	var f struct {
		Sequences []vectorSeq `json:"sequences"`
	}
	readVectors(t, "sequences.json", &f)
	if len(f.Sequences) == 0 {
		t.Fatal("no sequences")
	}
	for _, q := range f.Sequences {
		t.Run(q.Name, func(t *testing.T) {
			// The steps up to each reconnect are one connection's.
			var segs [][]json.RawMessage
			resumes := []uint64{0}
			cur := []json.RawMessage{}
			var books []string // the expected book after each book message, in order
			var wantErr string
			for _, st := range q.Steps {
				if st.Reconnect != nil {
					segs, cur = append(segs, cur), []json.RawMessage{}
					resumes = append(resumes, st.Reconnect.Resume)
					continue
				}
				cur = append(cur, st.Message)
				var m struct{ Type string }
				_ = json.Unmarshal(st.Message, &m)
				if st.Error != "" {
					wantErr = st.Error
				} else if st.Expect != nil && (m.Type == "snapshot" || m.Type == "update") {
					books = append(books, renderPairs(st.Expect.Bids, st.Expect.Asks))
				}
			}
			segs = append(segs, cur)
			fs := newFakeServer(t, func(fc *fakeConn) {
				if fc.n >= len(segs) {
					return // the resubscribe after a detected fault: nothing more to send
				}
				req := fc.next(t)
				resume, _ := req["resume"].(map[string]any)
				if fc.n > 0 && fmt.Sprint(resume[q.Symbol]) != fmt.Sprint(resumes[fc.n]) {
					t.Errorf("connection %d: subscribe %v, want resume %s=%d", fc.n, req, q.Symbol, resumes[fc.n])
				}
				fc.send(t, fmt.Sprintf(`{"type":"subscribed","id":%v,"channel":"book","symbols":[%q],"depth":%d,"interval_ms":0}`, req["id"], q.Symbol, q.Depth))
				for _, m := range segs[fc.n] {
					fc.send(t, string(m))
				}
				if fc.n < len(segs)-1 {
					fc.closeWith(1001, "draining")
				} else {
					for range fc.reqs { // a resubscribe after a fault is not answered
					}
				}
			})
			c := dial(t, fs.url(), client.Config{ViewDepth: client.MaxDepth})
			rec := record(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := c.SubscribeBook(ctx, client.BookOptions{Depth: q.Depth}, q.Symbol); err != nil {
				t.Fatal(err)
			}
			if wantErr != "" {
				target := map[string]error{"gap": client.ErrGap, "checksum": client.ErrChecksum}[wantErr]
				rec.wait(wantErr+" error", isError(target))
			}
			waitFor(t, fmt.Sprintf("%d verified book events", len(books)), func() bool { return len(bookEvents(rec, true)) >= len(books) })
			got := bookEvents(rec, true)
			for i, want := range books {
				if render(got[i].Book) != want {
					t.Fatalf("book event %d (seq %d): %s, want %s", i, got[i].Book.Seq, render(got[i].Book), want)
				}
			}
		})
	}
}

func bookEvents(rec *recorder, verifiedOnly bool) []client.BookEvent {
	var out []client.BookEvent
	for _, ev := range rec.all() {
		if be, ok := ev.(client.BookEvent); ok && (!verifiedOnly || be.Book.ChecksumOK) {
			out = append(out, be)
		}
	}
	return out
}

func renderPairs(bids, asks [][2]string) string {
	s := ""
	for _, l := range bids {
		s += l[0] + ":" + l[1] + ";"
	}
	s += "|"
	for _, l := range asks {
		s += l[0] + ":" + l[1] + ";"
	}
	return s
}
