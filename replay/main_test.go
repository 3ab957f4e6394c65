package replay_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its players: no pipeline writer, reader or timer may outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
