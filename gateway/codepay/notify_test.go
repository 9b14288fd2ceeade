package codepay_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

// fakeService records what it is asked to apply.
type fakeService struct {
	mu  sync.Mutex
	got []posbridge.Notification
	err error
}

func (f *fakeService) ApplyNotification(_ context.Context, n posbridge.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, n)
	return nil
}

func (f *fakeService) list() []posbridge.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posbridge.Notification(nil), f.got...)
}

// signedNotification returns a notification body signed with key, as
// CodePay sends it: the transaction's fields, flat.
func signedNotification(t testing.TB, key *rsa.PrivateKey, at time.Time, fields map[string]string) []byte {
	t.Helper()
	p := codepay.Params{}
	p.SetString("notify_id", "N0001")
	p.SetString("timestamp", strconv.FormatInt(at.UnixMilli(), 10))
	p.SetString("sign_type", "RSA2")
	p.SetString("merchant_no", "312100000164")
	p.SetString("trans_no", "202311140000000001")
	p.SetNumber("trans_type", "1")
	p.SetNumber("trans_status", "2")
	p.SetString("merchant_order_no", "A1B2C3D4E5F6G7H8")
	p.SetString("price_currency", "USD")
	p.SetNumber("order_amount", "34.50")
	p.SetString("trans_end_time", "2026-12-01 01:00:00")
	p.SetString("pay_method_id", "VISA")
	p.SetString("pay_user_account_id", "411111******1111")
	p.SetString("attach", "")
	for k, v := range fields {
		if v == "-" {
			delete(p, k)
			continue
		}
		p.SetString(k, v)
	}
	if err := p.Sign(key); err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, h http.Handler, body []byte) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify/codepay", bytes.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestNotify_AcceptedOnceForgedDigitRefused(t *testing.T) {
	gw := fixtureKey(t, "fixture-gateway-private.pem")
	now := time.Date(2026, 12, 1, 1, 0, 5, 0, time.UTC)
	svc := &fakeService{}
	h, err := codepay.NewNotifyHandler(codepay.NotifyConfig{GatewayKey: &gw.PublicKey, MerchantNo: "312100000164",
		Clock: posbridgetest.NewManualClock(now)}, svc)
	if err != nil {
		t.Fatal(err)
	}
	body := signedNotification(t, gw, now, nil)
	status, ack := post(t, h, body)
	if status != http.StatusOK || ack != "success" {
		t.Fatalf("answer %d %q", status, ack)
	}
	got := svc.list()
	if len(got) != 1 {
		t.Fatalf("applied %d", len(got))
	}
	n := got[0]
	if n.Gateway != "codepay" || n.ID != "N0001" || n.Kind != posbridge.NotifyOrder || n.OrderNo != "A1B2C3D4E5F6G7H8" ||
		n.Status != posbridge.GatewayPaid || n.Amount.Minor != 3450 || n.Amount.Currency != "USD" ||
		n.Card != (posbridge.Card{Brand: "VISA", Last4: "1111"}) || n.Stale {
		t.Fatalf("notification = %+v", n)
	}

	// The same bytes with one digit changed: 401, nothing applied.
	forged := bytes.Replace(body, []byte(`"order_amount":34.50`), []byte(`"order_amount":34.60`), 1)
	if bytes.Equal(forged, body) {
		t.Fatal("fixture has no amount to change")
	}
	if status, _ := post(t, h, forged); status != http.StatusUnauthorized {
		t.Fatalf("forged answered %d", status)
	}
	if len(svc.list()) != 1 || h.Stats().Forged != 1 {
		t.Fatalf("forged reached the service: %d, stats %+v", len(svc.list()), h.Stats())
	}
	// A duplicate is acknowledged again (the engine's inbox makes it a no-op).
	if status, ack := post(t, h, body); status != http.StatusOK || ack != "success" {
		t.Fatalf("duplicate answered %d %q", status, ack)
	}
}

func TestNotify_Refusals(t *testing.T) {
	gw := fixtureKey(t, "fixture-gateway-private.pem")
	app := fixtureKey(t, "fixture-app-private.pem")
	now := time.Date(2026, 12, 1, 1, 0, 5, 0, time.UTC)
	tests := []struct {
		name   string
		body   []byte
		status int
		stale  bool
	}{
		{"signed-with-another-key", signedNotification(t, app, now, nil), http.StatusUnauthorized, false},
		{"sign-missing", bytes.Replace(signedNotification(t, gw, now, nil), []byte(`"sign":`), []byte(`"sigx":`), 1), http.StatusUnauthorized, false},
		{"not-json", []byte("trans_status=2"), http.StatusUnauthorized, false},
		{"unknown-status", signedNotification(t, gw, now, map[string]string{"trans_status": "7"}), http.StatusBadRequest, false},
		{"bad-order-no", signedNotification(t, gw, now, map[string]string{"merchant_order_no": "A/1"}), http.StatusBadRequest, false},
		{"exponent-amount", signedNotification(t, gw, now, map[string]string{"order_amount": "3.45e1"}), http.StatusBadRequest, false},
		{"timestamp-missing", signedNotification(t, gw, now, map[string]string{"timestamp": "-"}), http.StatusBadRequest, false},
		{"other-merchant", signedNotification(t, gw, now, map[string]string{"merchant_no": "999"}), http.StatusBadRequest, false},
		{"stale-16-minutes", signedNotification(t, gw, now.Add(-16*time.Minute), nil), http.StatusOK, true},
		{"status-as-string", signedNotification(t, gw, now, map[string]string{"trans_status": "2"}), http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h, err := codepay.NewNotifyHandler(codepay.NotifyConfig{GatewayKey: &gw.PublicKey, MerchantNo: "312100000164",
				Clock: posbridgetest.NewManualClock(now)}, svc)
			if err != nil {
				t.Fatal(err)
			}
			status, _ := post(t, h, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			got := svc.list()
			if tt.status != http.StatusOK {
				if len(got) != 0 {
					t.Fatalf("refused notification applied: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Stale != tt.stale {
				t.Fatalf("applied %+v", got)
			}
		})
	}
}

func TestNotify_ServiceErrorIsNotAcknowledged(t *testing.T) {
	gw := fixtureKey(t, "fixture-gateway-private.pem")
	now := time.Now()
	svc := &fakeService{err: errors.New("database is locked")}
	h, err := codepay.NewNotifyHandler(codepay.NotifyConfig{GatewayKey: &gw.PublicKey}, svc)
	if err != nil {
		t.Fatal(err)
	}
	status, ack := post(t, h, signedNotification(t, gw, now, nil))
	if status != http.StatusInternalServerError || strings.Contains(ack, "success") {
		t.Fatalf("answer %d %q", status, ack)
	}
}

// The sandbox's notifier and the handler agree: a sale paid and a refund
// made through the CodePay API are notified, verified and acknowledged once.
func TestNotify_FromSandboxNotifier(t *testing.T) {
	k := sandboxKeys(t)
	svc := &fakeService{}
	h, err := codepay.NewNotifyHandler(codepay.NotifyConfig{GatewayKey: &k.Gateway.PublicKey, MerchantNo: sandbox.DefaultCodePayMerchantNo}, svc)
	if err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(h)
	defer recv.Close()
	r := newRig(t, func(c *codepay.Config) { c.NotifyURL = recv.URL })
	ctx := context.Background()
	if _, err := r.client.PayOrder(ctx, codepay.Sale{OrderNo: "NT1", Amount: usd(t, "34.50"), TerminalSN: "T"}); err != nil {
		t.Fatal(err)
	}
	if err := r.sb.Pay("NT1", posbridge.Card{Brand: "MASTERCARD", Last4: "0005"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "NT1R", OrderNo: "NT1", Amount: usd(t, "4.50")}); err != nil {
		t.Fatal(err)
	}
	if err := r.sb.SucceedRefund("NT1R"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(svc.list()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := svc.list()
	if len(got) != 2 {
		t.Fatalf("got %d notifications", len(got))
	}
	if got[0].OrderNo != "NT1" || got[0].Status != posbridge.GatewayPaid || got[0].Amount != usd(t, "34.50") || got[0].Card.Last4 != "0005" {
		t.Fatalf("sale notification %+v", got[0])
	}
	if got[1].Kind != posbridge.NotifyRefund || got[1].OrderNo != "NT1R" || got[1].OrigNo != "NT1" || got[1].Refund != posbridge.GatewayRefundSuccess || got[1].Amount != usd(t, "4.50") {
		t.Fatalf("refund notification %+v", got[1])
	}
	for _, d := range r.sb.Notifications() {
		if !d.Delivered || d.Attempts != 1 || d.Gateway != "codepay" {
			t.Fatalf("delivery %+v", d)
		}
	}
	if h.Stats().Accepted != 2 {
		t.Fatalf("stats %+v", h.Stats())
	}
}

// The notifier retries on CodePay's schedule until it gets "success".
func TestNotify_SandboxRetriesOnSchedule(t *testing.T) {
	k := sandboxKeys(t)
	clock := posbridgetest.NewManualClock(time.Now())
	var mu sync.Mutex
	answers := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		answers++
		if answers < 3 {
			io.WriteString(w, "SUCCESS!") // not the fixed string
			return
		}
		io.WriteString(w, "success")
	}))
	defer recv.Close()
	sb, err := sandbox.New(sandbox.Config{Keys: k, Gateway: "codepay", Clock: clock, NotifyURL: recv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "RT1", Amount: usd(t, "1.00"), Status: posbridge.GatewayPaid}); err != nil {
		t.Fatal(err)
	}
	wait := func(attempts int) sandbox.Delivery {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if ds := sb.Notifications(); len(ds) == 1 && ds[0].Attempts == attempts {
				return ds[0]
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no attempt %d: %+v", attempts, sb.Notifications())
		return sandbox.Delivery{}
	}
	d := wait(1)
	if d.Delivered || d.Gateway != "codepay" {
		t.Fatalf("first attempt %+v", d)
	}
	start := clock.Now()
	if !d.NextAt.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("second attempt at %v, want +5s", d.NextAt.Sub(start))
	}
	clock.Advance(5 * time.Second)
	d = wait(2)
	if !d.NextAt.Equal(clock.Now().Add(10 * time.Second)) {
		t.Fatalf("third attempt at %v, want +10s", d.NextAt.Sub(clock.Now()))
	}
	clock.Advance(10 * time.Second)
	if d = wait(3); !d.Delivered {
		t.Fatalf("third attempt %+v", d)
	}
	if len(sandbox.DefaultCodePayRetrySchedule) != 14 {
		t.Fatalf("schedule has %d retries, CodePay makes 15 attempts", len(sandbox.DefaultCodePayRetrySchedule))
	}
}

func FuzzVerifyNotification(f *testing.F) {
	gw := fixtureKey(f, "fixture-gateway-private.pem")
	now := time.Date(2026, 12, 1, 1, 0, 5, 0, time.UTC)
	f.Add(signedNotification(f, gw, now, nil))
	f.Add(signedNotification(f, gw, now, map[string]string{"trans_type": "3", "orig_merchant_order_no": "A1"}))
	f.Add([]byte(`{"sign":"","trans_status":2}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := codepay.VerifyNotification(&gw.PublicKey, body, now, 15*time.Minute)
		if err == nil || errors.Is(err, gateway.ErrStale) {
			// Accepted only if signed by the gateway key: the fuzzer may
			// keep a seed's fields and signature intact.
			p, perr := codepay.ParseParams(body)
			if perr != nil || p.Verify(&gw.PublicKey) != nil {
				t.Fatalf("accepted without a good signature: %+v", n)
			}
			if n.Amount.Minor < 0 || n.OrderNo == "" {
				t.Fatalf("accepted %+v", n)
			}
		}
	})
}
