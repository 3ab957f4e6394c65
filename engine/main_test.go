package engine

import (
	"testing"

	"github.com/depthcast/depthcast/internal/enginetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The test doubles satisfy the contract they stand in for.
var (
	_ Publisher = (*enginetest.Recorder)(nil)
	_ Publisher = enginetest.Discard{}
)
