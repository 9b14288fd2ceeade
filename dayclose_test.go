package posbridge_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

func TestDecideDay(t *testing.T) {
	ten, twelve := mustAED(t, "10.00"), mustAED(t, "12.00")
	local := func(no string, st posbridge.Status, r posbridge.Reason, m posbridge.Money) posbridge.Order {
		return posbridge.Order{No: posbridge.OrderNo(no), Status: st, Reason: r, Amount: m}
	}
	gw := func(no string, st posbridge.GatewayStatus, m posbridge.Money) posbridge.ListedOrder {
		return posbridge.ListedOrder{GatewayOrder: posbridge.GatewayOrder{OrderNo: posbridge.OrderNo(no), Status: st, Amount: m}}
	}
	tests := []struct {
		name   string
		local  []posbridge.Order
		gw     []posbridge.ListedOrder
		bucket posbridge.DayBucket
		action posbridge.DayAction
	}{
		{"paid both", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, ten)}, posbridge.BucketMatched, posbridge.ActNone},
		{"paid and settled", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewaySettled, ten)}, posbridge.BucketMatched, posbridge.ActNone},
		{"canceled and failed", []posbridge.Order{local("A", posbridge.StatusCanceled, posbridge.ReasonExpired, ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayFailed, ten)}, posbridge.BucketMatched, posbridge.ActNone},
		{"pending and created", []posbridge.Order{local("A", posbridge.StatusPending, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayCreated, ten)}, posbridge.BucketMatched, posbridge.ActNone},
		{"only at the gateway, paid", nil, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, ten)}, posbridge.BucketOnlyGateway, posbridge.ActImport},
		{"only at the gateway, failed", nil, []posbridge.ListedOrder{gw("A", posbridge.GatewayFailed, ten)}, posbridge.BucketOnlyGateway, posbridge.ActImport},
		{"only local, paid", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, nil, posbridge.BucketOnlyLocal, posbridge.ActVerify},
		{"only local, declined", []posbridge.Order{local("A", posbridge.StatusFailed, posbridge.ReasonDeclined, ten)}, nil, posbridge.BucketOnlyLocal, posbridge.ActVerify},
		{"only local, never sent", []posbridge.Order{local("A", posbridge.StatusFailed, posbridge.ReasonNotSent, ten)}, nil, posbridge.BucketMatched, posbridge.ActNone},
		{"only local, still pending", []posbridge.Order{local("A", posbridge.StatusPending, "", ten)}, nil, posbridge.BucketOnlyLocal, posbridge.ActNone},
		{"only local, on the terminal", []posbridge.Order{local("A", posbridge.StatusAtTerminal, "", ten)}, nil, posbridge.BucketOnlyLocal, posbridge.ActNone},
		{"on the terminal, paid there", []posbridge.Order{local("A", posbridge.StatusAtTerminal, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, ten)}, posbridge.BucketDifferent, posbridge.ActApply},
		{"on the terminal, failed there", []posbridge.Order{local("A", posbridge.StatusAtTerminal, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayFailed, ten)}, posbridge.BucketDifferent, posbridge.ActNone},
		{"only local, terminal down", []posbridge.Order{local("A", posbridge.StatusFailed, posbridge.ReasonTerminalDown, ten)}, nil, posbridge.BucketMatched, posbridge.ActNone},
		{"failed here, paid there", []posbridge.Order{local("A", posbridge.StatusFailed, posbridge.ReasonDeclined, ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, ten)}, posbridge.BucketDifferent, posbridge.ActApply},
		{"pending here, paid there", []posbridge.Order{local("A", posbridge.StatusPending, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewaySettled, ten)}, posbridge.BucketDifferent, posbridge.ActApply},
		{"pending here, failed there", []posbridge.Order{local("A", posbridge.StatusPending, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayFailed, ten)}, posbridge.BucketDifferent, posbridge.ActApply},
		{"paid here, failed there", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayFailed, ten)}, posbridge.BucketDifferent, posbridge.ActFlag},
		{"failed here, still open there", []posbridge.Order{local("A", posbridge.StatusFailed, posbridge.ReasonDeclined, ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayCreated, ten)}, posbridge.BucketDifferent, posbridge.ActNone},
		{"paid here, created there", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayCreated, ten)}, posbridge.BucketDifferent, posbridge.ActFlag},
		{"amounts differ", []posbridge.Order{local("A", posbridge.StatusPaid, "", ten)}, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, twelve)}, posbridge.BucketDifferent, posbridge.ActFlag},
		{"listed twice", nil, []posbridge.ListedOrder{gw("A", posbridge.GatewayPaid, ten), gw("A", posbridge.GatewayPaid, ten)}, posbridge.BucketOnlyGateway, posbridge.ActImport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := posbridge.DecideDay(posbridge.DayInput{Local: tt.local, Gateway: tt.gw})
			if len(items) != 1 {
				t.Fatalf("items %+v, want one", items)
			}
			if it := items[0]; it.Bucket != tt.bucket || it.Action != tt.action || it.Kind != posbridge.DayOrder || it.No != "A" {
				t.Fatalf("item %+v; want %s / %s", it, tt.bucket, tt.action)
			}
		})
	}
}

func TestDecideDay_Refunds(t *testing.T) {
	two, three := mustAED(t, "2.00"), mustAED(t, "3.00")
	lr := func(st posbridge.RefundStatus, m posbridge.Money) []posbridge.Refund {
		return []posbridge.Refund{{No: "R", OrderNo: "A", Status: st, Amount: m}}
	}
	gr := func(st posbridge.GatewayRefundStatus, m posbridge.Money) []posbridge.ListedRefund {
		return []posbridge.ListedRefund{{GatewayRefund: posbridge.GatewayRefund{RefundNo: "R", OrderNo: "A", Status: st, Amount: m}}}
	}
	tests := []struct {
		name   string
		local  []posbridge.Refund
		gw     []posbridge.ListedRefund
		bucket posbridge.DayBucket
		action posbridge.DayAction
	}{
		{"both succeeded", lr(posbridge.RefundSucceeded, two), gr(posbridge.GatewayRefundSuccess, two), posbridge.BucketMatched, posbridge.ActNone},
		{"pending here, done there", lr(posbridge.RefundPending, two), gr(posbridge.GatewayRefundSuccess, two), posbridge.BucketDifferent, posbridge.ActApply},
		{"succeeded here, failed there", lr(posbridge.RefundSucceeded, two), gr(posbridge.GatewayRefundFailed, two), posbridge.BucketDifferent, posbridge.ActFlag},
		{"amounts differ", lr(posbridge.RefundSucceeded, two), gr(posbridge.GatewayRefundSuccess, three), posbridge.BucketDifferent, posbridge.ActFlag},
		{"made in the portal", nil, gr(posbridge.GatewayRefundSuccess, two), posbridge.BucketOnlyGateway, posbridge.ActFlag},
		{"only local, succeeded", lr(posbridge.RefundSucceeded, two), nil, posbridge.BucketOnlyLocal, posbridge.ActVerify},
		{"only local, failed", lr(posbridge.RefundFailed, two), nil, posbridge.BucketMatched, posbridge.ActNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := posbridge.DecideDay(posbridge.DayInput{LocalRefunds: tt.local, GatewayRefunds: tt.gw})
			if len(items) != 1 || items[0].Kind != posbridge.DayRefund || items[0].OrigNo != "A" {
				t.Fatalf("items %+v", items)
			}
			if it := items[0]; it.Bucket != tt.bucket || it.Action != tt.action {
				t.Fatalf("item %+v; want %s / %s", it, tt.bucket, tt.action)
			}
		})
	}
}

func TestImportedOrder(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		gw     posbridge.GatewayStatus
		status posbridge.Status
	}{
		{posbridge.GatewayPaid, posbridge.StatusPaid},
		{posbridge.GatewaySettled, posbridge.StatusPaid},
		{posbridge.GatewayFailed, posbridge.StatusFailed},
		{posbridge.GatewayCreated, posbridge.StatusPending},
	} {
		g := posbridge.ListedOrder{GatewayOrder: posbridge.GatewayOrder{OrderNo: "X", Status: tt.gw, Amount: mustAED(t, "5.00")}, CreatedAt: now.Add(-time.Hour)}
		o := posbridge.ImportedOrder(g, "1", now)
		if o.Status != tt.status || !o.NeedsAttention || o.Attention != posbridge.AttentionOnlyAtGateway || o.Amount != g.Amount {
			t.Errorf("%s: imported %+v", tt.gw, o)
		}
		if o.Status.Final() != o.NextCheckAt.IsZero() && o.Status != posbridge.StatusFailed {
			t.Errorf("%s: next check %v", tt.gw, o.NextCheckAt)
		}
		if o.Status == posbridge.StatusPaid && o.PaidAt.IsZero() {
			t.Errorf("%s: paid without a time", tt.gw)
		}
	}
}

func TestDueDays(t *testing.T) {
	loc := time.FixedZone("GST", 4*3600)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	closeAt := 23*time.Hour + 30*time.Minute
	tests := []struct {
		now  string
		last string
		want []string
	}{
		{"2026-03-10 12:00", "", []string{"2026-03-09"}},
		{"2026-03-10 23:31", "", []string{"2026-03-10"}},
		{"2026-03-10 12:00", "2026-03-09", nil},
		{"2026-03-10 23:30", "2026-03-09", []string{"2026-03-10"}},
		{"2026-03-10 12:00", "2026-03-06", []string{"2026-03-07", "2026-03-08", "2026-03-09"}},
		{"2026-03-10 12:00", "2026-01-01", []string{"2026-03-07", "2026-03-08", "2026-03-09"}}, // catch-up bounded
	}
	for _, tt := range tests {
		if got := posbridge.DueDays(at(tt.now), loc, closeAt, tt.last, 3); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DueDays(%s, last %q) = %v, want %v", tt.now, tt.last, got, tt.want)
		}
	}
}

// dayEnv is a real store on a file, the sandbox over real HTTP and the PayBy
// client, under a manual clock, with no terminal: the day close's world.
type dayEnv struct {
	t      *testing.T
	clock  *posbridgetest.ManualClock
	db     *store.DB
	sb     *sandbox.Sandbox
	engine *posbridge.Engine
	closer *posbridge.DayCloser
}

var dayStart = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

func newDayEnv(t *testing.T, pageSize int) *dayEnv { return newDayEnvWith(t, pageSize, nil) }

// newDayEnvWith is newDayEnv with the sandbox's config edited by edit.
func newDayEnvWith(t *testing.T, pageSize int, edit func(*sandbox.Config)) *dayEnv {
	t.Helper()
	clock := posbridgetest.NewManualClock(dayStart.Add(-24 * time.Hour))
	keys, err := sandbox.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	sc := sandbox.Config{Keys: keys, Clock: clock}
	if edit != nil {
		edit(&sc)
	}
	sb, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	gw, err := payby.New(payby.Config{BaseURL: srv.URL + "/sgs/api", PartnerID: sandbox.DefaultPartnerID, MerchantKey: keys.Merchant,
		GatewayKey: &keys.Gateway.PublicKey, Clock: clock, RatePerSecond: -1, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenOptions(filepath.Join(t.TempDir(), "posbridge.db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := posbridge.NewEngine(db, gw, nil)
	e.Clock = clock
	closer, err := posbridge.NewDayCloser(e, posbridge.DayConfig{Location: time.UTC, CloseAt: -1, PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	return &dayEnv{t: t, clock: clock, db: db, sb: sb, engine: e, closer: closer}
}

var dayCashier = posbridge.Cause{Actor: posbridge.ActorCashier, Who: "amira", Action: "pay"}

// local stores an order as the engine would have left it.
func (d *dayEnv) local(no, amount string, st posbridge.Status, reason posbridge.Reason) {
	d.t.Helper()
	ctx := context.Background()
	o := posbridge.Order{No: posbridge.OrderNo(no), Lane: "1", Amount: mustAED(d.t, amount)}
	if _, err := d.db.CreateOrder(ctx, &o, dayCashier); err != nil {
		d.t.Fatal(err)
	}
	if st == posbridge.StatusCreated {
		return
	}
	_, _, err := d.db.UpdateOrder(ctx, o.No, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "test"}, func(o *posbridge.Order) error {
		o.Status, o.Reason = st, reason
		if st == posbridge.StatusPaid {
			o.PaidAt = d.clock.Now()
			o.Card = posbridge.Card{Brand: "VISA", Last4: "4242"}
		}
		return nil
	})
	if err != nil {
		d.t.Fatal(err)
	}
}

// gateway tells the sandbox about an order as the terminal's acquirer would.
func (d *dayEnv) gateway(no, amount string, st posbridge.GatewayStatus) {
	d.t.Helper()
	err := d.sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), Kind: "sale",
		Amount: mustAED(d.t, amount), Status: st, Card: posbridge.Card{Brand: "MASTERCARD", Last4: "5454"}})
	if err != nil {
		d.t.Fatalf("record %s: %v", no, err)
	}
}

func (d *dayEnv) order(no string) posbridge.Order {
	d.t.Helper()
	o, err := d.db.Order(context.Background(), posbridge.OrderNo(no))
	if err != nil {
		d.t.Fatalf("order %s: %v", no, err)
	}
	return o
}

// seedDay makes a day where each kind of difference happens once.
func (d *dayEnv) seedDay() {
	t := d.t
	ctx := context.Background()
	// Yesterday (the clock starts there): orders of another day, which
	// today's close must not see.
	d.local("Y1", "1.00", posbridge.StatusPaid, "")
	d.gateway("Y1", "1.00", posbridge.GatewayPaid)
	d.gateway("Y2", "1.00", posbridge.GatewayPaid)
	d.clock.Set(dayStart)

	// Both agree.
	d.local("M1", "10.00", posbridge.StatusPaid, "")
	d.gateway("M1", "10.00", posbridge.GatewayPaid)
	d.local("M2", "10.00", posbridge.StatusFailed, posbridge.ReasonDeclined)
	d.gateway("M2", "10.00", posbridge.GatewayFailed)
	// Only at the gateway: a charge nobody recorded, and a failed attempt.
	d.gateway("G1", "25.00", posbridge.GatewayPaid)
	d.gateway("G2", "7.00", posbridge.GatewayFailed)
	// Only local: paid, declined, never sent.
	d.local("L1", "30.00", posbridge.StatusPaid, "")
	d.local("L2", "4.00", posbridge.StatusFailed, posbridge.ReasonDeclined)
	d.local("L3", "4.00", posbridge.StatusFailed, posbridge.ReasonNotSent)
	// Different: a closed order the gateway has paid, a pending one it has
	// paid, a paid one it has failed, and an amount.
	d.local("D1", "15.00", posbridge.StatusCanceled, posbridge.ReasonExpired)
	d.gateway("D1", "15.00", posbridge.GatewayPaid)
	d.local("D2", "20.00", posbridge.StatusPending, "")
	d.gateway("D2", "20.00", posbridge.GatewayPaid)
	d.local("D3", "9.00", posbridge.StatusPaid, "")
	d.gateway("D3", "9.00", posbridge.GatewayFailed)
	d.local("D4", "12.00", posbridge.StatusPaid, "")
	d.gateway("D4", "12.50", posbridge.GatewayPaid)

	// Refunds: one both agree on, one made in the portal, one whose result
	// posbridge missed.
	refund := func(no, orig, amount string, st posbridge.RefundStatus) {
		r := posbridge.Refund{No: posbridge.OrderNo(no), OrderNo: posbridge.OrderNo(orig), Amount: mustAED(t, amount)}
		if _, err := d.db.CreateRefund(ctx, &r, dayCashier); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.db.UpdateRefund(ctx, r.No, posbridge.Cause{Actor: posbridge.ActorGatewayQuery, Action: "test"}, func(r *posbridge.Refund) error {
			r.Status = st
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	gwRefund := func(no, orig, amount string, st posbridge.GatewayStatus) {
		if err := d.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), OrigNo: posbridge.OrderNo(orig), Kind: "refund",
			Amount: mustAED(t, amount), Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	refund("RM1", "M1", "2.00", posbridge.RefundSucceeded)
	gwRefund("RM1", "M1", "2.00", posbridge.GatewayPaid)
	gwRefund("RP1", "M1", "3.00", posbridge.GatewayPaid) // made in the merchant portal
	refund("RD4", "D4", "1.00", posbridge.RefundPending)
	gwRefund("RD4", "D4", "1.00", posbridge.GatewayPaid)
	d.clock.Set(dayStart.Add(14 * time.Hour)) // 23:00
}

func TestDayClose_EachDifferenceLandsInItsBucket(t *testing.T) {
	d := newDayEnv(t, 3) // small pages: the close must page through
	d.seedDay()
	ctx := context.Background()
	rec, err := d.closer.CloseDay(ctx, "2026-03-10", posbridge.By{Actor: posbridge.ActorCashier, Who: "supervisor"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[posbridge.OrderNo]struct {
		bucket posbridge.DayBucket
		action posbridge.DayAction
	}{
		"M1": {posbridge.BucketMatched, posbridge.ActNone}, "M2": {posbridge.BucketMatched, posbridge.ActNone},
		"G1": {posbridge.BucketOnlyGateway, posbridge.ActImport}, "G2": {posbridge.BucketOnlyGateway, posbridge.ActImport},
		"L1": {posbridge.BucketOnlyLocal, posbridge.ActVerify}, "L2": {posbridge.BucketOnlyLocal, posbridge.ActVerify},
		"L3": {posbridge.BucketMatched, posbridge.ActNone},
		"D1": {posbridge.BucketDifferent, posbridge.ActApply}, "D2": {posbridge.BucketDifferent, posbridge.ActApply},
		"D3": {posbridge.BucketDifferent, posbridge.ActFlag}, "D4": {posbridge.BucketDifferent, posbridge.ActFlag},
		"RM1": {posbridge.BucketMatched, posbridge.ActNone}, "RP1": {posbridge.BucketOnlyGateway, posbridge.ActFlag},
		"RD4": {posbridge.BucketDifferent, posbridge.ActApply},
	}
	for _, it := range rec.Items {
		w, ok := want[it.No]
		if !ok {
			t.Errorf("unexpected item %+v", it)
			continue
		}
		if it.Bucket != w.bucket || it.Action != w.action {
			t.Errorf("%s: %s / %s (%s), want %s / %s", it.No, it.Bucket, it.Action, it.Detail, w.bucket, w.action)
		}
		if it.Action != posbridge.ActNone && (it.Result == "" || len(it.Result) > 5 && it.Result[:6] == "error:") {
			t.Errorf("%s: result %q", it.No, it.Result)
		}
		delete(want, it.No)
	}
	if len(want) != 0 {
		t.Errorf("missing items %v", want)
	}

	// The actions: imported, flagged, applied through Transition.
	for _, c := range []struct {
		no        string
		status    posbridge.Status
		attention bool
		reason    posbridge.Reason
	}{
		{"M1", posbridge.StatusPaid, true, ""}, // the portal refund RP1
		{"M2", posbridge.StatusFailed, false, posbridge.ReasonDeclined},
		{"G1", posbridge.StatusPaid, true, ""},
		{"G2", posbridge.StatusFailed, true, posbridge.ReasonGatewayFailed},
		{"L1", posbridge.StatusPaid, true, ""},
		{"L2", posbridge.StatusFailed, true, posbridge.ReasonDeclined},
		{"L3", posbridge.StatusFailed, false, posbridge.ReasonNotSent},
		{"D1", posbridge.StatusPaid, true, posbridge.ReasonPaidAfterClose},
		{"D2", posbridge.StatusPaid, true, ""},
		{"D3", posbridge.StatusPaid, true, ""}, // a paid order never becomes unpaid
		{"D4", posbridge.StatusPaid, true, ""},
	} {
		o := d.order(c.no)
		if o.Status != c.status || o.NeedsAttention != c.attention || (c.reason != "" && o.Reason != c.reason) {
			t.Errorf("%s: %s reason %q attention %v (%s); want %s %q %v", c.no, o.Status, o.Reason, o.NeedsAttention, o.Attention, c.status, c.reason, c.attention)
		}
	}
	if g1 := d.order("G1"); g1.Amount != mustAED(t, "25.00") || g1.Attention != posbridge.AttentionOnlyAtGateway || g1.Lane != posbridge.ImportLane || g1.GatewayNo == "" {
		t.Errorf("G1 imported as %+v", g1)
	}
	if _, err := d.db.Order(ctx, "Y2"); err == nil {
		t.Error("an order of another day was imported")
	}
	rs, err := d.db.Refunds(ctx, "D4")
	if err != nil || len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded {
		t.Fatalf("refund RD4 %+v, %v", rs, err)
	}
	if d4 := d.order("D4"); d4.Refunded != mustAED(t, "1.00") {
		t.Errorf("D4 refunded %s", d4.Refunded)
	}
	c := rec.Counts()
	if c[posbridge.BucketMatched] != 4 || c[posbridge.BucketOnlyGateway] != 3 || c[posbridge.BucketOnlyLocal] != 2 || c[posbridge.BucketDifferent] != 5 {
		t.Errorf("counts %v", c)
	}

	// A second run changes nothing: no event, no order, the same record.
	seq, err := d.db.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int64{}
	for no := range map[string]bool{"M1": true, "G1": true, "G2": true, "L1": true, "L2": true, "D1": true, "D2": true, "D3": true, "D4": true} {
		before[no] = d.order(no).Version
	}
	d.clock.Advance(10 * time.Minute)
	again, err := d.closer.CloseDay(ctx, "2026-03-10", posbridge.By{Actor: posbridge.ActorReconciler})
	if err != nil {
		t.Fatal(err)
	}
	if seq2, _ := d.db.LastSeq(ctx); seq2 != seq {
		t.Errorf("second run wrote events %d..%d", seq, seq2)
	}
	for no, v := range before {
		if got := d.order(no).Version; got != v {
			t.Errorf("second run changed %s (version %d → %d)", no, v, got)
		}
	}
	if again.Runs != 2 || !reflect.DeepEqual(again.Items, rec.Items) {
		t.Errorf("second record: runs %d, items changed:\n%+v\nwas\n%+v", again.Runs, again.Items, rec.Items)
	}
}

func TestDayClose_GatewayErrorChangesNothing(t *testing.T) {
	d := newDayEnv(t, 2)
	d.seedDay()
	ctx := context.Background()
	if err := d.sb.SetFault(payby.PathQueryOrderPage, sandbox.Fault{Kind: sandbox.FaultCode, Code: "500"}); err != nil {
		t.Fatal(err)
	}
	seq, _ := d.db.LastSeq(ctx)
	if _, err := d.closer.CloseDay(ctx, "2026-03-10", posbridge.By{Actor: posbridge.ActorReconciler}); err == nil {
		t.Fatal("a close with a failed list succeeded")
	}
	if seq2, _ := d.db.LastSeq(ctx); seq2 != seq {
		t.Errorf("a failed close wrote events")
	}
	if _, err := d.db.DayClose(ctx, "2026-03-10"); err == nil {
		t.Error("a failed close saved a record")
	}
	if _, err := d.closer.CloseDay(ctx, "2026-03-12", posbridge.By{}); posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Errorf("closing a day not begun: %v", err)
	}
	if _, err := d.closer.CloseDay(ctx, "10/03/2026", posbridge.By{}); posbridge.ErrorCode(err) != posbridge.EINVALID {
		t.Errorf("closing a bad date: %v", err)
	}
}

func TestDayReport_Totals(t *testing.T) {
	d := newDayEnv(t, 50)
	d.seedDay()
	ctx := context.Background()
	if _, err := d.closer.CloseDay(ctx, "2026-03-10", posbridge.By{Actor: posbridge.ActorReconciler}); err != nil {
		t.Fatal(err)
	}
	r, err := d.closer.DayReport(ctx, "2026-03-10")
	if err != nil {
		t.Fatal(err)
	}
	// Paid after the close: M1 10, G1 25, L1 30, D1 15, D2 20, D3 9, D4 12 = 121.
	if len(r.Paid) != 1 || r.Paid[0].Amount != mustAED(t, "121.00") || r.Paid[0].Count != 7 {
		t.Errorf("paid %+v", r.Paid)
	}
	if len(r.Refunded) != 1 || r.Refunded[0].Amount != mustAED(t, "3.00") || len(r.Net) != 1 || r.Net[0].Amount != mustAED(t, "118.00") {
		t.Errorf("refunded %+v net %+v", r.Refunded, r.Net)
	}
	if r.Orders != 11 || r.Close == nil || len(r.Attention) != 9 {
		t.Errorf("orders %d, close %v, attention %d", r.Orders, r.Close != nil, len(r.Attention))
	}
	lanes := map[string]int{}
	for _, l := range r.ByLane {
		lanes[l.Key] = l.Count
	}
	if lanes["1"] != 6 || lanes[posbridge.ImportLane] != 1 {
		t.Errorf("by lane %+v", r.ByLane)
	}
	cashiers := map[string]int{}
	for _, l := range r.ByCashier {
		cashiers[l.Key] = l.Count
	}
	if cashiers["amira"] != 6 || cashiers["supervisor"] != 0 && cashiers[""] != 1 {
		t.Errorf("by cashier %+v", r.ByCashier)
	}
}

// TestDayCloser_ScheduledRunCatchesUp: started after a day was missed, the
// scheduled run closes it at once, then closes the day at close_at.
func TestDayCloser_ScheduledRunCatchesUp(t *testing.T) {
	d := newDayEnv(t, 50)
	d.seedDay() // the clock is at 2026-03-10 23:00 UTC
	closer, err := posbridge.NewDayCloser(d.engine, posbridge.DayConfig{Location: time.UTC, CloseAt: 23*time.Hour + 30*time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	closer.Open()
	t.Cleanup(func() { closer.Close() })
	ctx := context.Background()
	// waitClosed polls (bounded) until date is the latest closed day and
	// the loop waits on its timer again.
	waitClosed := func(date string) {
		t.Helper()
		for i := 0; ; i++ {
			last, err := d.db.LastDayClose(ctx)
			if _, armed := d.clock.NextTimer(); err == nil && last == date && armed {
				return
			}
			if i > 2000 {
				t.Fatalf("latest closed day %q, %v; want %s", last, err, date)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitClosed("2026-03-09")
	if o, err := d.db.Order(ctx, "G1"); err == nil {
		t.Fatalf("closing the day before imported today's G1: %+v", o)
	}
	d.clock.Set(time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC))
	waitClosed("2026-03-10")
	if g1 := d.order("G1"); g1.Status != posbridge.StatusPaid || !g1.NeedsAttention {
		t.Errorf("the scheduled close did not import G1: %+v", g1)
	}
}

// TestDayClose_PortalRefundWithoutOriginInTheList: PayBy's refund list does
// not name the refunded order; the day close asks the refund query and still
// flags the order a portal refund was made on.
func TestDayClose_PortalRefundWithoutOriginInTheList(t *testing.T) {
	d := newDayEnvWith(t, 50, func(c *sandbox.Config) { c.ListRefundsWithoutOrigin = true })
	d.seedDay()
	rec, err := d.closer.CloseDay(context.Background(), "2026-03-10", posbridge.By{Actor: posbridge.ActorReconciler})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rec.Items {
		if it.No == "RP1" && (it.Bucket != posbridge.BucketOnlyGateway || it.Result != "needs attention") {
			t.Errorf("RP1: %+v", it)
		}
	}
	if m1 := d.order("M1"); !m1.NeedsAttention || m1.Attention != posbridge.AttentionRefundElsewhere {
		t.Errorf("M1 after a portal refund: attention %v %q", m1.NeedsAttention, m1.Attention)
	}
}

// TestDayClose_ImportedOpenOrderIsFollowed: an order the gateway has open
// and posbridge never stored is imported pending, on no lane of this till,
// and the reconciler follows it like any other: it asks the gateway, never
// a terminal, and the order is never shown paid without the gateway's word.
func TestDayClose_ImportedOpenOrderIsFollowed(t *testing.T) {
	d := newDayEnvWith(t, 10, func(c *sandbox.Config) { c.CaptureAfterClose = true })
	d.clock.Set(dayStart)
	d.gateway("OPEN1", "8.00", posbridge.GatewayCreated)
	d.clock.Set(dayStart.Add(14 * time.Hour))
	ctx := context.Background()
	if _, err := d.closer.CloseDay(ctx, "2026-03-10", posbridge.By{Actor: posbridge.ActorReconciler}); err != nil {
		t.Fatal(err)
	}
	o := d.order("OPEN1")
	if o.Status != posbridge.StatusPending || !o.NeedsAttention || o.NextCheckAt.IsZero() || o.Lane != posbridge.ImportLane {
		t.Fatalf("imported %+v", o)
	}
	d.engine.ReconcileInterval = 0
	for i := 0; i < 40; i++ {
		if _, err := d.engine.ReconcileOnce(ctx); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		d.clock.Advance(30 * time.Minute)
	}
	o = d.order("OPEN1")
	if o.Status == posbridge.StatusPaid || !o.NeedsAttention {
		t.Fatalf("after the reconciler: %+v", o)
	}
	if g, _ := d.sb.Order("OPEN1"); g.Charges != 0 {
		t.Fatalf("charged %d times", g.Charges)
	}
	// A capture the acquirer reports late is still found.
	d.gateway("OPEN1", "8.00", posbridge.GatewayPaid)
	for i := 0; i < 10 && d.order("OPEN1").Status != posbridge.StatusPaid; i++ {
		d.clock.Advance(24 * time.Hour)
		if _, err := d.engine.ReconcileOnce(ctx); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	if o := d.order("OPEN1"); o.Status != posbridge.StatusPaid || !o.NeedsAttention {
		t.Fatalf("a late capture of an imported order was not found: %+v", o)
	}
}
