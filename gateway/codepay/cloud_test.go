package codepay_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

// cloudRig is a cloud lane against the sandbox, both on one manual clock.
type cloudRig struct {
	clock *posbridgetest.ManualClock
	sb    *sandbox.Sandbox
	term  *codepay.CloudTerminal
}

func newCloudRig(t *testing.T, reject bool) *cloudRig {
	t.Helper()
	k := sandboxKeys(t)
	clock := posbridgetest.NewManualClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	sb, err := sandbox.New(sandbox.Config{Keys: k, Gateway: "codepay", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	c, err := codepay.New(codepay.Config{BaseURL: srv.URL, AppID: sb.CodePayAppID(), MerchantNo: sb.CodePayMerchantNo(),
		AppKey: k.Merchant, GatewayKey: &k.Gateway.PublicKey, Clock: clock, RatePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	term, err := codepay.NewCloudTerminal(c, codepay.CloudConfig{TerminalSN: "WPOS0001", RejectOffline: reject, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &cloudRig{clock: clock, sb: sb, term: term}
}

// sale runs a sale, moving the clock to each armed timer until it returns.
// The loop waits for real time only in bounded polls of a condition.
func (r *cloudRig) sale(t *testing.T, no posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error, time.Duration) {
	t.Helper()
	type out struct {
		res posbridge.TerminalResult
		err error
	}
	done := make(chan out, 1)
	start := r.clock.Now()
	go func() {
		res, err := r.term.Sale(context.Background(), posbridge.Sale{OrderNo: no, Amount: amount})
		done <- out{res, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case o := <-done:
			return o.res, o.err, r.clock.Now().Sub(start)
		case <-time.After(2 * time.Millisecond):
		}
		if at, ok := r.clock.NextTimer(); ok && at.After(r.clock.Now()) {
			r.clock.Set(at)
		}
	}
	t.Fatal("sale did not return")
	return posbridge.TerminalResult{}, nil, 0
}

func TestCloudTerminal_CustomerPays(t *testing.T) {
	r := newCloudRig(t, true)
	if err := r.sb.SetCloudCustomer(sandbox.CloudCustomer{Action: sandbox.CloudApprove, Delay: 7 * time.Second,
		Card: posbridge.Card{Brand: "VISA", Last4: "4242"}}); err != nil {
		t.Fatal(err)
	}
	res, err, took := r.sale(t, "CL1", usd(t, "34.50"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != posbridge.OutcomeApproved || res.Card.Last4 != "4242" || res.TransStatus != "2" {
		t.Fatalf("result %+v", res)
	}
	// Polled every 2 s: the payment at 7 s is seen by the next query.
	if took < 7*time.Second || took > 12*time.Second {
		t.Fatalf("took %s", took)
	}
	if c := r.sb.Charges()["CL1"]; c != 1 {
		t.Fatalf("charged %d", c)
	}
}

func TestCloudTerminal_Outcomes(t *testing.T) {
	tests := []struct {
		name    string
		action  sandbox.CloudAction
		offline bool
		want    posbridge.Outcome
		status  string // the sandbox's order afterwards; "" none
		unavail bool
		took    time.Duration // at most
	}{
		{"declined", sandbox.CloudDecline, false, posbridge.OutcomeDeclined, sandbox.StatusFailure, false, 10 * time.Second},
		{"canceled on the terminal", sandbox.CloudCancel, false, posbridge.OutcomeDeclined, sandbox.StatusFailure, false, 10 * time.Second},
		// Nobody pays: after 60 s the order is closed on the terminal
		// (after a query) and the result is a timeout, not a decline.
		{"nobody comes", sandbox.CloudIgnore, false, posbridge.OutcomeTimeout, sandbox.StatusFailure, false, 70 * time.Second},
		{"terminal offline, rejected", sandbox.CloudApprove, true, "", "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newCloudRig(t, true)
			if err := r.sb.SetCloudCustomer(sandbox.CloudCustomer{Action: tt.action, Delay: 3 * time.Second}); err != nil {
				t.Fatal(err)
			}
			r.sb.SetTerminalOnline(!tt.offline)
			res, err, took := r.sale(t, "CL2", usd(t, "5.00"))
			if tt.unavail {
				if !errors.Is(err, posbridge.ErrTerminalUnavailable) {
					t.Fatalf("err = %v, want terminal unavailable", err)
				}
				if _, ok := r.sb.Order("CL2"); ok {
					t.Fatal("a rejected push made an order")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want || took > tt.took {
				t.Fatalf("result %+v after %s", res, took)
			}
			o, _ := r.sb.Order("CL2")
			if o.Status != tt.status || o.Charges != 0 {
				t.Fatalf("sandbox order %+v", o)
			}
			if tt.action == sandbox.CloudIgnore {
				if took < 60*time.Second {
					t.Fatalf("gave up after %s, before the 60 s window", took)
				}
				if res.QueryAfter == nil || res.QueryAfter.Outcome != posbridge.OutcomeDeclined {
					t.Fatalf("no query after the close: %+v", res)
				}
				// Closed: the number can never be paid.
				if err := r.sb.Pay("CL2", posbridge.Card{}); !errors.Is(err, sandbox.ErrConflict) {
					t.Fatalf("paid after close: %v", err)
				}
			}
		})
	}
}

func TestCloudTerminal_CloseWhilePayingRefused(t *testing.T) {
	r := newCloudRig(t, true)
	ctx := context.Background()
	if _, err := r.term.Query(ctx, "CL3"); err != nil {
		t.Fatal(err)
	}
	res, err := r.term.Query(ctx, "CL3")
	if err != nil || !res.NoRecord {
		t.Fatalf("unknown order = %+v, %v", res, err)
	}
	if err := r.term.CloseOrder(ctx, "CL3"); err != nil {
		t.Fatalf("close of an unknown order: %v", err)
	}
	if err := r.sb.SetCloudCustomer(sandbox.CloudCustomer{Action: sandbox.CloudIgnore}); err != nil {
		t.Fatal(err)
	}
	// A sale waiting on the terminal, then the customer starts paying.
	go r.term.Sale(ctx, posbridge.Sale{OrderNo: "CL4", Amount: usd(t, "1.00")})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := r.sb.Order("CL4"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no cloud order")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := r.sb.StartPaying("CL4"); err != nil {
		t.Fatal(err)
	}
	if err := r.term.CloseOrder(ctx, "CL4"); err == nil {
		t.Fatal("closed while the customer pays")
	}
	if err := r.sb.Pay("CL4", posbridge.Card{}); err != nil {
		t.Fatal(err)
	}
	if err := r.term.CloseOrder(ctx, "CL4"); err != nil {
		t.Fatalf("close of a paid order is a no-op: %v", err)
	}
	if o, _ := r.sb.Order("CL4"); o.Status != sandbox.StatusPaid {
		t.Fatalf("order %+v", o)
	}
}
