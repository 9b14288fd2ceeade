package posbridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// TestSimulationDayClose is the day-close scenario family: seeded days of
// orders where the gateway and posbridge drift apart the ways a real till
// does (a charge nobody recorded, a capture after the order was closed, a
// paid order the gateway never heard of, an amount that differs, a pending
// order the gateway paid, a refund made in the merchant portal, a refund
// whose result was missed), with the gateway failing a list page now and
// then. Each simulated day ends with a day close over the real store, the
// real PayBy client and the sandbox on an in-memory network, inside
// testing/synctest. Checked: every difference lands in its bucket with its
// action; a failed close changes nothing; a second close changes nothing;
// at the end every charge the gateway holds is paid in posbridge.
//
// POSBRIDGE_SIM_DAYCLOSE_SCENARIOS sets how many run (default 30);
// POSBRIDGE_SIM_DAYCLOSE_SEED=N replays one.
func TestSimulationDayClose(t *testing.T) {
	first, count := int64(1), 30
	if s := os.Getenv("POSBRIDGE_SIM_DAYCLOSE_SCENARIOS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("POSBRIDGE_SIM_DAYCLOSE_SCENARIOS=%q: want a positive number", s)
		}
		count = n
	}
	if s := os.Getenv("POSBRIDGE_SIM_DAYCLOSE_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("POSBRIDGE_SIM_DAYCLOSE_SEED=%q: want a number", s)
		}
		first, count = n, 1
	}
	for seed := first; seed < first+int64(count); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with: POSBRIDGE_SIM_DAYCLOSE_SEED=%d go test -run TestSimulationDayClose .", seed)
				}
			})
			synctest.Test(t, func(t *testing.T) { runDayCloseScenario(t, seed) })
		})
	}
}

// drift is one way the two sides of a day differ, and what the day close
// must make of it.
type drift int

const (
	driftNone drift = iota
	driftFailedBoth
	driftUnrecordedCharge
	driftCapturedAfterClose
	driftUnknownToGateway
	driftAmount
	driftPendingPaid
	driftPortalRefund
	driftNeverSent
	driftMissedRefund
	driftKinds
)

// expectation is what the day close must find for one order (and refund).
type expectation struct {
	no        posbridge.OrderNo
	kind      drift
	bucket    posbridge.DayBucket
	action    posbridge.DayAction
	status    posbridge.Status
	attention bool
	refundNo  posbridge.OrderNo // when the drift is about a refund
	refundBkt posbridge.DayBucket
}

type dayWorld struct {
	t      *testing.T
	r      *rand.Rand
	db     *store.DB
	sb     *sandbox.Sandbox
	closer *posbridge.DayCloser
	exp    []expectation
}

func runDayCloseScenario(t *testing.T, seed int64) {
	ctx := context.Background()
	w := &dayWorld{t: t, r: rand.New(rand.NewSource(seed))}
	net := &posbridgetest.MemNet{}
	var err error
	w.sb, err = sandbox.New(sandbox.Config{Keys: simKeys(t), HTTPClient: net.Client(), Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	stopGateway := net.Serve("gateway", w.sb.Handler())
	defer func() { stopGateway(); w.sb.Close() }()
	keys := w.sb.Keys()
	gw, err := payby.New(payby.Config{BaseURL: "http://gateway/sgs/api", PartnerID: w.sb.PartnerID(), MerchantKey: keys.Merchant,
		GatewayKey: &keys.Gateway.PublicKey, HTTPClient: net.Client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	w.db, err = store.OpenOptions(simDB(t, t.TempDir()), store.Options{Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.db.Close()
	e := posbridge.NewEngine(w.db, gw, nil)
	e.Logger = discardLog()
	w.closer, err = posbridge.NewDayCloser(e, posbridge.DayConfig{Location: time.UTC, CloseAt: -1, PageSize: 1 + w.r.Intn(5)})
	if err != nil {
		t.Fatal(err)
	}

	days := 1 + w.r.Intn(3)
	for day := 0; day < days; day++ {
		now := time.Now().UTC()
		midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		if now.After(midnight.Add(9 * time.Hour)) {
			midnight = midnight.AddDate(0, 0, 1)
		}
		time.Sleep(midnight.Add(9 * time.Hour).Sub(now))
		date := midnight.Format(time.DateOnly)
		w.exp = nil
		orders := 3 + w.r.Intn(10)
		for i := 0; i < orders; i++ {
			w.makeOrder(posbridge.OrderNo(fmt.Sprintf("S%dD%dN%d", seed, day, i)), drift(w.r.Intn(int(driftKinds))))
			time.Sleep(time.Duration(1+w.r.Intn(60)) * time.Minute)
		}
		time.Sleep(midnight.Add(23*time.Hour + 30*time.Minute).Sub(time.Now()))

		// Now and then a list page fails: the close changes nothing.
		if w.r.Intn(3) == 0 {
			path := []string{payby.PathQueryOrderPage, payby.PathQueryRefundPage}[w.r.Intn(2)]
			if err := w.sb.SetFault(path, sandbox.Fault{Kind: sandbox.FaultCode, Code: "500"}); err != nil {
				t.Fatal(err)
			}
			seq, _ := w.db.LastSeq(ctx)
			if _, err := w.closer.CloseDay(ctx, date, posbridge.By{Actor: posbridge.ActorReconciler}); posbridge.ErrorCode(err) != posbridge.EUNAVAILABLE {
				t.Fatalf("day %s: a close with a failing %s: %v, want unavailable", date, path, err)
			}
			if seq2, _ := w.db.LastSeq(ctx); seq2 != seq {
				t.Fatalf("day %s: a failed close wrote events %d..%d", date, seq, seq2)
			}
			if _, err := w.db.DayClose(ctx, date); err == nil {
				t.Fatalf("day %s: a failed close saved a record", date)
			}
		}
		rec, err := w.closer.CloseDay(ctx, date, posbridge.By{Actor: posbridge.ActorReconciler})
		if err != nil {
			t.Fatalf("day %s: %v", date, err)
		}
		w.checkDay(date, rec)

		seq, _ := w.db.LastSeq(ctx)
		again, err := w.closer.CloseDay(ctx, date, posbridge.By{Actor: posbridge.ActorReconciler})
		if err != nil {
			t.Fatalf("day %s, second close: %v", date, err)
		}
		if seq2, _ := w.db.LastSeq(ctx); seq2 != seq || again.Runs != 2 || len(again.Items) != len(rec.Items) {
			t.Fatalf("day %s: the second close changed something: events %d..%d, runs %d, items %d → %d", date, seq, seq2, again.Runs, len(rec.Items), len(again.Items))
		}
	}

	// Every charge the gateway holds is paid in posbridge.
	for _, g := range w.sb.Orders() {
		if g.Status != sandbox.StatusPaid && g.Status != sandbox.StatusSettled {
			continue
		}
		o, err := w.db.Order(ctx, posbridge.OrderNo(g.MerchantOrderNo))
		if err != nil || o.Status != posbridge.StatusPaid {
			t.Errorf("the gateway holds a charge of %s on %s; posbridge has %+v, %v", g.Amount, g.MerchantOrderNo, o.Status, err)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// makeOrder makes one order of kind k on both sides (or one) and records
// what the day close must find.
func (w *dayWorld) makeOrder(no posbridge.OrderNo, k drift) {
	t := w.t
	ctx := context.Background()
	amount := posbridge.Money{Minor: int64(100 + w.r.Intn(50000)), Currency: "AED"}
	local := func(st posbridge.Status, reason posbridge.Reason) {
		o := posbridge.Order{No: no, Lane: "1", Amount: amount}
		if _, err := w.db.CreateOrder(ctx, &o, posbridge.Cause{Actor: posbridge.ActorCashier, Who: "sim", Action: "pay"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.db.UpdateOrder(ctx, no, posbridge.Cause{Actor: posbridge.ActorEngine, Action: "sim"}, func(o *posbridge.Order) error {
			o.Status, o.Reason = st, reason
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	gateway := func(m posbridge.Money, st posbridge.GatewayStatus) {
		if err := w.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: no, Kind: "sale", Amount: m, Status: st,
			Card: posbridge.Card{Brand: "VISA", Last4: "4242"}}); err != nil {
			t.Fatal(err)
		}
	}
	x := expectation{no: no, kind: k, bucket: posbridge.BucketMatched, action: posbridge.ActNone, status: posbridge.StatusPaid}
	switch k {
	case driftNone:
		local(posbridge.StatusPaid, "")
		gateway(amount, posbridge.GatewayPaid)
	case driftFailedBoth:
		local(posbridge.StatusFailed, posbridge.ReasonDeclined)
		gateway(amount, posbridge.GatewayFailed)
		x.status = posbridge.StatusFailed
	case driftUnrecordedCharge:
		gateway(amount, posbridge.GatewayPaid)
		x.bucket, x.action, x.attention = posbridge.BucketOnlyGateway, posbridge.ActImport, true
	case driftCapturedAfterClose:
		local(posbridge.StatusCanceled, posbridge.ReasonExpired)
		gateway(amount, posbridge.GatewayPaid)
		x.bucket, x.action, x.attention = posbridge.BucketDifferent, posbridge.ActApply, true
	case driftUnknownToGateway:
		local(posbridge.StatusPaid, "")
		x.bucket, x.action, x.attention = posbridge.BucketOnlyLocal, posbridge.ActVerify, true
	case driftAmount:
		local(posbridge.StatusPaid, "")
		gateway(posbridge.Money{Minor: amount.Minor + 1, Currency: "AED"}, posbridge.GatewayPaid)
		x.bucket, x.action, x.attention = posbridge.BucketDifferent, posbridge.ActFlag, true
	case driftPendingPaid:
		local(posbridge.StatusPending, "")
		gateway(amount, posbridge.GatewayPaid)
		x.bucket, x.action, x.attention = posbridge.BucketDifferent, posbridge.ActApply, true
	case driftNeverSent:
		local(posbridge.StatusFailed, posbridge.ReasonNotSent)
		x.status = posbridge.StatusFailed
	case driftPortalRefund, driftMissedRefund:
		local(posbridge.StatusPaid, "")
		gateway(amount, posbridge.GatewayPaid)
		x.refundNo, x.attention = no+"R", true
		part := posbridge.Money{Minor: 1 + int64(w.r.Intn(int(amount.Minor))), Currency: "AED"}
		if k == driftMissedRefund {
			r := posbridge.Refund{No: x.refundNo, OrderNo: no, Amount: part}
			if _, err := w.db.CreateRefund(ctx, &r, posbridge.Cause{Actor: posbridge.ActorCashier, Who: "sim", Action: "refund"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := w.db.UpdateRefund(ctx, r.No, posbridge.Cause{Actor: posbridge.ActorGatewayQuery, Action: "sim"}, func(r *posbridge.Refund) error {
				r.Status = posbridge.RefundPending
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			x.refundBkt = posbridge.BucketDifferent
		} else {
			x.refundBkt = posbridge.BucketOnlyGateway
		}
		if err := w.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: x.refundNo, OrigNo: no, Kind: "refund", Amount: part, Status: posbridge.GatewayPaid}); err != nil {
			t.Fatal(err)
		}
	}
	w.exp = append(w.exp, x)
}

// checkDay checks a day's record and the orders against the expectations.
func (w *dayWorld) checkDay(date string, rec posbridge.DayClose) {
	t := w.t
	items := map[posbridge.OrderNo]posbridge.DayItem{}
	for _, it := range rec.Items {
		items[it.No] = it
	}
	for _, x := range w.exp {
		it, ok := items[x.no]
		if !ok {
			t.Errorf("day %s: drift %d: no item for %s", date, x.kind, x.no)
			continue
		}
		if it.Bucket != x.bucket || it.Action != x.action {
			t.Errorf("day %s: drift %d: %s landed in %s / %s (%s), want %s / %s", date, x.kind, x.no, it.Bucket, it.Action, it.Detail, x.bucket, x.action)
		}
		o, err := w.db.Order(context.Background(), x.no)
		if err != nil {
			t.Errorf("day %s: drift %d: %s: %v", date, x.kind, x.no, err)
			continue
		}
		if o.Status != x.status || o.NeedsAttention != x.attention {
			t.Errorf("day %s: drift %d: %s is %s attention %v (%s), want %s attention %v", date, x.kind, x.no, o.Status, o.NeedsAttention, o.Attention, x.status, x.attention)
		}
		if x.kind == driftCapturedAfterClose && o.Reason != posbridge.ReasonPaidAfterClose {
			t.Errorf("day %s: %s captured after close has reason %q", date, x.no, o.Reason)
		}
		if x.refundNo == "" {
			continue
		}
		ri, ok := items[x.refundNo]
		if !ok || ri.Kind != posbridge.DayRefund || ri.Bucket != x.refundBkt {
			t.Errorf("day %s: drift %d: refund %s item %+v, want bucket %s", date, x.kind, x.refundNo, ri, x.refundBkt)
		}
		if x.kind == driftMissedRefund {
			rs, _ := w.db.Refunds(context.Background(), x.no)
			if len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded || o.Refunded != rs[0].Amount {
				t.Errorf("day %s: missed refund %s: %+v, order refunded %s", date, x.refundNo, rs, o.Refunded)
			}
		}
	}
}

// closeDays ends a TestSimulation scenario the way a shop ends its day: a
// day close over every day the scenario touched, on the last life's engine.
// After the faults healed, the gateway has no order posbridge never stored
// (write-ahead: nothing acknowledged is lost) but, in one scenario of four,
// a charge the acquirer took outside posbridge, which the close imports;
// every charge the gateway holds is paid in posbridge after the close, and
// a second close changes nothing.
func (w *world) closeDays() {
	t := w.t
	ctx := context.Background()
	d := w.d()
	closer, err := posbridge.NewDayCloser(d.engine, posbridge.DayConfig{Location: time.UTC, CloseAt: -1, PageSize: 20})
	if err != nil {
		t.Fatalf("day closer: %v", err)
	}
	// Now and then the acquirer holds a charge nobody recorded (a sale rung
	// up on the terminal's own keypad): the close must import it.
	foreign := posbridge.OrderNo("")
	if r := rand.New(rand.NewSource(w.seed ^ 0x5eed)); r.Intn(4) == 0 {
		foreign = posbridge.OrderNo(fmt.Sprintf("KEYPAD%d", w.seed))
		amount := posbridge.Money{Minor: int64(100 + r.Intn(10000)), Currency: "AED"}
		if err := w.sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: foreign, Kind: "sale", Amount: amount, Status: posbridge.GatewayPaid}); err != nil {
			t.Fatalf("record a keypad sale: %v", err)
		}
		w.note("the acquirer charged %s %s that posbridge never saw", foreign, amount)
	}
	var first time.Time
	for _, g := range w.sb.Orders() {
		if first.IsZero() || g.CreatedAt.Before(first) {
			first = g.CreatedAt
		}
	}
	if first.IsZero() {
		return
	}
	now := time.Now().UTC()
	for day := first.UTC().Truncate(24 * time.Hour); !day.After(now); day = day.AddDate(0, 0, 1) {
		date := day.Format(time.DateOnly)
		rec, err := closer.CloseDay(ctx, date, posbridge.By{Actor: posbridge.ActorReconciler, Who: "simulation"})
		if err != nil {
			w.violation("day close %s: %v", date, err)
			return
		}
		for _, it := range rec.Items {
			if it.No == foreign {
				if it.Bucket != posbridge.BucketOnlyGateway || it.Action != posbridge.ActImport {
					w.violation("day close %s: the keypad sale %s landed in %s/%s", date, it.No, it.Bucket, it.Action)
				}
				continue
			}
			if it.Kind == posbridge.DayOrder && it.Bucket == posbridge.BucketOnlyGateway {
				w.violation("day close %s: the gateway has order %s (%s %s) that posbridge never stored", date, it.No, it.GatewayStatus, it.GatewayAmount)
			}
			if it.Bucket != posbridge.BucketMatched {
				w.note("day close %s: %s %s %s/%s: %s → %s", date, it.Kind, it.No, it.Bucket, it.Action, it.Detail, it.Result)
			}
		}
		seq, _ := d.db.LastSeq(ctx)
		if _, err := closer.CloseDay(ctx, date, posbridge.By{Actor: posbridge.ActorReconciler, Who: "simulation"}); err != nil {
			w.violation("second day close %s: %v", date, err)
		}
		if seq2, _ := d.db.LastSeq(ctx); seq2 != seq {
			w.violation("the second day close of %s wrote events %d..%d", date, seq, seq2)
		}
	}
	if foreign != "" {
		if o, err := d.db.Order(ctx, foreign); err != nil || o.Status != posbridge.StatusPaid || !o.NeedsAttention {
			w.violation("the keypad sale %s after the day close: %+v, %v; want paid, needing attention", foreign, o, err)
		}
	}
	for _, g := range w.sb.Orders() {
		if g.Status != sandbox.StatusPaid && g.Status != sandbox.StatusSettled {
			continue
		}
		if o, err := d.db.Order(ctx, posbridge.OrderNo(g.MerchantOrderNo)); err != nil || o.Status != posbridge.StatusPaid {
			w.violation("after the day close the gateway holds a charge on %s; posbridge has %s, %v", g.MerchantOrderNo, o.Status, err)
		}
	}
}
