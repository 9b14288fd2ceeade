package payby_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
)

// handlerTransport delivers the sandbox's notifications straight to a
// handler, so the notifier runs inside a synctest bubble.
type handlerTransport struct {
	h      http.Handler
	tamper atomic.Bool
}

func (t *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.tamper.Load() {
		body, _ := io.ReadAll(r.Body)
		body = bytes.Replace(body, []byte(`"FAILURE"`), []byte(`"PAID_SUCCESS"`), 1)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestSandboxNotifier_ToHandler runs the sandbox's notifier against the real
// handler: delivery, retries on PayBy's schedule while the service fails,
// duplicates, out-of-order delivery, and a notification tampered in transit.
func TestSandboxNotifier_ToHandler(t *testing.T) {
	k := testKeys(t)
	synctest.Test(t, func(t *testing.T) {
		svc := &fakeService{}
		h, err := payby.NewNotifyHandler(payby.NotifyConfig{GatewayKey: &k.Gateway.PublicKey}, svc)
		if err != nil {
			t.Fatal(err)
		}
		tr := &handlerTransport{h: h}
		sb, err := sandbox.New(sandbox.Config{Keys: k, HTTPClient: &http.Client{Transport: tr}, NotifyURL: "http://daemon/notify/payby"})
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		ctx := context.Background()
		rec := func(no string, status posbridge.GatewayStatus) {
			if err := sb.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), Amount: aed(t, "9.99"), Status: status}); err != nil {
				t.Fatal(err)
			}
		}

		// Delivered at once.
		rec("N1", posbridge.GatewayPaid)
		synctest.Wait()
		if got := svc.all(); len(got) != 1 || got[0].OrderNo != "N1" || got[0].Status != posbridge.GatewayPaid {
			t.Fatalf("applied %+v", got)
		}

		// The service fails: retried after 2 and then 10 minutes.
		svc.mu.Lock()
		svc.err = io.ErrUnexpectedEOF
		svc.mu.Unlock()
		rec("N2", posbridge.GatewayFailed)
		synctest.Wait()
		time.Sleep(2*time.Minute - time.Second)
		synctest.Wait()
		if d := deliveryOf(sb, "N2"); d.Attempts != 1 {
			t.Fatalf("attempts before 2 min = %d, want 1", d.Attempts)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if d := deliveryOf(sb, "N2"); d.Attempts != 2 || d.Delivered {
			t.Fatalf("after 2 min: %+v", d)
		}
		svc.mu.Lock()
		svc.err = nil
		svc.mu.Unlock()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if d := deliveryOf(sb, "N2"); d.Attempts != 3 || !d.Delivered {
			t.Fatalf("after 12 min: %+v", d)
		}
		if s := h.Stats(); s.ServiceErrors != 2 || s.Accepted != 2 {
			t.Fatalf("stats %+v", s)
		}

		// Duplicates: the same notify_id twice, and a new one.
		sb.SetNotifier(sandbox.NotifierOptions{Duplicates: true})
		rec("N3", posbridge.GatewayPaid)
		synctest.Wait()
		got := svc.all()[2:]
		if len(got) != 3 || got[0].ID != got[1].ID || got[2].ID == got[0].ID {
			t.Fatalf("duplicates applied: %+v", got)
		}

		// Out of order: held, then delivered newest first.
		sb.SetNotifier(sandbox.NotifierOptions{OutOfOrder: true})
		rec("N4", posbridge.GatewayCreated)
		if _, err := sb.Order("N4"); !err {
			t.Fatal("N4 missing")
		}
		if err := sb.Pay("N4", posbridge.Card{}); err != nil {
			t.Fatal(err)
		}
		rec("N5", posbridge.GatewayFailed)
		synctest.Wait()
		if n := len(svc.all()); n != 5 {
			t.Fatalf("held notifications delivered: %d applied", n)
		}
		sb.FlushNotifications()
		synctest.Wait()
		got = svc.all()[5:]
		if len(got) != 2 || got[0].OrderNo != "N5" || got[1].OrderNo != "N4" {
			t.Fatalf("out of order: %+v", got)
		}

		// Tampered in transit: refused, not applied, retried.
		sb.SetNotifier(sandbox.NotifierOptions{})
		tr.tamper.Store(true)
		rec("N6", posbridge.GatewayFailed)
		synctest.Wait()
		if n := len(svc.all()); n != 7 || h.Stats().Forged != 1 {
			t.Fatalf("tampered: %d applied, stats %+v", n, h.Stats())
		}
		tr.tamper.Store(false)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if got := svc.all(); len(got) != 8 || got[7].OrderNo != "N6" || got[7].Status != posbridge.GatewayFailed {
			t.Fatalf("after retry: %+v", got[len(got)-1])
		}
		if c := sb.Charges(); c["N1"] != 1 || c["N3"] != 1 || c["N4"] != 1 || c["N2"] != 0 {
			t.Fatalf("charges %v", c)
		}
	})
}

func deliveryOf(sb *sandbox.Sandbox, no string) sandbox.Delivery {
	for _, d := range sb.Notifications() {
		if d.MerchantOrderNo == no {
			return d
		}
	}
	return sandbox.Delivery{}
}
