package posbridge_test

import (
	"testing"
	"time"

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

func TestManualClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := posbridge.NewManualClock(start)
	t1 := c.NewTimer(2 * time.Second)
	t2 := c.NewTimer(time.Second)
	t3 := c.NewTimer(5 * time.Second)
	c.Advance(2 * time.Second)
	for _, tm := range []posbridge.Timer{t2, t1} {
		select {
		case <-tm.C():
		default:
			t.Fatal("timer due within 2s did not fire")
		}
	}
	select {
	case <-t3.C():
		t.Fatal("timer due at 5s fired at 2s")
	default:
	}
	if !t3.Stop() {
		t.Fatal("Stop of an armed timer returned false")
	}
	c.Advance(time.Hour)
	select {
	case <-t3.C():
		t.Fatal("stopped timer fired")
	default:
	}
	t3.Reset(time.Second)
	if next, ok := c.NextTimer(); !ok || !next.Equal(c.Now().Add(time.Second)) {
		t.Fatalf("NextTimer = %v, %v", next, ok)
	}
	c.Advance(time.Second)
	select {
	case <-t3.C():
	default:
		t.Fatal("reset timer did not fire")
	}
	if got := c.Now(); !got.Equal(start.Add(2*time.Second + time.Hour + time.Second)) {
		t.Fatalf("Now = %v", got)
	}
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
