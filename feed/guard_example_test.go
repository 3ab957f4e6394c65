package feed_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/depthcast/depthcast/auth"
	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/feed"
	"github.com/gorilla/websocket"
)

// staticTokens is an Authenticator over a fixed map of tokens (the depthcast command uses an
// *auth.Authenticator over key files and JWTs instead).
type staticTokens map[string]auth.Grant

func (s staticTokens) Verify(token string) (auth.Grant, error) {
	g, ok := s[token]
	if !ok {
		return auth.Grant{}, errors.New("unknown token")
	}
	return g, nil
}

// With Guard.Auth set, a WebSocket handshake needs a token (401 without one), and Origin must be allowed
// (403 otherwise); a client presents its token in the Authorization header or as ?token=.
func ExampleGuardConfig() {
	hub, err := feed.NewHub(feed.HubConfig{})
	if err != nil {
		panic(err)
	}
	books, err := engine.New(engine.Config{Logger: quietLogger()}, hub)
	if err != nil {
		panic(err)
	}
	defer books.Close()
	srv, err := feed.New(feed.Config{Logger: quietLogger(), Guard: feed.GuardConfig{
		Auth:                staticTokens{"s3cret": {Name: "alice", MaxConnections: 2, Symbols: []string{"BTC-USD"}}},
		AllowOrigins:        []string{"https://app.example.com"},
		MaxConnectionsPerIP: feed.DefaultMaxConnectionsPerIP,
		ConnectRatePerIP:    feed.DefaultConnectRatePerIP,
	}}, hub, books)
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "ws" + ts.URL[len("http"):] + "/ws"
	try := func(what, u string, h http.Header) {
		c, resp, err := websocket.DefaultDialer.Dial(u, h)
		if err == nil {
			fmt.Println(what+":", "upgraded")
			_ = c.Close()
			return
		}
		fmt.Println(strings.TrimSpace(fmt.Sprint(what+": ", resp.StatusCode, " ", resp.Header.Get("WWW-Authenticate"))))
	}
	try("no token", url, nil)
	try("wrong token", url, http.Header{"Authorization": {"Bearer guess"}})
	try("foreign origin", url+"?token=s3cret", http.Header{"Origin": {"https://evil.example"}})
	try("header", url, http.Header{"Authorization": {"Bearer s3cret"}})
	try("query", url+"?token=s3cret", http.Header{"Origin": {"https://app.example.com"}})
	// Output:
	// no token: 401 Bearer realm="depthcast"
	// wrong token: 401 Bearer realm="depthcast"
	// foreign origin: 403
	// header: upgraded
	// query: upgraded
}
