package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// The demo with --gateway payprotocol: the daemon's gateway is the Pay
// Protocol sandbox; a sale is confirmed by its signed callback (acknowledged
// with the plain success) and by /payment/detail; a callback signed 61 s
// ago is refused and changes nothing.
func TestPayProtocol_DemoPaidAndStaleCallbackRefused(t *testing.T) {
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	d, w, stop, err := startDemoWorld(context.Background(), demoSetup{
		dir: dir, listen: "127.0.0.1:0", gateway: "payprotocol", logger: slog.New(slog.NewTextHandler(logFile, nil)),
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
	if d.Gateway.Name() != "payprotocol" || d.Notify.Path != payprotocol.DefaultNotifyPath || w.PayProtocol == nil {
		t.Fatalf("daemon gateway %s at %s", d.Gateway.Name(), d.Notify.Path)
	}
	o := payAndWait(t, d, "12.50")
	if o.Status != posbridge.StatusPaid {
		t.Fatalf("sale %s: %s, want paid", o.No, o.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := w.PayProtocol.Deliveries()
		if len(ds) > 0 && ds[0].Delivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback not acknowledged: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := w.PayProtocol.Charges()[string(o.No)]; c != 1 {
		t.Fatalf("charged %d times", c)
	}

	// A replay of a "failed" callback for the paid order, 61 s old: refused.
	secret, err := payprotocol.LoadSecret(filepath.Join(dir, demoPayProtocolSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := d.Engine.Payment(context.Background(), o.No)
	body := []byte(`{"outTradeNo":"` + string(o.No) + `","paymentStatus":"payment failed","quoteCurrencySymbol":"USD","quoteAmount":12.50}`)
	req, _ := http.NewRequest(http.MethodPost, d.Notify.URL()+d.Notify.Path, bytes.NewReader(body))
	payprotocol.SetHeaders(req.Header, w.PayProtocol.APIKey(), secret, time.Now().Add(-61*time.Second), http.MethodPost, d.Notify.Path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stale callback: HTTP %d, want 401", resp.StatusCode)
	}
	after, _ := d.Engine.Payment(context.Background(), o.No)
	if after.Status != posbridge.StatusPaid || after.Version != before.Version {
		t.Fatalf("the stale callback changed the order: %s v%d → %s v%d", before.Status, before.Version, after.Status, after.Version)
	}
	if st := notifyStats(d); st.Stale != 1 || st.Accepted < 1 {
		t.Fatalf("notify stats %+v", st)
	}
}
