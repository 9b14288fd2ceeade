package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

// inbox is a notification receiver called in-process (so it works inside
// testing/synctest): it answers SUCCESS unless told to refuse.
type inbox struct {
	mu     sync.Mutex
	bodies [][]byte
	refuse int // refuse this many more deliveries
}

func (in *inbox) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	in.mu.Lock()
	in.bodies = append(in.bodies, b)
	ack := "SUCCESS"
	if in.refuse > 0 {
		in.refuse--
		ack = "FAIL"
	}
	in.mu.Unlock()
	rec := httptest.NewRecorder()
	io.WriteString(rec, ack)
	return rec.Result(), nil
}

type notice struct {
	ID    string `json:"notify_id"`
	Stamp int64  `json:"notify_timestamp"`
	Order *struct {
		MerchantOrderNo string `json:"merchantOrderNo"`
		Status          string `json:"status"`
		PaymentInfo     *struct {
			CardInfo *struct {
				CardNo string `json:"cardNo"`
			} `json:"cardInfo"`
		} `json:"paymentInfo"`
	} `json:"acquireOrder"`
	Refund *struct {
		Status string `json:"status"`
	} `json:"refundOrder"`
}

func (in *inbox) list(t *testing.T) []notice {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []notice
	for _, b := range in.bodies {
		var n notice
		if err := json.Unmarshal(b, &n); err != nil {
			t.Fatalf("notification %s: %v", b, err)
		}
		out = append(out, n)
	}
	return out
}

func newTimedSandbox(t *testing.T, cfg sandbox.Config) (*sandbox.Sandbox, *inbox) {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = sandbox.GenerateKeys() })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	in := &inbox{}
	cfg.Keys, cfg.HTTPClient, cfg.NotifyURL = keys, &http.Client{Transport: in}, "http://pos/notify"
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb, in
}

func record(t *testing.T, sb *sandbox.Sandbox, rec posbridge.AcquirerRecord) {
	t.Helper()
	if rec.Amount.Currency == "" {
		rec.Amount = aed(500)
	}
	if err := sb.Record(context.Background(), rec); err != nil {
		t.Fatalf("record %+v: %v", rec, err)
	}
}

func status(t *testing.T, sb *sandbox.Sandbox, no string) sandbox.Order {
	t.Helper()
	o, ok := sb.Order(no)
	if !ok {
		t.Fatalf("no order %s", no)
	}
	return o
}

func TestSandbox_Clockwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, in := newTimedSandbox(t, sandbox.Config{ExpireAfter: 10 * time.Minute, SettleAfter: time.Hour, RefundSucceedAfter: 5 * time.Minute})
		record(t, sb, posbridge.AcquirerRecord{OrderNo: "X1", Status: posbridge.GatewayCreated})
		record(t, sb, posbridge.AcquirerRecord{OrderNo: "P1", Status: posbridge.GatewayPaid})
		record(t, sb, posbridge.AcquirerRecord{OrderNo: "RF1", OrigNo: "P1", Kind: "refund", Amount: aed(200), Status: posbridge.GatewayCreated})
		time.Sleep(5*time.Minute + time.Second)
		synctest.Wait()
		if o := status(t, sb, "X1"); o.Status != sandbox.StatusCreated {
			t.Fatalf("X1 before its expiry: %s", o.Status)
		}
		if rs := sb.Refunds(); len(rs) != 1 || rs[0].Status != sandbox.RefundSuccess {
			t.Fatalf("refund after 5 minutes: %+v, want SUCCESS", rs)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if o := status(t, sb, "X1"); o.Status != sandbox.StatusFailure || o.FailCode != "ORDER_EXPIRED" {
			t.Fatalf("X1 after 10 minutes: %s %s, want FAILURE ORDER_EXPIRED", o.Status, o.FailCode)
		}
		var got []string
		for _, n := range in.list(t) {
			switch {
			case n.Order != nil:
				got = append(got, n.Order.MerchantOrderNo+" "+n.Order.Status)
			case n.Refund != nil:
				got = append(got, "refund "+n.Refund.Status)
			}
		}
		want := []string{"P1 PAID_SUCCESS", "refund SUCCESS", "X1 FAILURE"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("notifications %v, want %v", got, want)
		}
		time.Sleep(time.Hour)
		if o := status(t, sb, "P1"); o.Status != sandbox.StatusSettled || o.PaidAt.IsZero() {
			t.Fatalf("P1 an hour after payment: %s (paid at %v), want SETTLED", o.Status, o.PaidAt)
		}
	})
}

func TestSandbox_CaptureAfterClose(t *testing.T) {
	for _, capture := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			sb, _ := newTimedSandbox(t, sandbox.Config{CaptureAfterClose: capture})
			record(t, sb, posbridge.AcquirerRecord{OrderNo: "C1", Status: posbridge.GatewayCreated})
			record(t, sb, posbridge.AcquirerRecord{OrderNo: "D1", Status: posbridge.GatewayCreated})
			if err := sb.Expire("C1"); err != nil {
				t.Fatal(err)
			}
			if err := sb.Fail("D1"); err != nil {
				t.Fatal(err)
			}
			err := sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "C1", Amount: aed(500), Status: posbridge.GatewayPaid})
			o := status(t, sb, "C1")
			switch {
			case capture && (err != nil || o.Status != sandbox.StatusPaid || o.Charges != 1):
				t.Fatalf("capture on: %v, %+v, want paid once", err, o)
			case !capture && (!errors.Is(err, sandbox.ErrConflict) || o.Status != sandbox.StatusFailure):
				t.Fatalf("capture off: %v, %+v, want a conflict", err, o)
			}
			// A declined order is never paid by a later record.
			err = sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "D1", Amount: aed(500), Status: posbridge.GatewayPaid})
			if !errors.Is(err, sandbox.ErrConflict) {
				t.Fatalf("paid record for a declined order: %v, want a conflict", err)
			}
		})
	}
}

func TestSandbox_Revoke(t *testing.T) {
	sb := newSandbox(t, posbridgetest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: "P1", Amount: aed(500), Status: posbridge.GatewayPaid})
	if err := sb.Revoke("P1"); err != nil {
		t.Fatal(err)
	}
	if o, _ := sb.Order("P1"); o.Status != sandbox.StatusFailure || !o.Revoked || o.PaidAt.IsZero() {
		t.Fatalf("revoked: %+v, want FAILURE, revoked, paid time kept", o)
	}
	if err := sb.Revoke("NOPE"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestNotifier_KeepTimestampAndReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, in := newTimedSandbox(t, sandbox.Config{})
		sb.SetNotifier(sandbox.NotifierOptions{KeepTimestamp: true})
		in.refuse = 2
		start := time.Now()
		record(t, sb, posbridge.AcquirerRecord{OrderNo: "P1", Status: posbridge.GatewayPaid})
		time.Sleep(13 * time.Minute)
		synctest.Wait()
		got := in.list(t)
		if len(got) != 3 {
			t.Fatalf("%d attempts after 13 minutes, want 3 (now, +2m, +12m)", len(got))
		}
		for _, n := range got {
			if n.Stamp != start.UnixMilli() || n.ID != got[0].ID {
				t.Fatalf("retry %+v: want the first attempt's id and timestamp %d", n, start.UnixMilli())
			}
		}
		time.Sleep(time.Hour)
		if err := sb.Replay(got[0].ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		all := in.list(t)
		if len(all) != 4 || all[3].ID != got[0].ID || all[3].Stamp != start.UnixMilli() {
			t.Fatalf("replay: %+v, want the old notification again", all[len(all)-1])
		}
		ds := sb.Notifications()
		if last := ds[len(ds)-1]; !last.Replay || !last.Delivered {
			t.Fatalf("replay delivery %+v", last)
		}
		if err := sb.Replay("nope"); !errors.Is(err, sandbox.ErrNotFound) {
			t.Fatalf("replay unknown: %v", err)
		}
	})
}

func TestSandbox_FullCardNumbers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, in := newTimedSandbox(t, sandbox.Config{})
		sb.SetFullCardNumbers(true)
		record(t, sb, posbridge.AcquirerRecord{OrderNo: "P1", Status: posbridge.GatewayPaid, Card: posbridge.Card{Brand: "Visa", Last4: "4242"}})
		synctest.Wait()
		got := in.list(t)
		if len(got) != 1 || got[0].Order.PaymentInfo == nil || got[0].Order.PaymentInfo.CardInfo == nil {
			t.Fatalf("notifications %+v", got)
		}
		pan := got[0].Order.PaymentInfo.CardInfo.CardNo
		if len(pan) != 16 || pan[12:] != "4242" || !posbridgetest.Luhn(pan) {
			t.Fatalf("cardNo %q: want 16 Luhn-valid digits ending 4242", pan)
		}
	})
}
