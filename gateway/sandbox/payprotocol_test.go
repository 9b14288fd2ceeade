package sandbox_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// ppInbox receives callbacks in-process (for testing/synctest), records
// when each came and whether its signature held, and refuses the first
// refuse deliveries.
type ppInbox struct {
	mu     sync.Mutex
	secret []byte
	refuse int
	got    []ppCallback
}

type ppCallback struct {
	at     time.Time
	signed bool
	body   map[string]any
}

func (in *ppInbox) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-PAY-TIMESTAMP")
	m := hmac.New(sha256.New, in.secret)
	m.Write([]byte(ts + r.Method + r.URL.Path))
	m.Write(b)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	signed := r.Header.Get("X-PAY-SIGN") == base64.StdEncoding.EncodeToString(m.Sum(nil)) && sec == time.Now().Unix()
	var body map[string]any
	json.Unmarshal(b, &body)
	in.mu.Lock()
	in.got = append(in.got, ppCallback{at: time.Now(), signed: signed, body: body})
	ack := "success"
	if in.refuse > 0 {
		in.refuse--
		ack = "fail"
	}
	in.mu.Unlock()
	rec := httptest.NewRecorder()
	io.WriteString(rec, ack)
	return rec.Result(), nil
}

func (in *ppInbox) list() []ppCallback {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]ppCallback(nil), in.got...)
}

// ppCall signs and serves one API request in-process.
func ppCall(t *testing.T, sb *sandbox.PayProtocol, secret []byte, method, target, body string, at time.Time) map[string]any {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + method + req.URL.RequestURI() + body))
	req.Header.Set("X-PAY-KEY", sb.APIKey())
	req.Header.Set("X-PAY-TIMESTAMP", ts)
	req.Header.Set("X-PAY-SIGN", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	rec := httptest.NewRecorder()
	sb.Handler().ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return out
}

func newPPSandbox(t *testing.T, in *ppInbox) *sandbox.PayProtocol {
	t.Helper()
	sb, err := sandbox.NewPayProtocol(sandbox.PayProtocolConfig{APIKey: "k", Secret: in.secret, HTTPClient: &http.Client{Transport: in},
		NotifyURL: "http://posbridge.test/notify/payprotocol", Expiry: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

const ppCreateBody = `{"chainId":1,"description":"Coffee","outTradeNo":"%s","isLegalTender":1,"quoteCurrencySymbol":"AED","quoteAmount":10.00}`

func TestPayProtocol_CallbackRetriesSignedAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &ppInbox{secret: []byte("s"), refuse: 100}
		sb := newPPSandbox(t, in)
		start := time.Now()
		if out := ppCall(t, sb, in.secret, "POST", "/api/mer/payment/createPaymentOrder", strings.Replace(ppCreateBody, "%s", "A1", 1), start); out["code"] != float64(200) {
			t.Fatalf("create: %v", out)
		}
		if err := sb.Pay("A1", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		got := in.list()
		wantAt := []time.Duration{0, 15 * time.Second, 30 * time.Second, 90 * time.Second, 390 * time.Second, 2190 * time.Second}
		if len(got) != len(wantAt) {
			t.Fatalf("%d attempts, want %d (six)", len(got), len(wantAt))
		}
		for i, c := range got {
			if d := c.at.Sub(start); d != wantAt[i] || !c.signed || c.body["paymentStatus"] != "paid" {
				t.Errorf("attempt %d at %s signed=%v %v; want at %s, signed with its own time", i+1, d, c.signed, c.body, wantAt[i])
			}
		}
		if d := sb.Deliveries(); len(d) != 1 || !d[0].GaveUp || d[0].Delivered {
			t.Fatalf("deliveries %+v, want one given up", d)
		}
	})
}

func TestPayProtocol_DuplicatesDropsResendsAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &ppInbox{secret: []byte("s")}
		sb := newPPSandbox(t, in)
		for _, no := range []string{"D1", "L1", "E1"} {
			ppCall(t, sb, in.secret, "POST", "/api/mer/payment/createPaymentOrder", strings.Replace(ppCreateBody, "%s", no, 1), time.Now())
		}
		sb.SetNotifier(sandbox.PPNotifierOptions{Duplicates: true})
		half := posbridge.Money{Minor: 500, Currency: "AED"}
		if err := sb.Pay("D1", &half); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := in.list(); len(got) != 2 || got[0].body["paymentStatus"] != "partially paid" || got[0].body["paidAmount"] != float64(5) {
			t.Fatalf("duplicates: %+v", got)
		}
		sb.SetNotifier(sandbox.PPNotifierOptions{Drop: true})
		if err := sb.Pay("L1", nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(in.list()); n != 2 {
			t.Fatalf("a dropped callback arrived (%d)", n)
		}
		sb.SetNotifier(sandbox.PPNotifierOptions{})
		if out := ppCall(t, sb, in.secret, "GET", "/api/mer/payment/notify?outTradeNo=L1", "", time.Now()); out["code"] != float64(200) {
			t.Fatalf("resend: %v", out)
		}
		synctest.Wait()
		if got := in.list(); len(got) != 3 || got[2].body["outTradeNo"] != "L1" {
			t.Fatalf("after the resend: %+v", got)
		}
		// The page expires: the order fails (and is notified) when next seen.
		time.Sleep(10 * time.Minute)
		out := ppCall(t, sb, in.secret, "GET", "/api/mer/payment/detail?outTradeNo=E1", "", time.Now())
		if data, _ := out["data"].(map[string]any); data["paymentStatus"] != "payment failed" {
			t.Fatalf("after expiry: %v", out)
		}
		if err := sb.Pay("E1", nil); err == nil {
			t.Fatal("an expired order was paid")
		}
		// A request signed 61 s ago is refused and creates nothing.
		out = ppCall(t, sb, in.secret, "POST", "/api/mer/payment/createPaymentOrder", strings.Replace(ppCreateBody, "%s", "OLD", 1), time.Now().Add(-61*time.Second))
		if out["code"] != float64(401) {
			t.Fatalf("stale request: %v", out)
		}
		if _, ok := sb.Order("OLD"); ok {
			t.Fatal("a stale request created an order")
		}
	})
}
