package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// startCodePayDemo starts the demo world with the sandbox playing CodePay
// and the daemon configured with [gateway] kind = "codepay".
func startCodePayDemo(t *testing.T) (*daemon.Daemon, *demoWorld, string) {
	t.Helper()
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	d, w, stop, err := startDemoWorld(context.Background(), demoSetup{
		dir: dir, listen: "127.0.0.1:0", gateway: "codepay", logger: slog.New(slog.NewTextHandler(logFile, nil)),
		script: termsim.Script{Action: termsim.Approve, Delay: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stop(ctx)
	})
	if d.Gateway.Name() != "codepay" || d.Notify.Path != "/notify/codepay" {
		t.Fatalf("daemon gateway %s at %s", d.Gateway.Name(), d.Notify.Path)
	}
	return d, w, dir
}

// notifyStats are the counters of d's notification handler.
func notifyStats(d *daemon.Daemon) gateway.NotifyStats {
	return d.Notify.Handler().(notifyHandler).Stats()
}

func payAndWait(t *testing.T, d *daemon.Daemon, amount string) posbridge.Order {
	t.Helper()
	return payOnLane(t, d, "1", amount)
}

func payOnLane(t *testing.T, d *daemon.Daemon, lane, amount string) posbridge.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	links := d.Engine.Subscribe(64)
	defer links.Close()
	if ls, _ := d.Engine.Lanes(ctx); len(ls) == 0 || ls[0].Link.State != posbridge.LinkUp {
		waitLink(t, ctx, links, "1", posbridge.LinkUp)
	}
	m, err := posbridge.ParseAmount(amount, "USD")
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := d.Engine.Pay(ctx, posbridge.PayRequest{Lane: lane, Amount: m, Reference: "codepay-e2e", By: posbridge.By{Actor: posbridge.ActorAPI, Who: "codepay e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	o, err = d.Engine.Await(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A serial-lane sale against the CodePay gateway goes to paid; the
// sandbox's CodePay notification is verified, applied and acknowledged.
func TestCodePay_DemoSerialLanePaid(t *testing.T) {
	d, w, _ := startCodePayDemo(t)
	o := payAndWait(t, d, "34.50")
	if o.Status != posbridge.StatusPaid {
		t.Fatalf("order %s is %s (%s)", o.No, o.Status, o.Reason)
	}
	if c := w.Sandbox.Charges()[string(o.No)]; c != 1 {
		t.Fatalf("charged %d times", c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := w.Sandbox.Notifications()
		if len(ds) > 0 && ds[0].Delivered {
			if ds[0].Gateway != "codepay" || ds[0].MerchantOrderNo != string(o.No) {
				t.Fatalf("delivery %+v", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification not acknowledged: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := notifyStats(d); s.Accepted < 1 || s.Forged != 0 {
		t.Fatalf("notify stats %+v", s)
	}
}

// A notification signed with the gateway's key is acknowledged with
// "success"; the same bytes with one changed digit get 401 and change
// nothing stored.
func TestCodePay_NotifyForgedDigitChangesNothing(t *testing.T) {
	d, w, _ := startCodePayDemo(t)
	o := payAndWait(t, d, "12.30")
	if o.Status != posbridge.StatusPaid {
		t.Fatalf("order %s is %s", o.No, o.Status)
	}
	ctx := context.Background()
	// Let the sale's own aftermath land first (the sandbox's notification,
	// the last check's record): wait until the event log stays still.
	before, still := -1, 0
	for deadline := time.Now().Add(20 * time.Second); still < 5; {
		evs, err := d.Store.EventsSince(ctx, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		ds := w.Sandbox.Notifications()
		if len(evs) == before && len(ds) > 0 && ds[0].Delivered {
			still++
		} else {
			still = 0
		}
		before = len(evs)
		if time.Now().After(deadline) {
			t.Fatal("the event log never settled")
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := codepay.Params{}
	p.SetString("notify_id", "E2E-1")
	p.SetString("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	p.SetString("sign_type", "RSA2")
	p.SetString("merchant_no", sandbox.DefaultCodePayMerchantNo)
	p.SetString("merchant_order_no", string(o.No))
	p.SetNumber("trans_type", "1")
	p.SetNumber("trans_status", "2")
	p.SetString("price_currency", "USD")
	p.SetNumber("order_amount", "12.30")
	if err := p.Sign(w.Sandbox.Keys().Gateway); err != nil {
		t.Fatal(err)
	}
	body, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(body, []byte(`"order_amount":12.30`), []byte(`"order_amount":12.31`), 1)
	if bytes.Equal(forged, body) {
		t.Fatal("no digit changed")
	}
	url := d.Notify.URL() + "/notify/codepay"
	send := func(b []byte) (int, string) {
		resp, err := http.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		ack, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(ack)
	}
	if status, _ := send(forged); status != http.StatusUnauthorized {
		t.Fatalf("forged: HTTP %d", status)
	}
	if status, ack := send(body); status != http.StatusOK || ack != "success" {
		t.Fatalf("genuine: HTTP %d %q", status, ack)
	}
	if status, ack := send(body); status != http.StatusOK || ack != "success" {
		t.Fatalf("duplicate: HTTP %d %q", status, ack)
	}
	after, err := d.Engine.Payment(ctx, o.No)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != posbridge.StatusPaid || after.NeedsAttention {
		t.Fatalf("order after notifications: %s attention=%v", after.Status, after.NeedsAttention)
	}
	evs, err := d.Store.EventsSince(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != before {
		for _, e := range evs[before:] {
			t.Logf("event %+v payment %+v", e, e.Payment)
		}
		t.Fatalf("%d events after the notifications, want none", len(evs)-before)
	}
	if s := notifyStats(d); s.Forged != 1 {
		t.Fatalf("notify stats %+v", s)
	}
}

// A cloud lane (no cable) takes a sale to paid: the sale goes through the
// sandbox's wisehub.cloud.pay.order, the sandbox plays the customer at the
// terminal, and the lane follows it with order.query.
func TestCodePay_DemoCloudLanePaid(t *testing.T) {
	d, w, _ := startCodePayDemo(t)
	ctx := context.Background()
	lanes, err := d.Engine.Lanes(ctx)
	if err != nil || len(lanes) != 2 || lanes[1].ID != "cloud" || lanes[1].Link.State != posbridge.LinkUp {
		t.Fatalf("lanes = %+v, %v", lanes, err)
	}
	o := payOnLane(t, d, "cloud", "8.40")
	if o.Status != posbridge.StatusPaid || o.Card.Last4 != "4242" {
		t.Fatalf("cloud order %s is %s (%s), card %+v", o.No, o.Status, o.Reason, o.Card)
	}
	g, ok := w.Sandbox.Order(string(o.No))
	if !ok || g.Charges != 1 || g.Status != sandbox.StatusPaid {
		t.Fatalf("sandbox order %+v", g)
	}
	var sawPay bool
	for _, r := range w.Sandbox.Requests() {
		if r.Path == sandbox.CodePayPath+"#"+codepay.MethodPay {
			if sawPay {
				t.Fatal("the sale was pushed twice")
			}
			sawPay = true
		}
	}
	if !sawPay {
		t.Fatal("no wisehub.cloud.pay.order")
	}
}

// A cloud sale the customer declines is not paid, and the order number is
// closed for good at the gateway.
func TestCodePay_DemoCloudLaneDeclined(t *testing.T) {
	d, w, _ := startCodePayDemo(t)
	if err := w.Sandbox.SetCloudCustomer(sandbox.CloudCustomer{Action: sandbox.CloudDecline, Delay: time.Second}); err != nil {
		t.Fatal(err)
	}
	o := payOnLane(t, d, "cloud", "3.00")
	if o.Status != posbridge.StatusFailed {
		t.Fatalf("declined cloud order %s is %s (%s)", o.No, o.Status, o.Reason)
	}
	if c := w.Sandbox.Charges()[string(o.No)]; c != 0 {
		t.Fatalf("charged %d", c)
	}
}
