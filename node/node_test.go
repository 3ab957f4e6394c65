package node

import (
	"errors"
	"testing"
	"time"

	"github.com/depthcast/depthcast/feed"
	"github.com/depthcast/depthcast/ingest"
)

// A node whose parts' configs are invalid is refused by New, as is one without brokers or an input.
func TestNewValidates(t *testing.T) {
	brokers := []string{"127.0.0.1:9092"}
	for _, tc := range []struct {
		name string
		cfg  Config
		is   error
	}{
		{"no brokers", Config{}, ingest.ErrConfig},
		{"bad feed config", Config{Ingest: ingest.Config{Brokers: brokers}, Feed: feed.Config{SendQueueBytes: 10}}, feed.ErrConfig},
		{"bad hub config", Config{Ingest: ingest.Config{Brokers: brokers}, Hub: feed.HubConfig{ResumeHistory: -1}}, feed.ErrConfig},
		{"negative shutdown timeout", Config{Ingest: ingest.Config{Brokers: brokers}, ShutdownTimeout: -time.Second}, ErrConfig},
		{"negative HTTP timeout", Config{Ingest: ingest.Config{Brokers: brokers}, HTTPIdleTimeout: -time.Second}, ErrConfig},
		{"HTTP cap below -1", Config{Ingest: ingest.Config{Brokers: brokers}, MaxHTTPConnectionsPerIP: -2}, ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, tc.is) {
				t.Errorf("New: %v, want an error wrapping %v", err, tc.is)
			}
		})
	}
	if _, err := New(Config{Ingest: ingest.Config{Brokers: brokers}}); err != nil {
		t.Errorf("New with brokers only: %v", err)
	}
}
