package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/outbox/embedded"
	"github.com/posbridge/posbridge/outbox/fleet"
	"github.com/posbridge/posbridge/store"
)

// TestE2E_FleetOutboxOutage: a till ships its payments to a real NATS
// server and `posbridge fleet run` folds them; the server goes away, the
// till keeps taking payments and /status and /metrics say how far behind it
// is; the server comes back and the fleet ends up with every order of the
// till's own database, once, in the same state.
func TestE2E_FleetOutboxOutage(t *testing.T) {
	w := newE2EWorld(t)
	srv, err := embedded.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	f, err := os.OpenFile(w.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[outbox]\nkind = \"nats\"\nurl = %q\nmerchant = \"acme\"\nstore = \"dxb01\"\ntill = \"t1\"\n", srv.URL())
	f.Close()
	stop := w.startDaemon(t)

	fleetDB := filepath.Join(t.TempDir(), "fleet.db")
	ctx, cancel := context.WithCancel(context.Background())
	fleetLog := &syncBuffer{}
	fleetDone := make(chan error, 1)
	go func() {
		fleetDone <- (&Main{Stdout: fleetLog, Stderr: fleetLog}).Run(ctx, []string{"fleet", "run", "--url", srv.URL(), "--db", fleetDB})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-fleetDone; err != nil {
			t.Errorf("fleet run: %v\n%s", err, fleetLog)
		}
	})

	pay := func(n int) {
		for i := range n {
			p := w.post(t, "/api/v1/payments", fmt.Sprintf(`{"lane":"1","amount":"%d.50","currency":"AED"}`, 10+i))
			w.waitStatus(t, p.OrderNo, "paid")
		}
	}
	fleetPaid := func() int {
		db, err := fleet.OpenDB(fleetDB)
		if err != nil {
			return 0
		}
		defer db.Close()
		orders, _ := db.Orders(context.Background(), fleet.Filter{})
		n := 0
		for _, o := range orders {
			if o.Status == "paid" {
				n++
			}
		}
		return n
	}
	pay(3)
	waitCond(t, "3 paid orders in the fleet", func() bool { return fleetPaid() == 3 })

	srv.Stop()
	pay(3) // the till does not need the uplink
	waitCond(t, "/status to show the outbox behind", func() bool {
		body := httpGet(t, w.apiURL+"/status")
		return strings.Contains(body, `"name":"outbox","state":"down"`) && strings.Contains(body, "events behind")
	})
	if m := httpGet(t, w.apiURL+"/metrics"); !strings.Contains(m, "posbridge_outbox_backlog_events") || strings.Contains(m, "posbridge_outbox_backlog_events 0\n") {
		t.Errorf("metrics show no backlog during the outage:\n%s", grepLines(m, "posbridge_outbox"))
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "6 paid orders in the fleet", func() bool { return fleetPaid() == 6 })
	waitCond(t, "/status to show the outbox up to date", func() bool {
		return strings.Contains(httpGet(t, w.apiURL+"/status"), "up to date")
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The fleet's orders are the till's, order by order.
	tillDB, err := store.Open(filepath.Join(w.dir, "posbridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tillDB.Close()
	page, err := tillDB.ListOrders(context.Background(), posbridge.OrderFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	fdb, err := fleet.OpenDB(fleetDB)
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	got, _ := fdb.Orders(context.Background(), fleet.Filter{Till: "t1"})
	byNo := map[string]fleet.Order{}
	for _, o := range got {
		byNo[o.No] = o
	}
	if len(page.Orders) != 6 || len(byNo) != 6 {
		t.Fatalf("till has %d orders, fleet %d; want 6 each", len(page.Orders), len(byNo))
	}
	for _, o := range page.Orders {
		g := byNo[string(o.No)]
		if g.Status != string(o.Status) || g.AmountMinor != o.Amount.Minor || g.Version != o.Version || g.CardLast4 != o.Card.Last4 {
			t.Errorf("order %s: fleet %s %d v%d, till %s %d v%d", o.No, g.Status, g.AmountMinor, g.Version, o.Status, o.Amount.Minor, o.Version)
		}
	}
	tills, _ := fdb.Tills(context.Background())
	last, _ := tillDB.LastSeq(context.Background())
	if len(tills) != 1 || tills[0].Events != last || tills[0].LastSeq != last {
		t.Errorf("fleet tills = %+v, want t1 with each of its %d events once", tills, last)
	}

	// The head-office commands read the same database.
	var out bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &out}
	for _, args := range [][]string{{"fleet", "tills", "--db", fleetDB}, {"fleet", "orders", "--attention", "--db", fleetDB}, {"fleet", "export", "--db", fleetDB}} {
		if err := m.Run(context.Background(), args); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
	}
	if s := out.String(); !strings.Contains(s, "acme/dxb01/t1") || !strings.Contains(s, " 1=up ") || strings.Count(s, ",acme,dxb01,t1,")+strings.Count(s, "\nacme,dxb01,t1,") != 6 {
		t.Errorf("fleet commands printed:\n%s", s)
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
