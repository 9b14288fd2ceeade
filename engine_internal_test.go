package posbridge

import (
	"slices"
	"testing"
	"time"
)

func TestCheckSooner(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		before, after time.Time
		want          bool
	}{
		{"none before, none after", time.Time{}, time.Time{}, false},
		{"none before, one after", time.Time{}, t0, true},
		{"one before, none after", t0, time.Time{}, false},
		{"brought forward", t0, t0.Add(-time.Second), true},
		{"unchanged", t0, t0, false},
		{"put back", t0, t0.Add(time.Second), false},
	} {
		if got := checkSooner(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: checkSooner = %v; want %v", tc.name, got, tc.want)
		}
	}
}

// A sale found in progress after a restart is not re-attached while a
// closer (a cashier's cancel) works on it: the closer decided, and decides
// again before writing, on the sale not being on the terminal.
func TestLanes_AdoptRefusedWhileClosing(t *testing.T) {
	lt := newLaneTable(map[string]Terminal{"1": nil})
	l := lt.get("1")
	if !lt.beginClose(l, "A") {
		t.Fatal("beginClose refused an order not on the terminal")
	}
	if lt.adopt(l, "A") || lt.onTerminal(l, "A") {
		t.Fatal("adopt re-attached a sale being closed")
	}
	lt.endClose("A")
	if !lt.adopt(l, "A") || !lt.onTerminal(l, "A") {
		t.Fatal("adopt refused a sale nobody closes")
	}
}

// The end of a claim on an order the reconciler passed over wakes it (it set
// its timer without that order's check); the end of any other claim does not.
func TestClaims_ReleaseOfAWantedOrderWakesTheReconciler(t *testing.T) {
	woken := 0
	c := newClaimTable(func() { woken++ })
	sale := c.claim("A")
	if tok := c.claimOrWant("A"); tok != 0 {
		t.Fatal("claimOrWant took an order a sale holds")
	}
	other := c.claim("B")
	c.release("B", other)
	if woken != 0 {
		t.Fatalf("the release of an order nobody wanted woke the reconciler %d times", woken)
	}
	c.release("A", sale)
	if woken != 1 {
		t.Fatalf("the release of the order the reconciler passed over woke it %d times; want 1", woken)
	}
	if c.heldWanted("A") {
		t.Fatal("heldWanted says a released order is held")
	}
	tok := c.claim("A")
	if !c.heldWanted("A") {
		t.Fatal("heldWanted says a claimed order is free")
	}
	c.release("A", tok)
	if woken != 2 {
		t.Fatalf("the release of an order heldWanted passed over woke the reconciler %d times in all; want 2", woken)
	}
	again := c.claim("A")
	c.release("A", again)
	if woken != 2 {
		t.Fatalf("a wanted order's release woke the reconciler again on its next release (%d)", woken)
	}
}

// The reconciler sleeps until the earliest open refund is due: a requested
// one is submitted again DefaultRefundCheck from now, a pending one asked
// about on RefundCheckEvery's schedule from its last query.
func TestNextRefundCheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	young := Refund{No: "R1", Status: RefundPending, CreatedAt: now.Add(-time.Minute)}
	old := Refund{No: "R2", Status: RefundPending, CreatedAt: now.Add(-48 * time.Hour)}
	requested := Refund{No: "R3", Status: RefundRequested, CreatedAt: now.Add(-48 * time.Hour)}
	for _, tc := range []struct {
		name  string
		open  []Refund
		asked map[OrderNo]time.Time
		want  time.Time
	}{
		{"none open", nil, nil, time.Time{}},
		{"requested: submitted again", []Refund{requested}, map[OrderNo]time.Time{"R3": now}, now.Add(DefaultRefundCheck)},
		{"pending, never asked about", []Refund{old}, nil, now.Add(DefaultRefundCheck)},
		{"pending for days, just asked", []Refund{old}, map[OrderNo]time.Time{"R2": now}, now.Add(30 * time.Minute)},
		{"pending for days, asked 10 minutes ago", []Refund{old}, map[OrderNo]time.Time{"R2": now.Add(-10 * time.Minute)}, now.Add(20 * time.Minute)},
		{"the earliest of several", []Refund{old, young}, map[OrderNo]time.Time{"R2": now, "R1": now}, now.Add(DefaultRefundCheck)},
		{"pending, overdue after a slow run: not at once", []Refund{old}, map[OrderNo]time.Time{"R2": now.Add(-31 * time.Minute)}, now.Add(DefaultRefundCheck)},
	} {
		if got := nextRefundCheck(now, tc.open, tc.asked); !got.Equal(tc.want) {
			t.Errorf("%s: next refund check %v; want %v", tc.name, got, tc.want)
		}
	}
}

// The reconciler's timer for order checks: the first row neither held nor
// claimed ends the search, since every later row is due no earlier; a read
// whose every row was passed over is incomplete when it was full, because
// a claim taken after the reconciler counted them can leave the one free
// order just past the rows it asked for.
func TestNextOrderCheck(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return now.Add(time.Duration(m) * time.Minute) }
	row := func(no OrderNo, m int) ScheduledCheck { return ScheduledCheck{No: no, At: at(m)} }
	for _, tc := range []struct {
		name         string
		next         []ScheduledCheck
		limit        int
		held         map[OrderNo]time.Time
		claimed      []OrderNo
		want         time.Time
		wantComplete bool
	}{
		{"nothing scheduled", nil, 1, nil, nil, time.Time{}, true},
		{"the first row", []ScheduledCheck{row("A", 5), row("B", 7)}, 2, nil, nil, at(5), true},
		{"claimed since the count: read more", []ScheduledCheck{row("A", 5)}, 1, nil, []OrderNo{"A"}, time.Time{}, false},
		{"claimed, and no more rows", []ScheduledCheck{row("A", 5)}, 2, nil, []OrderNo{"A"}, time.Time{}, true},
		{"claimed, then a free one", []ScheduledCheck{row("A", 5), row("B", 7)}, 2, nil, []OrderNo{"A"}, at(7), true},
		{"held past a later free one", []ScheduledCheck{row("A", 5), row("B", 7)}, 2, map[OrderNo]time.Time{"A": at(30)}, nil, at(7), true},
		{"held, ending before a later free one", []ScheduledCheck{row("A", 5), row("B", 7)}, 2, map[OrderNo]time.Time{"A": at(6)}, nil, at(6), true},
		{"held only: read more", []ScheduledCheck{row("A", 5)}, 1, map[OrderNo]time.Time{"A": at(30)}, nil, at(30), false},
		{"a hold that has ended counts no more", []ScheduledCheck{row("A", -1)}, 1, map[OrderNo]time.Time{"A": at(-2)}, nil, at(-1), true},
		{"a hold ending before its own check", []ScheduledCheck{row("A", 20), row("B", 25)}, 2, map[OrderNo]time.Time{"A": at(10)}, nil, at(20), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heldUntil := func(no OrderNo) (time.Time, bool) { u, ok := tc.held[no]; return u, ok }
			claimed := func(no OrderNo) bool { return slices.Contains(tc.claimed, no) }
			got, complete := nextOrderCheck(tc.next, tc.limit, now, heldUntil, claimed)
			if !got.Equal(tc.want) || complete != tc.wantComplete {
				t.Errorf("got %v complete %v; want %v complete %v", got, complete, tc.want, tc.wantComplete)
			}
		})
	}
}
