package feed_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/replay"
	"github.com/golang-jwt/jwt/v5"
)

// A key or a JWT limited to BTC-USD sees BTC-USD and nothing else on every route that yields data: /ws
// subscribe, /v1/book/{symbol}, /replay and the list of /v1/symbols, each over a real connection.
func TestGrantOnEveryDataRoute(t *testing.T) {
	key, line := newKey(t, "name=limited symbols=BTC-USD")
	ks, err := auth.NewKeyStore(keyFile(t, line))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := replay.NewMemory(simRecording(t, 600, 5))
	if err != nil {
		t.Fatal(err)
	}
	f := newTestFeed(t, feed.Config{Replayer: replay.NewHistory(mem, quietLogger()), Guard: feed.GuardConfig{Auth: &auth.Authenticator{Keys: ks, JWT: v}}})
	threeSymbols(f)
	tokens := map[string]string{
		"api key": key,
		"jwt":     signHS256(t, testSecret, jwt.MapClaims{"sub": "limited", "symbols": []string{"BTC-USD"}}),
	}
	for name, tok := range tokens {
		for _, tc := range []struct {
			route   string
			symbols string // as the request lists them
			allowed bool
		}{
			{"/ws", `["BTC-USD"]`, true},
			{"/ws", `["ETH-USD"]`, false},
			{"/ws", `["BTC-USD","SOL-USD"]`, false},
			{"/v1/book", "BTC-USD", true},
			{"/v1/book", "ETH-USD", false},
			{"/v1/symbols", "BTC-USD", true},
			{"/replay", `["BTC-USD"]`, true},
			{"/replay", `["ETH-USD"]`, false},
			{"/replay", `["BTC-USD","SOL-USD"]`, false},
		} {
			t.Run(name+" "+tc.route+" "+tc.symbols, func(t *testing.T) {
				switch tc.route {
				case "/v1/symbols":
					req, _ := http.NewRequest("GET", f.httpURL()+"/v1/symbols", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					var body struct{ Symbols []struct{ Symbol string } }
					if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
						t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
					}
					if len(body.Symbols) != 1 || body.Symbols[0].Symbol != tc.symbols {
						t.Fatalf("listed %+v, want only %s", body.Symbols, tc.symbols)
					}
				case "/v1/book":
					req, _ := http.NewRequest("GET", f.httpURL()+"/v1/book/"+tc.symbols, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if want := map[bool]int{true: 200, false: 403}[tc.allowed]; resp.StatusCode != want {
						t.Fatalf("HTTP %d, want %d", resp.StatusCode, want)
					}
				case "/ws", "/replay":
					c := f.tryDial(tc.route, bearer(tok)).wantUpgraded(t, name)
					if tc.route == "/ws" {
						c.send(`{"op":"subscribe","id":1,"channel":"book","symbols":` + tc.symbols + `}`)
					} else {
						c.send(`{"op":"replay","id":1,"speed":0,"symbols":` + tc.symbols + `}`)
					}
					m := c.next()
					for m.Type == "status" {
						m = c.next()
					}
					if !tc.allowed {
						if m.Type != "error" || m.Code != "unauthorized" || m.ID == nil || *m.ID != 1 ||
							strings.Contains(m.Message, "BTC-USD") {
							t.Fatalf("got %s, want unauthorized for the other symbol only", m)
						}
						// Nothing was started: the connection answers, and no book follows.
						c.send(`{"op":"ping","id":2}`)
						if m := c.next(); m.Type != "pong" {
							t.Fatalf("after the refusal: %s, want pong", m)
						}
						return
					}
					want := map[string]string{"/ws": "subscribed", "/replay": "replay_started"}[tc.route]
					if m.Type != want {
						t.Fatalf("got %s, want %s", m, want)
					}
				}
			})
		}
	}
}
