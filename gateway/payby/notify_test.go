package payby_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/posbridgetest"
)

var update = flag.Bool("update", false, "rewrite testdata/notify-*.txt from the table in fixtureSpecs")

// fixtureTime is the notify_timestamp of the fixtures (2026-01-01T00:00:00Z).
const fixtureTime = 1767225600000

func order(status, extra string) string {
	return fmt.Sprintf(`{"notify_id":"202601010000001","notify_timestamp":%d,"notify_time":"20260101000000","_input_charset":"UTF-8",`+
		`"acquireOrder":{"merchantOrderNo":"20260101000000000L1abcdefghij","orderNo":"131658300517875854","status":"%s",`+
		`"totalAmount":{"currency":"AED","amount":12.50},"product":"Basic Payment Gateway","revoked":"false"%s}}`, fixtureTime, status, extra)
}

const paidInfo = `,"paymentInfo":{"paidAmount":{"currency":"AED","amount":12.5},"paidTime":1767225590000,"payChannel":"BANKCARD","cardInfo":{"cardBrand":"VISA","cardNo":"411111******4242"}}`

// fixtureSpecs are the notification fixtures: a body and how it is signed
// ("good", "other-key", "tamper", "none", "garbage").
var fixtureSpecs = []struct{ name, body, sign string }{
	{"notify-paid", order("PAID_SUCCESS", paidInfo), "good"},
	{"notify-failed", order("FAILURE", `,"failCode":"CANCELLED","failDes":"order cancelled"`), "good"},
	{"notify-revoked", strings.Replace(order("FAILURE", paidInfo), `"revoked":"false"`, `"revoked":"true"`, 1), "good"},
	{"notify-amount-as-string", strings.Replace(order("PAID_SUCCESS", ""), `12.50}`, `"12.50"}`, 1), "good"},
	{"notify-refund-success", fmt.Sprintf(`{"notify_id":"202601010000002","notify_timestamp":%d,"refundOrder":{"refundMerchantOrderNo":"R20260101","orderNo":"191658300517875854","originMerchantOrderNo":"20260101000000000L1abcdefghij","status":"SUCCESS","amount":{"currency":"AED","amount":5}}}`, fixtureTime), "good"},
	{"notify-transfer-bankcard", `{"transferBankCardOrder":{"requestTime":1581493898000,"merchantOrderNo":"S10000","orderNo":"O1000","product":"Transfer Bank Card","status":"SUCCESS","amount":{"currency":"AED","amount":100},"accountHolderType":"INDIVIDUAL","firstName":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","lastName":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","cardNumber":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","expiryMonth":"12","expiryYear":"2030","payerFeeAmount":{"currency":"AED","amount":1},"payerFeeMemberId":"200000000888","paidTime":1581493899000}}`, "good"},
	{"notify-forged-sign", order("PAID_SUCCESS", paidInfo), "other-key"},
	{"notify-tampered-body", order("PAID_SUCCESS", paidInfo), "tamper"},
	{"notify-missing-sign", order("PAID_SUCCESS", paidInfo), "none"},
	{"notify-garbage-sign", order("PAID_SUCCESS", paidInfo), "garbage"},
	{"notify-stale-timestamp", strings.Replace(order("PAID_SUCCESS", paidInfo), fmt.Sprint(fixtureTime), fmt.Sprint(fixtureTime-20*60*1000), 1), "good"},
	{"notify-future-timestamp", strings.Replace(order("PAID_SUCCESS", paidInfo), fmt.Sprint(fixtureTime), fmt.Sprint(fixtureTime+20*60*1000), 1), "good"},
	{"notify-malformed-json", `{"notify_id":"1","notify_timestamp":1767225600000,"acquireOrder":{"status":"PAID_SUCCESS"`, "good"},
	{"notify-unknown-status", order("REFUNDED", ""), "good"},
	{"notify-no-object", fmt.Sprintf(`{"notify_id":"3","notify_timestamp":%d}`, fixtureTime), "good"},
	{"notify-two-objects", strings.Replace(order("PAID_SUCCESS", ""), `"acquireOrder"`, `"refundOrder":{"status":"SUCCESS"},"acquireOrder"`, 1), "good"},
	{"notify-three-decimals", strings.Replace(order("PAID_SUCCESS", ""), `12.50}`, `12.505}`, 1), "good"},
	{"notify-exponent-amount", strings.Replace(order("PAID_SUCCESS", ""), `12.50}`, `1.25e1}`, 1), "good"},
	{"notify-bad-order-no", strings.Replace(order("PAID_SUCCESS", ""), `20260101000000000L1abcdefghij`, `bad order/no`, 1), "good"},
	{"notify-missing-timestamp", strings.Replace(order("PAID_SUCCESS", ""), fmt.Sprintf(`"notify_timestamp":%d,`, fixtureTime), "", 1), "good"},
	{"notify-trailing-garbage", order("PAID_SUCCESS", "") + `{}`, "good"},
}

// fixtureKey is the test-only gateway key that signs the fixtures.
func fixtureKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := gateway.LoadPrivateKey(filepath.Join("testdata", "fixture-gateway-private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWriteFixtures(t *testing.T) {
	if !*update {
		return
	}
	keyFile := filepath.Join("testdata", "fixture-gateway-private.pem")
	if _, err := os.Stat(keyFile); err != nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pemBytes, _ := gateway.EncodePrivateKeyPEM(k)
		if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k := fixtureKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtureSpecs {
		body := []byte(f.body)
		var sig string
		switch f.sign {
		case "good":
			sig, err = gateway.SignSHA256(k, body)
		case "other-key":
			sig, err = gateway.SignSHA256(other, body)
		case "tamper":
			sig, err = gateway.SignSHA256(k, body)
			body = bytes.Replace(body, []byte(`12.50`), []byte(`1250.00`), 1)
		case "garbage":
			sig = "bm90IGEgc2lnbmF0dXJl"
		}
		if err != nil {
			t.Fatal(err)
		}
		data := append([]byte("sign: "+sig+"\n\n"), body...)
		if err := os.WriteFile(filepath.Join("testdata", f.name+".txt"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readFixture returns a fixture's sign header and exact body.
func readFixture(t testing.TB, name string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	hdr, body, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok || !bytes.HasPrefix(hdr, []byte("sign: ")) {
		t.Fatalf("fixture %s: want \"sign: ...\\n\\nbody\"", name)
	}
	return string(bytes.TrimPrefix(hdr, []byte("sign: "))), body
}

// fakeService records notifications and fails while err is set.
type fakeService struct {
	mu  sync.Mutex
	got []posbridge.Notification
	err error
	ch  chan posbridge.Notification
}

func (f *fakeService) ApplyNotification(ctx context.Context, n posbridge.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.got = append(f.got, n)
	if f.ch != nil {
		f.ch <- n
	}
	return nil
}

func (f *fakeService) all() []posbridge.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]posbridge.Notification(nil), f.got...)
}

func newHandler(t *testing.T, svc posbridge.NotificationService, clock posbridge.Clock) *payby.NotifyHandler {
	t.Helper()
	h, err := payby.NewNotifyHandler(payby.NotifyConfig{GatewayKey: &fixtureKey(t).PublicKey, Clock: clock}, svc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func post(h http.Handler, sign string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/notify/payby", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sign != "" {
		req.Header.Set("sign", sign)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestNotifyHandler_Fixtures(t *testing.T) {
	now := time.UnixMilli(fixtureTime).Add(time.Minute)
	tests := []struct {
		name   string
		status int
		count  func(gateway.NotifyStats) uint64
		check  func(t *testing.T, n posbridge.Notification)
	}{
		{"notify-paid", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Kind != posbridge.NotifyOrder || n.Status != posbridge.GatewayPaid || n.OrderNo != "20260101000000000L1abcdefghij" ||
				n.Amount.Minor != 1250 || n.Card != (posbridge.Card{Brand: "VISA", Last4: "4242"}) || n.ID != "202601010000001" ||
				n.GatewayNo != "131658300517875854" || !n.SentAt.Equal(time.UnixMilli(fixtureTime)) || len(n.Body) == 0 {
				t.Fatalf("notification = %+v", n)
			}
		}},
		{"notify-failed", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Status != posbridge.GatewayFailed || n.Revoked {
				t.Fatalf("notification = %+v", n)
			}
		}},
		{"notify-revoked", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Status != posbridge.GatewayFailed || !n.Revoked {
				t.Fatalf("notification = %+v", n)
			}
		}},
		{"notify-amount-as-string", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Amount.Minor != 1250 {
				t.Fatalf("amount = %v", n.Amount)
			}
		}},
		{"notify-refund-success", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Kind != posbridge.NotifyRefund || n.Refund != posbridge.GatewayRefundSuccess || n.OrderNo != "R20260101" ||
				n.OrigNo != "20260101000000000L1abcdefghij" || n.Amount.Minor != 500 {
				t.Fatalf("notification = %+v", n)
			}
		}},
		{"notify-transfer-bankcard", 200, accepted, func(t *testing.T, n posbridge.Notification) {
			if n.Kind != posbridge.NotifyTransfer || n.OrderNo != "S10000" || n.Amount.Minor != 10000 {
				t.Fatalf("notification = %+v", n)
			}
			// No notify_id in the body: a stable id from the verified bytes,
			// so the inbox can store it and PayBy's retries are duplicates.
			if !strings.HasPrefix(n.ID, "body-sha256-") || len(n.ID) != len("body-sha256-")+32 {
				t.Fatalf("transfer notification id %q", n.ID)
			}
		}},
		{"notify-forged-sign", 401, forged, nil},
		{"notify-tampered-body", 401, forged, nil},
		{"notify-missing-sign", 401, forged, nil},
		{"notify-garbage-sign", 401, forged, nil},
		// Signed but outside the window: handed over marked stale (the
		// engine verifies by query instead of applying it) and answered,
		// so PayBy's late retries are not refused forever.
		{"notify-stale-timestamp", 200, stale, func(t *testing.T, n posbridge.Notification) {
			if !n.Stale || n.Status != posbridge.GatewayPaid {
				t.Fatalf("notification = %+v, want it marked stale", n)
			}
		}},
		{"notify-future-timestamp", 200, stale, func(t *testing.T, n posbridge.Notification) {
			if !n.Stale {
				t.Fatalf("notification = %+v, want it marked stale", n)
			}
		}},
		{"notify-malformed-json", 400, malformed, nil},
		{"notify-unknown-status", 400, malformed, nil},
		{"notify-no-object", 400, malformed, nil},
		{"notify-two-objects", 400, malformed, nil},
		{"notify-three-decimals", 400, malformed, nil},
		{"notify-exponent-amount", 400, malformed, nil},
		{"notify-bad-order-no", 400, malformed, nil},
		{"notify-missing-timestamp", 400, malformed, nil},
		{"notify-trailing-garbage", 400, malformed, nil},
	}
	if len(tests) != len(fixtureSpecs) {
		t.Fatalf("%d cases for %d fixtures", len(tests), len(fixtureSpecs))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHandler(t, svc, posbridgetest.NewManualClock(now))
			sign, body := readFixture(t, tt.name)
			rec := post(h, sign, body)
			if rec.Code != tt.status {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.status)
			}
			if got := tt.count(h.Stats()); got != 1 {
				t.Fatalf("counter = %d, want 1; stats %+v", got, h.Stats())
			}
			got := svc.all()
			if tt.status != 200 {
				if len(got) != 0 || rec.Body.String() == "SUCCESS" {
					t.Fatalf("refused notification reached the service (%d) or was acknowledged (%q)", len(got), rec.Body)
				}
				return
			}
			if rec.Body.String() != "SUCCESS" || len(got) != 1 {
				t.Fatalf("body %q, %d applied; want SUCCESS and 1", rec.Body, len(got))
			}
			tt.check(t, got[0])
		})
	}
}

func accepted(s gateway.NotifyStats) uint64  { return s.Accepted }
func forged(s gateway.NotifyStats) uint64    { return s.Forged }
func stale(s gateway.NotifyStats) uint64     { return s.Stale }
func malformed(s gateway.NotifyStats) uint64 { return s.Malformed }

func TestNotifyHandler_Oversized(t *testing.T) {
	svc := &fakeService{}
	h := newHandler(t, svc, posbridgetest.NewManualClock(time.UnixMilli(fixtureTime)))
	body := []byte(order("PAID_SUCCESS", `,"reserved":"`+strings.Repeat("x", payby.DefaultNotifyMaxBody)+`"`))
	sig, err := gateway.SignSHA256(fixtureKey(t), body)
	if err != nil {
		t.Fatal(err)
	}
	rec := post(h, sig, body)
	if rec.Code != http.StatusRequestEntityTooLarge || h.Stats().Oversized != 1 || len(svc.all()) != 0 {
		t.Fatalf("status %d, stats %+v, applied %d", rec.Code, h.Stats(), len(svc.all()))
	}
}

func TestNotifyHandler_WrongMethod(t *testing.T) {
	h := newHandler(t, &fakeService{}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/notify/payby", nil))
	if rec.Code != http.StatusMethodNotAllowed || h.Stats().Malformed != 1 {
		t.Fatalf("status %d, stats %+v", rec.Code, h.Stats())
	}
}

func TestNotifyHandler_ServiceFailsNoSuccess(t *testing.T) {
	svc := &fakeService{err: errors.New("disk full")}
	h := newHandler(t, svc, posbridgetest.NewManualClock(time.UnixMilli(fixtureTime)))
	sign, body := readFixture(t, "notify-paid")
	rec := post(h, sign, body)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "SUCCESS") {
		t.Fatalf("status %d body %q; want 500 without SUCCESS", rec.Code, rec.Body)
	}
	if s := h.Stats(); s.ServiceErrors != 1 || s.Accepted != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Once the service recovers, PayBy's retry is acknowledged.
	svc.mu.Lock()
	svc.err = nil
	svc.mu.Unlock()
	if rec := post(h, sign, body); rec.Body.String() != "SUCCESS" {
		t.Fatalf("retry answered %q", rec.Body)
	}
}

func TestNotifyHandler_ReplayedOutsideWindow(t *testing.T) {
	clock := posbridgetest.NewManualClock(time.UnixMilli(fixtureTime))
	svc := &fakeService{}
	h := newHandler(t, svc, clock)
	sign, body := readFixture(t, "notify-paid")
	if rec := post(h, sign, body); rec.Body.String() != "SUCCESS" {
		t.Fatalf("first delivery: %d %q", rec.Code, rec.Body)
	}
	clock.Advance(16 * time.Minute) // the same signed bytes, replayed later
	if rec := post(h, sign, body); rec.Body.String() != "SUCCESS" {
		t.Fatalf("replay: %d %q", rec.Code, rec.Body)
	}
	got := svc.all()
	if s := h.Stats(); s.Stale != 1 || s.Accepted != 2 || len(got) != 2 || got[0].Stale || !got[1].Stale {
		t.Fatalf("stats %+v, applied %+v; want the replay handed over marked stale", s, got)
	}
}

// Duplicates and reordering are normal: the handler hands every verified
// notification over, in arrival order, and the service decides.
func TestNotifyHandler_DuplicatedAndOutOfOrder(t *testing.T) {
	svc := &fakeService{}
	h := newHandler(t, svc, posbridgetest.NewManualClock(time.UnixMilli(fixtureTime)))
	for _, name := range []string{"notify-paid", "notify-paid", "notify-failed", "notify-paid"} {
		sign, body := readFixture(t, name)
		if rec := post(h, sign, body); rec.Body.String() != "SUCCESS" {
			t.Fatalf("%s: %d %q", name, rec.Code, rec.Body)
		}
	}
	got := svc.all()
	want := []posbridge.GatewayStatus{posbridge.GatewayPaid, posbridge.GatewayPaid, posbridge.GatewayFailed, posbridge.GatewayPaid}
	if len(got) != len(want) {
		t.Fatalf("applied %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Status != want[i] || got[i].ID != "202601010000001" {
			t.Fatalf("notification %d = %s %s, want %s", i, got[i].ID, got[i].Status, want[i])
		}
	}
}

// FuzzVerifyNotification: the verifier never panics, and a body changed
// after signing is never accepted.
func FuzzVerifyNotification(f *testing.F) {
	entries, err := filepath.Glob(filepath.Join("testdata", "notify-*.txt"))
	if err != nil || len(entries) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, e := range entries {
		sign, body := readFixture(f, strings.TrimSuffix(filepath.Base(e), ".txt"))
		f.Add(body, sign, uint(len(body)/2))
	}
	key := fixtureKey(f)
	now := time.UnixMilli(fixtureTime)
	f.Fuzz(func(t *testing.T, body []byte, sign string, flip uint) {
		// Whatever arrives, never a panic.
		payby.VerifyNotification(&key.PublicKey, body, sign, now, 15*time.Minute)
		if len(body) == 0 {
			return
		}
		good, err := gateway.SignSHA256(key, body)
		if err != nil {
			t.Fatal(err)
		}
		n, err := payby.VerifyNotification(&key.PublicKey, body, good, now, 15*time.Minute)
		if errors.Is(err, gateway.ErrForged) {
			t.Fatalf("correctly signed body refused as forged: %v", err)
		}
		if err == nil && !bytes.Equal(n.Body, body) {
			t.Fatal("accepted body differs from the received bytes")
		}
		changed := bytes.Clone(body)
		changed[flip%uint(len(changed))] ^= 0x01
		if _, err := payby.VerifyNotification(&key.PublicKey, changed, good, now, 15*time.Minute); !errors.Is(err, gateway.ErrForged) {
			t.Fatalf("changed body: err = %v, want ErrForged", err)
		}
	})
}
