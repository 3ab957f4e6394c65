package feed

import (
	"net/http"
	"testing"
)

// Whatever way a request asks for a WebSocket upgrade, the guard sees it.
func TestIsUpgrade(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{"Upgrade": {"websocket"}}, true},
		{http.Header{"Upgrade": {"WebSocket"}}, true},
		{http.Header{"Upgrade": {"h2c, websocket"}}, true},
		{http.Header{"Upgrade": {"h2c", " websocket "}}, true},
		{http.Header{"Upgrade": {"h2c"}}, false},
		{http.Header{"Upgrade": {"websockets"}}, false},
		{http.Header{}, false},
	} {
		if got := isUpgrade(&http.Request{Header: tc.h}); got != tc.want {
			t.Errorf("isUpgrade(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}
