package posbridge_test

import (
	"context"
	"testing"

	"github.com/posbridge/posbridge"
)

// BenchmarkEngine_PayToPaid measures one whole approved payment: the
// write-ahead, the sale, the verification and every store write with its
// fsync (synchronous=FULL), on a real SQLite file.
func BenchmarkEngine_PayToPaid(b *testing.B) {
	te := newTestEngine(b, engineOpts{})
	ctx := context.Background()
	amount := posbridge.Money{Minor: 1250, Currency: "AED"}
	b.ResetTimer()
	for range b.N {
		o, _, err := te.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: amount, By: posbridge.By{Actor: posbridge.ActorAPI}})
		if err != nil {
			b.Fatal(err)
		}
		if o, err = te.Await(ctx, o.No); err != nil || o.Status != posbridge.StatusPaid {
			b.Fatalf("payment %s: %v", o.Status, err)
		}
	}
}
