package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/store"
)

// ppWorld is a sandbox, a client, a real store and engine, and the callback
// handler served on loopback, the sandbox posting to it.
type ppWorld struct {
	*ppRig
	db      *store.DB
	engine  *posbridge.Engine
	handler *payprotocol.NotifyHandler
	notify  *httptest.Server
}

func newPPWorld(t *testing.T) *ppWorld {
	t.Helper()
	w := &ppWorld{}
	notify := httptest.NewUnstartedServer(nil)
	notifyURL := "http://" + notify.Listener.Addr().String() + payprotocol.DefaultNotifyPath
	w.ppRig = newPPRig(t, func(c *payprotocol.Config) { c.NotifyURL = notifyURL })
	db, err := store.OpenOptions(filepath.Join(t.TempDir(), "posbridge.db"), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := posbridge.NewEngine(db, w.client, nil)
	e.Logger = slog.New(slog.DiscardHandler)
	e.ReconcileInterval = 0
	if err := e.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		db.Close()
	})
	h, err := payprotocol.NewNotifyHandler(payprotocol.NotifyConfig{APIKey: "key-1", Secret: w.secret, Logger: slog.New(slog.DiscardHandler)}, e)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+payprotocol.DefaultNotifyPath, h)
	notify.Config.Handler = mux
	notify.Start()
	t.Cleanup(notify.Close)
	w.db, w.engine, w.handler, w.notify = db, e, h, notify
	return w
}

// order stores an order as the QR lane would, and opens it at the sandbox.
func (w *ppWorld) order(t *testing.T, no, amount string) posbridge.HostedOrder {
	t.Helper()
	o := &posbridge.Order{No: posbridge.OrderNo(no), Lane: "qr", Amount: ppAED(t, amount)}
	if _, err := w.db.CreateOrder(context.Background(), o, posbridge.Cause{Actor: posbridge.ActorAPI, Action: "pay"}); err != nil {
		t.Fatal(err)
	}
	return w.create(t, no, amount)
}

func (w *ppWorld) get(t *testing.T, no string) posbridge.Order {
	t.Helper()
	o, err := w.engine.Payment(context.Background(), posbridge.OrderNo(no))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// awaitDeliveries waits (bounded) until n callbacks were acknowledged.
func (w *ppWorld) awaitDeliveries(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := 0
		for _, d := range w.sb.Deliveries() {
			if d.Delivered {
				done++
			}
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d callbacks acknowledged: %+v", done, n, w.sb.Deliveries())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Callbacks from the sandbox reach the engine: paid, partially paid (never
// shown as paid), duplicates, a resend on request, and a refund that waits
// for the back office.
func TestPayProtocol_CallbacksThroughTheEngine(t *testing.T) {
	w := newPPWorld(t)
	ctx := context.Background()
	w.order(t, "NFULL", "10.00")
	w.order(t, "NPART", "10.00")

	ppMust(t, w.sb.Pay("NFULL", nil))
	w.awaitDeliveries(t, 1)
	if o := w.get(t, "NFULL"); o.Status != posbridge.StatusPaid {
		t.Fatalf("after the paid callback: %s", o.Status)
	}

	w.sb.SetNotifier(sandbox.PPNotifierOptions{Duplicates: true})
	part := ppAED(t, "6.00")
	ppMust(t, w.sb.Pay("NPART", &part))
	w.awaitDeliveries(t, 3)
	o := w.get(t, "NPART")
	if o.Status != posbridge.StatusPending || o.Reason != posbridge.ReasonPartiallyPaid || !o.NeedsAttention ||
		!strings.Contains(o.Attention, "6.00 AED of 10.00 AED") {
		t.Fatalf("after the partial callback: %s/%s attention %q", o.Status, o.Reason, o.Attention)
	}

	// The reconciler's "send it again" before giving up.
	w.sb.SetNotifier(sandbox.PPNotifierOptions{})
	ppMust(t, w.client.ResendOrderNotification(ctx, "NFULL"))
	w.awaitDeliveries(t, 4)
	if st := w.handler.Stats(); st.Accepted != 4 || st.Forged+st.Stale+st.Malformed != 0 {
		t.Fatalf("handler stats %+v", st)
	}

	// A refund stays pending until the back office approves it.
	r, _, err := w.engine.Refund(ctx, "NFULL", posbridge.RefundParams{Amount: ppAED(t, "10.00")}, posbridge.By{Actor: posbridge.ActorCashier, Who: "ann", Reason: "returned"})
	if err != nil || r.Status == posbridge.RefundSucceeded || r.Status == posbridge.RefundFailed {
		t.Fatalf("refund: %+v, %v; want waiting for approval", r, err)
	}
	ppMust(t, w.sb.ApproveRefund(string(r.No)))
	w.awaitDeliveries(t, 5)
	rs, err := w.engine.Refunds(ctx, "NFULL")
	if err != nil || len(rs) != 1 || rs[0].Status != posbridge.RefundSucceeded {
		t.Fatalf("refunds after approval: %+v, %v", rs, err)
	}
	if c := w.sb.Charges(); c["NFULL"] != 1 || c["NPART"] != 1 {
		t.Fatalf("charges %v", c)
	}
}

// A callback with one changed byte, a 61 s old timestamp, another key or a
// signature over another path is refused with 401 and changes nothing:
// the order, its version and the inbox stay as they were.
func TestPayProtocol_RefusedCallbackChangesNothing(t *testing.T) {
	w := newPPWorld(t)
	ctx := context.Background()
	w.order(t, "N1", "10.00")
	// The sandbox's own callback is lost (dropped before the payment, so
	// that it cannot be on its way already).
	w.sb.SetNotifier(sandbox.PPNotifierOptions{Drop: true})
	ppMust(t, w.sb.Pay("N1", nil))

	body := []byte(`{"outTradeNo":"N1","outPaymentNo":"PPX","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":10.00,"paidAmount":10.00}`)
	flipped := bytes.Replace(body, []byte(`"paid",`), []byte(`"paiD",`), 1)
	now := time.Now()
	tests := []struct {
		name   string
		body   []byte
		signed []byte // what the signature covers
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
		{"signed, not JSON", []byte(`{"outTradeNo":`), []byte(`{"outTradeNo":`), now, "key-1", payprotocol.DefaultNotifyPath, http.StatusBadRequest},
	}
	before := w.get(t, "N1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, w.notify.URL+payprotocol.DefaultNotifyPath, bytes.NewReader(tt.body))
			payprotocol.SetHeaders(req.Header, tt.key, w.secret, tt.at, http.MethodPost, tt.path, tt.signed)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			ack, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || string(ack) == payprotocol.Ack {
				t.Fatalf("HTTP %d %q, want %d and no ack", resp.StatusCode, ack, tt.want)
			}
			after := w.get(t, "N1")
			if after.Status != before.Status || after.Version != before.Version {
				t.Fatalf("order changed: %s v%d → %s v%d", before.Status, before.Version, after.Status, after.Version)
			}
			inbox, err := w.db.UnappliedNotifications(ctx, 10)
			if err == nil && len(inbox) != 0 {
				t.Fatalf("inbox holds %d entries", len(inbox))
			}
		})
	}
	if st := w.handler.Stats(); st.Accepted != 0 || st.Stale != 2 || st.Forged != 3 || st.Malformed != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The genuine callback, now: acknowledged with the plain success, applied.
	req, _ := http.NewRequest(http.MethodPost, w.notify.URL+payprotocol.DefaultNotifyPath, bytes.NewReader(body))
	payprotocol.SetHeaders(req.Header, "key-1", w.secret, time.Now(), http.MethodPost, payprotocol.DefaultNotifyPath, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ack, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(ack) != "success" {
		t.Fatalf("genuine: HTTP %d %q", resp.StatusCode, ack)
	}
	if o := w.get(t, "N1"); o.Status != posbridge.StatusPaid {
		t.Fatalf("after the genuine callback: %s", o.Status)
	}
}

// A callback whose amount disagrees with the order is refused by the
// engine (recorded, flagged), never applied.
func TestPayProtocol_CallbackAmountCheckedAgainstTheOrder(t *testing.T) {
	w := newPPWorld(t)
	w.order(t, "N2", "10.00")
	body := []byte(`{"outTradeNo":"N2","outPaymentNo":"PPY","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":1.00,"paidAmount":1.00}`)
	req, _ := http.NewRequest(http.MethodPost, w.notify.URL+payprotocol.DefaultNotifyPath, bytes.NewReader(body))
	payprotocol.SetHeaders(req.Header, "key-1", w.secret, time.Now(), http.MethodPost, payprotocol.DefaultNotifyPath, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if o := w.get(t, "N2"); o.Status == posbridge.StatusPaid || !o.NeedsAttention {
		t.Fatalf("a 1.00 paid callback for a 10.00 order: %s attention=%v", o.Status, o.NeedsAttention)
	}
}

type ppRig struct {
	sb     *sandbox.PayProtocol
	srv    *httptest.Server
	client *payprotocol.Client
	secret []byte
}

// newPPRig serves a Pay Protocol sandbox on loopback and a client of it.
func newPPRig(t *testing.T, mod func(*payprotocol.Config)) *ppRig {
	t.Helper()
	secret := []byte("test-secret-0123456789")
	sb, err := sandbox.NewPayProtocol(sandbox.PayProtocolConfig{APIKey: "key-1", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	cfg := payprotocol.Config{BaseURL: srv.URL + sandbox.PayProtocolAPIPath, PageURL: srv.URL, APIKey: "key-1", Secret: secret,
		ChainID: 7, RedirectURL: "https://shop.example/thanks", Timeout: 2 * time.Second, RatePerSecond: -1}
	if mod != nil {
		mod(&cfg)
	}
	c, err := payprotocol.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &ppRig{sb: sb, srv: srv, client: c, secret: secret}
}

func ppAED(t *testing.T, s string) posbridge.Money {
	t.Helper()
	m, err := posbridge.ParseAmount(s, "AED")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *ppRig) create(t *testing.T, no, amount string) posbridge.HostedOrder {
	t.Helper()
	h, err := r.client.CreateHostedOrder(context.Background(), posbridge.HostedOrderRequest{OrderNo: posbridge.OrderNo(no), Amount: ppAED(t, amount),
		Subject: "Coffee", ExpiresAt: time.Now().Add(10 * time.Minute)})
	if err != nil {
		t.Fatalf("CreateHostedOrder %s: %v", no, err)
	}
	return h
}

func ppMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
