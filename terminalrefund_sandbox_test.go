package posbridge_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// reversalRig is the real chain for voids and card-present refunds: the
// engine over SQLite, the serial driver over termsim on an in-memory link,
// termsim's acquirer recording into the sandbox, and the gateway client
// over HTTP to the same sandbox (the single truth about money).
type reversalRig struct {
	e   *posbridge.Engine
	db  *store.DB
	sb  *sandbox.Sandbox
	sim *termsim.Sim
	gw  posbridge.Gateway
}

func newReversalRig(t *testing.T, gateway string) *reversalRig {
	t.Helper()
	net := &posbridgetest.MemNet{}
	cfg := sandbox.Config{Keys: simKeys(t), HTTPClient: net.Client(), Logger: discardLog()}
	if gateway == "codepay" {
		cfg.Gateway = "codepay"
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := net.Serve("gateway", sb.Handler())
	t.Cleanup(func() { stop(); sb.Close() })
	keys := sb.Keys()
	var gw posbridge.Gateway
	if gateway == "codepay" {
		gw, err = codepay.New(codepay.Config{BaseURL: "http://gateway", AppID: sb.CodePayAppID(), MerchantNo: sb.CodePayMerchantNo(), StoreNo: "S1",
			TerminalSN: "T1", AppKey: keys.Merchant, GatewayKey: &keys.Gateway.PublicKey, HTTPClient: net.Client(), Timeout: 5 * time.Second,
			RatePerSecond: -1, Logger: discardLog()})
	} else {
		gw, err = payby.New(payby.Config{BaseURL: "http://gateway/sgs/api", PartnerID: sb.PartnerID(), MerchantKey: keys.Merchant,
			GatewayKey: &keys.Gateway.PublicKey, HTTPClient: net.Client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: discardLog()})
	}
	if err != nil {
		t.Fatal(err)
	}
	sim := termsim.New(termsim.Config{Acquirer: sb, Seed: 1, Logger: discardLog()})
	pipe := termsim.NewPipe(sim)
	conn, err := terminal.Open(terminal.Config{Open: pipe.Open, AppID: "test", Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenOptions(filepath.Join(t.TempDir(), "posbridge.db"), store.Options{Logger: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	e := posbridge.NewEngine(db, gw, map[string]posbridge.Terminal{"1": conn})
	e.Logger = discardLog()
	e.ReconcileInterval = 0
	if err := e.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		conn.Close()
		pipe.Close()
		sim.Close()
		db.Close()
	})
	return &reversalRig{e: e, db: db, sb: sb, sim: sim, gw: gw}
}

func (r *reversalRig) paid(t *testing.T, amount string) posbridge.Order {
	t.Helper()
	ctx := context.Background()
	o, _, err := r.e.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, amount), By: cashier})
	for i := 0; i < 600 && posbridge.ErrorCode(err) == posbridge.ELANEBUSY; i++ {
		// A void or refund whose answer was lost holds the terminal until
		// the driver has closed and queried it.
		time.Sleep(time.Second)
		o, _, err = r.e.Pay(ctx, posbridge.PayRequest{Lane: "1", Amount: mustAED(t, amount), By: cashier})
	}
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	for i := 0; i < 600; i++ {
		if o, err = r.e.Payment(ctx, o.No); err == nil && o.Status == posbridge.StatusPaid {
			return o
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("payment %s is %s, want paid", o.No, o.Status)
	return o
}

// settle waits (in the bubble's time) until the refund is final or the
// reconciler has had its chances, running a reconciler pass each minute.
func (r *reversalRig) settle(t *testing.T, order, no posbridge.OrderNo) posbridge.Refund {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		rs, err := r.db.Refunds(ctx, order)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range rs {
			if x.No == no && x.Status.Final() {
				return x
			}
		}
		time.Sleep(time.Minute)
		if _, err := r.e.ReconcileOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rs, _ := r.db.Refunds(ctx, order)
	t.Fatalf("refund %s never final: %+v", no, rs)
	return posbridge.Refund{}
}

// Voids and card-present refunds through the real driver, termsim and the
// sandbox, for both gateways: each is its own record, confirmed the way it
// shows at the gateway (a refund order; the sale revoked), never sent to
// the gateway as a refund; a lost answer is verified and found; nothing is
// refunded above what was paid.
func TestTerminalReversal_AgainstSandbox(t *testing.T) {
	for _, gateway := range []string{"payby", "codepay"} {
		t.Run(gateway, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newReversalRig(t, gateway)
				ctx := context.Background()

				// A card-present refund of part of a sale.
				sale := r.paid(t, "20.00")
				ref, _, err := r.e.Refund(ctx, sale.No, posbridge.RefundParams{Amount: mustAED(t, "8.00"), CardPresent: true}, refundBy)
				if err != nil {
					t.Fatalf("card-present refund: %v", err)
				}
				if got := r.settle(t, sale.No, ref.No); got.Status != posbridge.RefundSucceeded || got.Method != posbridge.RefundTerminalRefund {
					t.Fatalf("card-present refund: %+v", got)
				}
				if txn, ok := r.sim.Txn(ref.No); !ok || txn.TransType != terminal.TransRefund || txn.OrigNo != string(sale.No) {
					t.Fatalf("terminal's record of the refund: %+v, %v", txn, ok)
				}
				// Its answer lost: the refund is done on the terminal and at the
				// gateway; posbridge finds it by asking, never by sending again.
				r.sim.SetDefault(termsim.Script{Action: termsim.Approve, LoseResponse: true})
				lost, _, err := r.e.Refund(ctx, sale.No, posbridge.RefundParams{Amount: mustAED(t, "2.00"), CardPresent: true}, refundBy)
				if err != nil {
					t.Fatalf("second card-present refund: %v", err)
				}
				if got := r.settle(t, sale.No, lost.No); got.Status != posbridge.RefundSucceeded {
					t.Fatalf("refund with a lost answer: %+v", got)
				}
				r.sim.SetDefault(termsim.Script{Action: termsim.Approve})
				// 10.00 is left: a gateway refund of 10.01 is refused, 10.00 is not.
				if _, _, err := r.e.Refund(ctx, sale.No, posbridge.RefundParams{Amount: mustAED(t, "10.01")}, refundBy); !errors.Is(err, posbridge.ErrRefundExceeded) {
					t.Fatalf("gateway refund over the rest: %v", err)
				}
				if got, _ := r.e.Payment(ctx, sale.No); got.Refunded != mustAED(t, "10.00") {
					t.Fatalf("refunded %s, want 10.00", got.Refunded)
				}
				for _, q := range r.sb.Requests() {
					if strings.HasSuffix(q.Path, "/acquire2/refund/placeOrder") || strings.HasSuffix(q.Path, "#"+codepay.MethodRefund) {
						t.Fatalf("a terminal refund was sent to the gateway: %+v", q)
					}
				}

				// A same-day void of another sale.
				other := r.paid(t, "7.50")
				v, _, err := r.e.Void(ctx, other.No, posbridge.VoidParams{}, refundBy)
				if err != nil {
					t.Fatalf("Void: %v", err)
				}
				if got := r.settle(t, other.No, v.No); got.Status != posbridge.RefundSucceeded || got.Amount != other.Amount {
					t.Fatalf("void: %+v", got)
				}
				g, err := r.gw.QueryOrder(ctx, other.No)
				if err != nil || !g.Revoked {
					t.Fatalf("the gateway's view of the voided sale: %+v, %v", g, err)
				}
				if got, _ := r.e.Payment(ctx, other.No); got.Status != posbridge.StatusPaid || got.Refunded != other.Amount {
					t.Fatalf("voided order: %s, refunded %s", got.Status, got.Refunded)
				}
				if gateway != "payby" {
					return // the day close lists PayBy's day
				}
				// The day close finds no difference: the card-present refunds are
				// the gateway's refund orders, the void is the sale revoked.
				dc, err := posbridge.NewDayCloser(r.e, posbridge.DayConfig{Location: time.UTC, CloseAt: -1})
				if err != nil {
					t.Fatal(err)
				}
				rec, err := dc.CloseDay(ctx, time.Now().UTC().Format(time.DateOnly), posbridge.By{Actor: posbridge.ActorReconciler})
				if err != nil {
					t.Fatalf("CloseDay: %v", err)
				}
				if len(rec.Items) != 5 {
					t.Errorf("day close items %+v, want the 2 sales, 2 refunds and the void", rec.Items)
				}
				for _, it := range rec.Items {
					if it.Bucket != posbridge.BucketMatched {
						t.Errorf("day close: %s %s is %s (%s)", it.Kind, it.No, it.Bucket, it.Detail)
					}
				}
				for _, no := range []posbridge.OrderNo{sale.No, other.No} {
					if got, _ := r.e.Payment(ctx, no); got.NeedsAttention {
						t.Errorf("order %s flagged after the day close: %s", no, got.Attention)
					}
				}
			})
		})
	}
}

// CodePay settlement: batch.close for the lane's terminal is recorded with
// its totals; afterwards a void of a sale of that batch is refused with the
// reason and never reaches the terminal, and a card-present refund still
// works.
func TestSettlement_AgainstSandbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReversalRig(t, "codepay")
		ctx := context.Background()
		sale := r.paid(t, "12.00")
		time.Sleep(time.Second)
		st, err := posbridge.NewSettlements(r.e, map[string]string{"1": "T1"})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := st.Settle(ctx, "1", posbridge.By{Actor: posbridge.ActorAPI, Who: "supervisor"})
		if err != nil {
			t.Fatalf("Settle: %v", err)
		}
		if rec.Totals.Sales != 1 || rec.Totals.SalesTotal != mustAED(t, "12.00") || rec.Totals.TerminalSN != "T1" || rec.ID == 0 {
			t.Fatalf("settlement: %+v", rec)
		}
		if last, err := r.db.LastSettlement(ctx, "1"); err != nil || last.ID != rec.ID {
			t.Fatalf("recorded settlement: %+v, %v", last, err)
		}
		_, _, err = r.e.Void(ctx, sale.No, posbridge.VoidParams{}, refundBy)
		var pe *posbridge.Error
		if !errors.As(err, &pe) || pe.Code != posbridge.ECONFLICT {
			t.Fatalf("void after settlement: %v, want conflict", err)
		}
		ref, _, err := r.e.Refund(ctx, sale.No, posbridge.RefundParams{Amount: mustAED(t, "12.00"), CardPresent: true}, refundBy)
		if err != nil {
			t.Fatalf("refund after settlement: %v", err)
		}
		if got := r.settle(t, sale.No, ref.No); got.Status != posbridge.RefundSucceeded {
			t.Fatalf("refund after settlement: %+v", got)
		}
		if _, err := st.Settle(ctx, "9", posbridge.By{}); posbridge.ErrorCode(err) != posbridge.ENOTFOUND {
			t.Fatalf("settle an unknown lane: %v", err)
		}
	})
}
