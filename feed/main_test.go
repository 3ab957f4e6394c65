package feed_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test shuts its feed down (see newTestFeed): no connection, write loop or timer may outlive it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
