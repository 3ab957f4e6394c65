package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops what it started: clients, feeds, pipelines, fake servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
