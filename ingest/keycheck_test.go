package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/depthcast/depthcast/engine"
	"github.com/depthcast/depthcast/internal/enginetest"
	"github.com/depthcast/depthcast/internal/testkit"
	"github.com/depthcast/depthcast/schema"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A record read from Kafka whose key (its partition's symbol) is not the symbol it names must not move
// that symbol's book: the partition readers hand records over in batches, and the batches check the key as
// Submit does. It is counted as key_mismatch and copied to the dead-letter topic.
func TestKafkaRefusesRecordsKeyedForAnotherSymbol(t *testing.T) {
	const victim, other = "VICTIM", "OTHER"
	k := newTestCluster(t, 1)
	k.produce(t, enginetest.Snap(victim, 1, enginetest.L("10:1"), enginetest.L("50:1")),
		enginetest.Snap(other, 1, enginetest.L("10:1"), enginetest.L("50:1")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// OTHER's key, VICTIM's symbol: it would apply bid 42x42 to VICTIM and take VICTIM's seq 2.
	bad := &kgo.Record{Key: []byte(other), Value: []byte(enginetest.Delta(victim, 2, enginetest.L("42:42"), nil))}
	if err := k.cl.ProduceSync(ctx, bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	k.produce(t, enginetest.Delta(victim, 2, enginetest.L("11:1"), nil))
	m := testkit.NewMetrics()
	c := newTestConsumer(t, k, Config{Meter: m.Provider.Meter("t"), DeadLetterTopic: "md.dead"}, &enginetest.Recorder{})
	stop := runConsumer(t, c)
	testkit.WaitFor(t, 15*time.Second, "caught up", c.Ready)
	waitBook(t, c, victim, "live=true seq=2 11:1,10:1|50:1")
	if got := m.Value(t, engine.MetricRejected, "reason="+string(schema.ReasonKeyMismatch)); got != 1 {
		t.Errorf("key_mismatch rejects = %d, want 1", got)
	}
	stop()
}
