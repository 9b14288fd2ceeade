package codepay_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

var (
	keysOnce sync.Once
	keys     sandbox.Keys
	keysErr  error
)

// sandboxKeys returns one pair of fresh keys for the whole test binary
// (generating RSA keys is slow).
func sandboxKeys(t *testing.T) sandbox.Keys {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = sandbox.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

type rig struct {
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *codepay.Client
}

func newRig(t *testing.T, mod func(*codepay.Config)) *rig {
	t.Helper()
	k := sandboxKeys(t)
	sb, err := sandbox.New(sandbox.Config{Keys: k, Gateway: "codepay"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	cfg := codepay.Config{
		BaseURL: srv.URL, AppID: sb.CodePayAppID(), MerchantNo: sb.CodePayMerchantNo(), StoreNo: "S1",
		AppKey: k.Merchant, GatewayKey: &k.Gateway.PublicKey, Timeout: 2 * time.Second, RatePerSecond: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := codepay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{sb: sb, srv: srv, client: c}
}

func usd(t *testing.T, s string) posbridge.Money {
	t.Helper()
	m, err := posbridge.ParseAmount(s, "USD")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestClient_SaleQueryCloseAgainstSandbox(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	no := posbridge.OrderNo("CP1")
	p, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: no, Amount: usd(t, "34.50"), TerminalSN: "WPOS0001", RejectOffline: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.TransNo == "" || !p.TerminalOnline {
		t.Fatalf("pushed = %+v", p)
	}
	// The same request again is the same order.
	if p2, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: no, Amount: usd(t, "34.50"), TerminalSN: "WPOS0001", RejectOffline: true}); err != nil || p2.TransNo != p.TransNo {
		t.Fatalf("repeat = %+v, %v", p2, err)
	}
	// Other parameters for the same number are refused.
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: no, Amount: usd(t, "34.51"), TerminalSN: "WPOS0001"}); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("changed repeat: %v", err)
	}
	g, err := r.client.QueryOrder(ctx, no)
	if err != nil || g.Status != posbridge.GatewayCreated || g.Amount != usd(t, "34.50") {
		t.Fatalf("query 9 = %+v, %v", g, err)
	}
	if err := r.sb.StartPaying(string(no)); err != nil {
		t.Fatal(err)
	}
	if g, err = r.client.QueryOrder(ctx, no); err != nil || g.Status != posbridge.GatewayCreated {
		t.Fatalf("query 0 = %+v, %v", g, err)
	}
	if _, err := r.client.CancelOrder(ctx, no); !errors.Is(err, posbridge.ErrRetryable) {
		t.Fatalf("close while paying: %v", err)
	}
	if err := r.sb.Pay(string(no), posbridge.Card{Brand: "VISA", Last4: "4242"}); err != nil {
		t.Fatal(err)
	}
	g, err = r.client.QueryOrder(ctx, no)
	if err != nil || !g.Status.Paid() || g.Card.Last4 != "4242" || g.Card.Brand != "VISA" || g.PaidAt.IsZero() {
		t.Fatalf("query 2 = %+v, %v", g, err)
	}
	if _, err := r.client.CancelOrder(ctx, no); !errors.Is(err, posbridge.ErrOrderPaid) {
		t.Fatalf("close paid: %v", err)
	}
	if r.sb.Charges()[string(no)] != 1 {
		t.Fatalf("charges = %v", r.sb.Charges())
	}

	// 9 → 1 by a close: final, and the number can never be paid.
	no2 := posbridge.OrderNo("CP2")
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: no2, Amount: usd(t, "5.00"), TerminalSN: "WPOS0001"}); err != nil {
		t.Fatal(err)
	}
	g, err = r.client.CancelOrder(ctx, no2)
	if err != nil || g.Status != posbridge.GatewayFailed {
		t.Fatalf("close = %+v, %v", g, err)
	}
	if _, err := r.client.CancelOrder(ctx, no2); !errors.Is(err, posbridge.ErrOrderClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: no2, Amount: usd(t, "5.00"), TerminalSN: "WPOS0001"}); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("pay of a closed number: %v", err)
	}
	if err := r.sb.Pay(string(no2), posbridge.Card{}); !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("sandbox paid a closed order: %v", err)
	}
	if _, err := r.client.QueryOrder(ctx, "NOPE"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	if _, err := r.client.CancelOrder(ctx, "NOPE"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("close unknown: %v", err)
	}
}

func TestClient_TerminalOffline(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	r.sb.SetTerminalOnline(false)
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "OFF1", Amount: usd(t, "1.00"), TerminalSN: "T", RejectOffline: true}); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("rejected offline: %v", err)
	}
	if _, err := r.client.QueryOrder(ctx, "OFF1"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("a refused order exists: %v", err)
	}
	p, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "OFF2", Amount: usd(t, "1.00"), TerminalSN: "T"})
	if err != nil || p.TerminalOnline {
		t.Fatalf("queued offline = %+v, %v", p, err)
	}
}

func TestClient_RefundsAgainstSandbox(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "SALE1", Amount: usd(t, "34.50"), TerminalSN: "T"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "RF0", OrderNo: "SALE1", Amount: usd(t, "1.00")}); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("refund of an unpaid order: %v", err)
	}
	if err := r.sb.Pay("SALE1", posbridge.Card{}); err != nil {
		t.Fatal(err)
	}
	req := posbridge.RefundRequest{RefundNo: "RF1", OrderNo: "SALE1", Amount: usd(t, "30.00"), Reason: "customer"}
	g, err := r.client.Refund(ctx, req)
	if err != nil || g.Status != posbridge.GatewayRefundCreated || g.Amount != usd(t, "30.00") || g.OrderNo != "SALE1" {
		t.Fatalf("refund = %+v, %v", g, err)
	}
	if g2, err := r.client.Refund(ctx, req); err != nil || g2.GatewayNo != g.GatewayNo {
		t.Fatalf("repeat = %+v, %v", g2, err)
	}
	// 4.50 remains: 4.51 is over it.
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "RF2", OrderNo: "SALE1", Amount: usd(t, "4.51")}); !errors.Is(err, posbridge.ErrGatewayFinal) {
		t.Fatalf("over the remainder: %v", err)
	}
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "RF3", OrderNo: "SALE1", Amount: usd(t, "4.50")}); err != nil {
		t.Fatalf("exactly the remainder: %v", err)
	}
	if err := r.sb.SucceedRefund("RF1"); err != nil {
		t.Fatal(err)
	}
	if g, err = r.client.QueryRefund(ctx, "RF1"); err != nil || g.Status != posbridge.GatewayRefundSuccess {
		t.Fatalf("query refund = %+v, %v", g, err)
	}
	if _, err := r.client.QueryRefund(ctx, "RF9"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("unknown refund: %v", err)
	}
}

func TestClient_RevokeAgainstSandbox(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "RV1", Amount: usd(t, "2.00"), TerminalSN: "T"}); err != nil {
		t.Fatal(err)
	}
	if err := r.sb.Pay("RV1", posbridge.Card{}); err != nil {
		t.Fatal(err)
	}
	g, err := r.client.RevokeOrder(ctx, "RV1")
	if err != nil || g.Status != posbridge.GatewayFailed || !g.Revoked {
		t.Fatalf("revoke = %+v, %v", g, err)
	}
}

func TestClient_FaultsAreUnknownOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		fault sandbox.Fault
		want  error
	}{
		{"unsigned answer", sandbox.Fault{Kind: sandbox.FaultUnsigned}, posbridge.ErrUnknownOutcome},
		{"bad signature", sandbox.Fault{Kind: sandbox.FaultBadSign}, posbridge.ErrUnknownOutcome},
		{"truncated JSON", sandbox.Fault{Kind: sandbox.FaultMalformed}, posbridge.ErrUnknownOutcome},
		{"HTTP 502", sandbox.Fault{Kind: sandbox.FaultHTTP502}, posbridge.ErrUnknownOutcome},
		{"dropped connection", sandbox.Fault{Kind: sandbox.FaultDrop}, posbridge.ErrUnknownOutcome},
		{"error after commit", sandbox.Fault{Kind: sandbox.FaultCommit500}, posbridge.ErrUnknownOutcome},
		{"delay past the timeout", sandbox.Fault{Kind: sandbox.FaultDelay, Delay: time.Minute}, posbridge.ErrUnknownOutcome},
		{"unsigned error code", sandbox.Fault{Kind: sandbox.FaultCode, Code: "SYSTEM_BUSY", Unsigned: true}, posbridge.ErrUnknownOutcome},
		{"signed busy", sandbox.Fault{Kind: sandbox.FaultCode, Code: "SYSTEM_BUSY"}, posbridge.ErrRetryable},
		{"unknown code on a mutation", sandbox.Fault{Kind: sandbox.FaultCode, Code: "E123"}, posbridge.ErrUnknownOutcome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *codepay.Config) { c.Timeout = time.Second })
			ctx := context.Background()
			if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "F1", Amount: usd(t, "3.00"), TerminalSN: "T"}); err != nil {
				t.Fatal(err)
			}
			if err := r.sb.SetFault(codepay.MethodClose, tt.fault); err != nil {
				t.Fatal(err)
			}
			_, err := r.client.CancelOrder(ctx, "F1")
			if !errors.Is(err, tt.want) {
				t.Fatalf("close: %v, want %v", err, tt.want)
			}
			// The query before acting again tells the truth: for a fault
			// after commit the order is closed, otherwise still open.
			g, err := r.client.QueryOrder(ctx, "F1")
			if err != nil {
				t.Fatal(err)
			}
			o, _ := r.sb.Order("F1")
			want := posbridge.GatewayCreated
			if o.Status == sandbox.StatusFailure {
				want = posbridge.GatewayFailed
			}
			if g.Status != want {
				t.Fatalf("query after fault = %s, sandbox has %s", g.Status, o.Status)
			}
		})
	}
}

func TestClient_GateRefusals(t *testing.T) {
	other, err := sandbox.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*codepay.Config)
		code string
	}{
		{"clock 16 minutes behind", func(c *codepay.Config) {
			c.Clock = posbridgetest.NewManualClock(time.Now().Add(-16 * time.Minute))
		}, codepay.CodeTimestamp},
		{"clock 16 minutes ahead", func(c *codepay.Config) {
			c.Clock = posbridgetest.NewManualClock(time.Now().Add(16 * time.Minute))
		}, codepay.CodeTimestamp},
		{"wrong app key", func(c *codepay.Config) { c.AppKey = other.Merchant }, codepay.CodeSignInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.mod)
			_, err := r.client.QueryOrder(context.Background(), "X1")
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Code != tt.code || !errors.Is(err, posbridge.ErrGatewayFinal) {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
	// 14 minutes off is inside the window.
	r := newRig(t, func(c *codepay.Config) { c.Clock = posbridgetest.NewManualClock(time.Now().Add(-14 * time.Minute)) })
	if _, err := r.client.QueryOrder(context.Background(), "X1"); !errors.Is(err, posbridge.ErrGatewayNotFound) {
		t.Fatalf("inside the window: %v", err)
	}
}
