package posbridge_test

import (
	"testing"

	"github.com/posbridge/posbridge"
)

func TestBus_PublishInOrder(t *testing.T) {
	b := posbridge.NewBus()
	s := b.Subscribe(10)
	defer s.Close()
	for i := int64(1); i <= 5; i++ {
		b.Publish(posbridge.Event{Seq: i, Type: posbridge.EventPayment})
	}
	for i := int64(1); i <= 5; i++ {
		if e := <-s.C; e.Seq != i {
			t.Fatalf("got seq %d, want %d", e.Seq, i)
		}
	}
}

func TestBus_SlowSubscriberDropped(t *testing.T) {
	b := posbridge.NewBus()
	slow := b.Subscribe(2)
	fast := b.Subscribe(10)
	defer fast.Close()
	for i := int64(1); i <= 3; i++ {
		b.Publish(posbridge.Event{Seq: i})
	}
	if !slow.Dropped() {
		t.Fatal("a subscriber 3 events behind with a buffer of 2 was not dropped")
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 {
		t.Fatalf("dropped subscriber received %d buffered events, want 2", n)
	}
	if len(fast.C) != 3 || fast.Dropped() {
		t.Fatalf("fast subscriber has %d events, dropped=%v", len(fast.C), fast.Dropped())
	}
	slow.Close() // closing a dropped subscription is safe
}

func TestInstruction(t *testing.T) {
	tests := []struct {
		o    posbridge.Order
		want string
	}{
		{posbridge.Order{Status: posbridge.StatusPaid}, "Payment successful"},
		{posbridge.Order{Status: posbridge.StatusFailed, Reason: posbridge.ReasonCanceledByUser}, "Payment not completed"},
		{posbridge.Order{Status: posbridge.StatusFailed, Reason: posbridge.ReasonDeclined}, "Payment not completed"},
		{posbridge.Order{Status: posbridge.StatusCanceled, Reason: posbridge.ReasonInterrupted, NeedsAttention: true}, "Not confirmed as unpaid — do not take payment again until a supervisor has checked"},
		{posbridge.Order{Status: posbridge.StatusPending, Reason: posbridge.ReasonUnconfirmed, NeedsAttention: true}, "Not confirmed by the bank — the customer may have been charged; tell the supervisor"},
		{posbridge.Order{Status: posbridge.StatusPending}, "Not confirmed yet — do not take payment again"},
	}
	for _, tt := range tests {
		if got := posbridge.Instruction(tt.o); got != tt.want {
			t.Errorf("Instruction(%s/%s) = %q, want %q", tt.o.Status, tt.o.Reason, got, tt.want)
		}
	}
}
