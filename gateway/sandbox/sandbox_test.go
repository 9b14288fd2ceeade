package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

var (
	keysOnce sync.Once
	keys     sandbox.Keys
	keysErr  error
)

func newSandbox(t *testing.T, clock posbridge.Clock) *sandbox.Sandbox {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = sandbox.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	sb, err := sandbox.New(sandbox.Config{Keys: keys, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func aed(minor int64) posbridge.Money { return posbridge.Money{Minor: minor, Currency: "AED"} }

// TestControlClient_Record drives the control API over HTTP as a simulated
// terminal in another process would.
func TestControlClient_Record(t *testing.T) {
	sb := newSandbox(t, posbridgetest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	cc := &sandbox.ControlClient{URL: srv.URL + "/_sandbox", HTTP: srv.Client()}
	ctx := context.Background()
	var acq posbridge.Acquirer = cc

	if err := acq.Record(ctx, posbridge.AcquirerRecord{OrderNo: "S1", Amount: aed(1250), Status: posbridge.GatewayCreated}); err != nil {
		t.Fatal(err)
	}
	if err := cc.OrderAction(ctx, "S1", "pay"); err != nil {
		t.Fatal(err)
	}
	// The acquirer repeating "paid" charges nobody twice.
	for i := 0; i < 2; i++ {
		if err := acq.Record(ctx, posbridge.AcquirerRecord{OrderNo: "S1", Amount: aed(1250), Status: posbridge.GatewayPaid}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		rec  posbridge.AcquirerRecord
		want error
	}{
		{"other-amount", posbridge.AcquirerRecord{OrderNo: "S1", Amount: aed(1), Status: posbridge.GatewayPaid}, sandbox.ErrConflict},
		{"failed-after-paid", posbridge.AcquirerRecord{OrderNo: "S1", Amount: aed(1250), Status: posbridge.GatewayFailed}, sandbox.ErrConflict},
		{"bad-number", posbridge.AcquirerRecord{OrderNo: "a b", Amount: aed(1), Status: posbridge.GatewayPaid}, sandbox.ErrInvalid},
		{"refund-unknown", posbridge.AcquirerRecord{OrderNo: "RF", OrigNo: "NOPE", Kind: "refund", Amount: aed(1), Status: posbridge.GatewayPaid}, sandbox.ErrNotFound},
		{"refund-too-much", posbridge.AcquirerRecord{OrderNo: "RF", OrigNo: "S1", Kind: "refund", Amount: aed(1251), Status: posbridge.GatewayPaid}, sandbox.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range []posbridge.Acquirer{cc, sb} {
				if err := a.Record(ctx, tt.rec); !errors.Is(err, tt.want) {
					t.Fatalf("%T.Record = %v, want %v", a, err, tt.want)
				}
			}
		})
	}
	if err := cc.OrderAction(ctx, "S1", "pay"); !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("pay twice: %v", err)
	}
	if err := cc.OrderAction(ctx, "NOPE", "pay"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Fatalf("pay unknown: %v", err)
	}
	charges, err := cc.Charges(ctx)
	if err != nil || charges["S1"] != 1 {
		t.Fatalf("charges = %v, %v; want S1 once", charges, err)
	}
	if err := cc.SetFault(ctx, "/acquire2/getOrder", sandbox.Fault{Kind: "nonsense"}); !errors.Is(err, sandbox.ErrInvalid) {
		t.Fatalf("bad fault: %v", err)
	}
	if err := cc.SetFault(ctx, "/acquire2/getOrder", sandbox.Fault{Kind: sandbox.FaultCode, Code: "500", Times: 2}); err != nil {
		t.Fatal(err)
	}
	if f := sb.Faults()["/acquire2/getOrder"]; len(f) != 1 || f[0].Times != 2 {
		t.Fatalf("faults = %+v", sb.Faults())
	}
}

func TestSandbox_RefundRules(t *testing.T) {
	clock := posbridgetest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sb := newSandbox(t, clock)
	ctx := context.Background()
	if err := sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "O1", Amount: aed(1000), Status: posbridge.GatewayPaid}); err != nil {
		t.Fatal(err)
	}
	refund := func(no string, minor int64) error {
		return sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), OrigNo: "O1", Kind: "refund", Amount: aed(minor), Status: posbridge.GatewayCreated})
	}
	if err := refund("R1", 600); err != nil {
		t.Fatal(err)
	}
	if err := refund("R2", 401); !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("pending refund not counted: %v", err)
	}
	if err := sb.FailRefund("R1"); err != nil {
		t.Fatal(err)
	}
	if err := refund("R2", 1000); err != nil {
		t.Fatalf("a failed refund frees its amount: %v", err)
	}
	if err := sb.SucceedRefund("R2"); err != nil {
		t.Fatal(err)
	}
	if err := sb.SucceedRefund("R2"); !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("final refund moved: %v", err)
	}
	if o, _ := sb.Order("O1"); o.Refunded.Minor != 1000 || o.Paid.Minor != 1000 {
		t.Fatalf("order %+v", o)
	}
	if err := sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "O2", Amount: aed(500), Status: posbridge.GatewayPaid}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(181 * 24 * time.Hour)
	err := sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "R3", OrigNo: "O2", Kind: "refund", Amount: aed(1), Status: posbridge.GatewayCreated})
	if !errors.Is(err, sandbox.ErrConflict) {
		t.Fatalf("refund after 180 days: %v", err)
	}
}

func TestLoadOrCreateKeys_Reuses(t *testing.T) {
	dir := t.TempDir()
	k1, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := sandbox.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Merchant.Equal(k2.Merchant) || !k1.Gateway.Equal(k2.Gateway) {
		t.Fatal("keys regenerated although present")
	}
}

// A control call makes one order's notifications lost or duplicated.
func TestControl_OrderNotifications(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"mode":"lost"}`, http.StatusNoContent},
		{`{"mode":"duplicated"}`, http.StatusNoContent},
		{`{"mode":""}`, http.StatusNoContent},
		{`{"mode":"sometimes"}`, http.StatusBadRequest},
	} {
		res, err := http.Post(srv.URL+"/_sandbox/payby/orders/Q1/notifications", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.body, res.StatusCode, tt.want)
		}
	}
}
