package payprotocol_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// fakeService records what the handler hands over; it fails while err is set.
type fakeService struct {
	mu  sync.Mutex
	got []posbridge.Notification
	err error
}

func (s *fakeService) ApplyNotification(ctx context.Context, n posbridge.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.got = append(s.got, n)
	return nil
}

func (s *fakeService) list() []posbridge.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]posbridge.Notification(nil), s.got...)
}

// notifyRig is a rig whose sandbox posts its callbacks to a NotifyHandler
// served on loopback, applying them through a fakeService.
type notifyRig struct {
	*rig
	svc     *fakeService
	handler *payprotocol.NotifyHandler
	url     string
}

func newNotifyRig(t *testing.T) *notifyRig {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String() + payprotocol.DefaultNotifyPath
	r := &notifyRig{rig: newRig(t, func(c *payprotocol.Config) { c.NotifyURL = url }), svc: &fakeService{}, url: url}
	h, err := payprotocol.NewNotifyHandler(payprotocol.NotifyConfig{APIKey: "key-1", Secret: r.secret, Logger: slog.New(slog.DiscardHandler)}, r.svc)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+payprotocol.DefaultNotifyPath, h)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	r.handler = h
	return r
}

// await waits (bounded) until n callbacks were acknowledged.
func (r *notifyRig) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := 0
		for _, d := range r.sb.Deliveries() {
			if d.Delivered {
				done++
			}
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callbacks acknowledged: %+v", done, n, r.sb.Deliveries())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The sandbox's signed callbacks are verified and decoded: paid, partially
// paid with the amount received, duplicates under one id, a resend, and a
// refund rejected in the back office.
func TestNotify_CallbacksFromTheSandbox(t *testing.T) {
	r := newNotifyRig(t)
	ctx := context.Background()
	r.create(t, "NFULL", "10.00")
	r.create(t, "NPART", "10.00")
	must(t, r.sb.Pay("NFULL", nil))
	r.await(t, 1)
	r.sb.SetNotifier(sandbox.PPNotifierOptions{Duplicates: true})
	part := aed(t, "6.00")
	must(t, r.sb.Pay("NPART", &part))
	r.await(t, 3)
	r.sb.SetNotifier(sandbox.PPNotifierOptions{})
	must(t, r.client.ResendOrderNotification(ctx, "NFULL"))
	r.await(t, 4)
	if _, err := r.client.Refund(ctx, posbridge.RefundRequest{RefundNo: "NFULLR1", OrderNo: "NFULL", Amount: aed(t, "10.00")}); err != nil {
		t.Fatal(err)
	}
	must(t, r.sb.RejectRefund("NFULLR1"))
	r.await(t, 5)
	must(t, r.client.ResendRefundNotification(ctx, "NFULLR1"))
	r.await(t, 6)

	got := r.svc.list()
	if len(got) != 6 {
		t.Fatalf("%d notifications, want 6: %+v", len(got), got)
	}
	paid, dup1, dup2, resent, refund := got[0], got[1], got[2], got[3], got[4]
	if paid.Kind != posbridge.NotifyOrder || paid.OrderNo != "NFULL" || paid.Status != posbridge.GatewayPaid || paid.Amount != aed(t, "10.00") || paid.Received != aed(t, "10.00") {
		t.Errorf("paid: %+v", paid)
	}
	if dup1.Status != posbridge.GatewayPartiallyPaid || dup1.Received != part || dup1.Amount != aed(t, "10.00") || dup1.ID != dup2.ID {
		t.Errorf("partial and its duplicate: %+v / %+v", dup1, dup2)
	}
	if resent.ID != paid.ID || resent.Status != posbridge.GatewayPaid {
		t.Errorf("the resend is not the same callback: %+v vs %+v", resent, paid)
	}
	if refund.Kind != posbridge.NotifyRefund || refund.OrderNo != "NFULLR1" || refund.OrigNo != "NFULL" || refund.Refund != posbridge.GatewayRefundFailed {
		t.Errorf("rejected refund: %+v", refund)
	}
	for _, n := range got {
		if n.Stale || n.SentAt.IsZero() || len(n.Body) == 0 {
			t.Errorf("notification %+v: want fresh, with its time and body", n)
		}
	}
}

// A callback with one changed byte, a timestamp 61 s away, another key or a
// signature over another path is refused with 401 before the service sees
// anything; a signed body that is not a callback gets 400; a good one is
// answered with the plain success.
func TestNotify_RefusedReachesNothing(t *testing.T) {
	r := newNotifyRig(t)
	body := []byte(`{"outTradeNo":"N1","outPaymentNo":"PPX","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":10.00,"paidAmount":10.00}`)
	flipped := bytes.Replace(body, []byte(`10.00,"paid`), []byte(`10.01,"paid`), 1)
	now := time.Now()
	tests := []struct {
		name   string
		body   []byte
		signed []byte
		at     time.Time
		key    string
		path   string
		want   int
	}{
		{"one body byte changed", flipped, body, now, "key-1", payprotocol.DefaultNotifyPath, http.StatusUnauthorized},
		{"61 s old", body, body, now.Add(-61 * time.Second), "key-1", payprotocol.DefaultNotifyPath, http.StatusUnauthorized},
		{"61 s ahead", body, body, now.Add(61 * time.Second), "key-1", payprotocol.DefaultNotifyPath, http.StatusUnauthorized},
		{"another key", body, body, now, "key-2", payprotocol.DefaultNotifyPath, http.StatusUnauthorized},
		{"signed for another path", body, body, now, "key-1", "/notify/payby", http.StatusUnauthorized},
		{"signed, not a callback", []byte(`{"outTradeNo":"N1"}`), []byte(`{"outTradeNo":"N1"}`), now, "key-1", payprotocol.DefaultNotifyPath, http.StatusBadRequest},
		{"good", body, body, now, "key-1", payprotocol.DefaultNotifyPath, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(r.svc.list())
			req, _ := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(tt.body))
			payprotocol.SetHeaders(req.Header, tt.key, r.secret, tt.at, http.MethodPost, tt.path, tt.signed)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			ack, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || (string(ack) == payprotocol.Ack) != (tt.want == http.StatusOK) {
				t.Fatalf("HTTP %d %q, want %d", resp.StatusCode, ack, tt.want)
			}
			if n := len(r.svc.list()) - before; n != 0 && tt.want != http.StatusOK || n != 1 && tt.want == http.StatusOK {
				t.Fatalf("service saw %d notifications", n)
			}
		})
	}
	if st := r.handler.Stats(); st.Accepted != 1 || st.Stale != 2 || st.Forged != 3 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A callback the service could not apply is not acknowledged: the sandbox
// retries it, and the retry is applied.
func TestNotify_NotAckedUntilApplied(t *testing.T) {
	r := newNotifyRig(t)
	r.create(t, "NRETRY", "10.00")
	r.svc.mu.Lock()
	r.svc.err = errors.New("database busy")
	r.svc.mu.Unlock()
	must(t, r.sb.Pay("NRETRY", nil))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d := r.sb.Deliveries(); len(d) == 1 && d[0].Attempts >= 1 {
			if d[0].Delivered || d[0].LastResult != "HTTP 500" {
				t.Fatalf("delivery %+v: want refused with HTTP 500", d[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.handler.Stats(); st.ServiceErrors != 1 || st.Accepted != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func FuzzVerifyNotification(f *testing.F) {
	f.Add([]byte(`{"outTradeNo":"N1","outPaymentNo":"PPX","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":10.00,"paidAmount":10.00}`))
	f.Add([]byte(`{"outTradeNo":"N1","paymentStatus":"partially paid","quoteCurrencySymbol":"AED","quoteAmount":"10.00","paidAmount":"6"}`))
	f.Add([]byte(`{"outRefundNo":"R-1","outTradeNo":"N1","refundNo":"RF1","refundStatus":"rejected","quoteCurrencySymbol":"AED","refundAmount":1}`))
	f.Add([]byte(`{"outTradeNo":"N1","paymentStatus":"paid","refundStatus":"success"}`))
	f.Add([]byte(`[]`))
	secret := []byte("fuzz-secret")
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{}
		payprotocol.SetHeaders(h, "k", secret, now, http.MethodPost, payprotocol.DefaultNotifyPath, body)
		n, err := payprotocol.VerifyNotification("k", secret, payprotocol.DefaultNotifyPath, h, body, now, payprotocol.Window)
		if err != nil {
			return
		}
		if n.OrderNo == "" || n.ID == "" || (n.Kind != posbridge.NotifyOrder && n.Kind != posbridge.NotifyRefund) {
			t.Fatalf("accepted %q as %+v", body, n)
		}
		if n.Kind == posbridge.NotifyOrder && n.Status == posbridge.GatewayPartiallyPaid && n.Received.Minor >= n.Amount.Minor {
			t.Fatalf("partially paid with all of it received: %+v", n)
		}
		// Any other signature of the same body is refused.
		h.Set(payprotocol.HeaderSign, payprotocol.Sign([]byte("other"), h.Get(payprotocol.HeaderTimestamp), "POST", payprotocol.DefaultNotifyPath, body))
		if _, err := payprotocol.VerifyNotification("k", secret, payprotocol.DefaultNotifyPath, h, body, now, payprotocol.Window); err == nil {
			t.Fatal("accepted under another secret's signature")
		}
	})
}
