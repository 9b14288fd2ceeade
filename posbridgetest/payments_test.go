package posbridgetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/posbridge/posbridge"
)

func TestPaymentsServiceFake_NotFaked(t *testing.T) {
	ctx := context.Background()
	f := &PaymentsServiceFake{}
	for _, tt := range []struct {
		method string
		call   func() error
	}{
		{"Pay", func() error { _, _, err := f.Pay(ctx, posbridge.PayRequest{}); return err }},
		{"Payment", func() error { _, err := f.Payment(ctx, "A1"); return err }},
		{"Lanes", func() error { _, err := f.Lanes(ctx); return err }},
		{"LastSeq", func() error { _, err := f.LastSeq(ctx); return err }},
		{"Ready", func() error { return f.Ready(ctx) }},
		{"Stats", func() error { _, err := f.Stats(ctx); return err }},
	} {
		if err := tt.call(); !errors.Is(err, ErrNotFaked) || err.Error() != tt.method+": "+ErrNotFaked.Error() {
			t.Errorf("unset %s: %v, want ErrNotFaked naming the method", tt.method, err)
		}
	}
	s := f.Subscribe(1)
	defer s.Close()
	if s == nil || s.Dropped() {
		t.Errorf("unset Subscribe: %v, want an idle live feed", s)
	}
	if got := f.PaymentsCalls(); !slices.Equal(got, []string{"Pay", "Payment", "Lanes"}) {
		t.Errorf("PaymentsCalls = %q", got)
	}
	if got := f.EventsCalls(); !slices.Equal(got, []string{"LastSeq", "Subscribe"}) {
		t.Errorf("EventsCalls = %q", got)
	}
}

func TestPaymentsServiceFake_CallsFunc(t *testing.T) {
	f := &PaymentsServiceFake{}
	f.PaymentFunc = func(_ context.Context, no posbridge.OrderNo) (posbridge.Order, error) {
		return posbridge.Order{No: no}, nil
	}
	if o, err := f.Payment(context.Background(), "A1"); err != nil || o.No != "A1" {
		t.Fatalf("Payment = %+v, %v", o, err)
	}
}

func TestEventsLog(t *testing.T) {
	ctx := context.Background()
	l := NewEventsLog()
	sub := l.Subscribe(8)
	l.Store(posbridge.Event{Type: posbridge.EventPayment})  // seq 1, not published
	l.Append(posbridge.Event{Type: posbridge.EventPayment}) // seq 2
	l.Append(posbridge.Event{Type: posbridge.EventPayment}) // seq 3
	if e := <-sub.C; e.Seq != 2 {
		t.Fatalf("first live event seq %d, want 2 (1 was only stored)", e.Seq)
	}
	if last, _ := l.LastSeq(ctx); last != 3 {
		t.Fatalf("LastSeq = %d, want 3", last)
	}
	seqs := func(since int64, limit int) []int64 {
		evs, _ := l.EventsSince(ctx, since, limit)
		var out []int64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	if got := seqs(0, 2); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("EventsSince(0, 2) = %v", got)
	}
	l.Prune(2)
	if got := seqs(0, 10); !slices.Equal(got, []int64{3}) {
		t.Errorf("EventsSince(0) after Prune(2) = %v, want [3]", got)
	}
	l.DropSubscribers()
	<-sub.C // the seq 3 event
	if _, ok := <-sub.C; ok {
		t.Error("a dropped subscription still delivers")
	}
}
