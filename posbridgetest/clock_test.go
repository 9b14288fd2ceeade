package posbridgetest

import (
	"testing"
	"time"

	"github.com/posbridge/posbridge"
)

func TestManualClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManualClock(start)
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
