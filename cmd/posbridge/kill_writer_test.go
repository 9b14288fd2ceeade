package main

import (
	"bytes"
	"crypto/rsa"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge/gateway"
)

// The real binary is killed (SIGKILL) again and again while many signed
// notifications are being written at once, so that the store's group commit
// has batches in flight. After every restart, on the real file: every
// notification the daemon acknowledged (HTTP 200 SUCCESS) is in the inbox,
// applied; and nothing is half-applied: an inbox entry is applied exactly
// when its effect (audit row) is there, and every order has as many events
// and audit rows as versions, with event numbers that have no gap.
func TestE2E_KillDuringGroupCommit(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	w := newE2EWorld(t)
	bin := buildBinary(t, t.TempDir())
	proc := w.startProcess(t, bin)
	// Two paid orders for the notifications to name.
	var orders []apiPayment
	for _, amount := range []string{"42.00", "17.50"} {
		p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"`+amount+`","currency":"AED"}`)
		orders = append(orders, w.waitStatus(t, p.OrderNo, "paid"))
	}
	notifyURL := "http://" + notifyListen(t, w.cfgPath) + "/notify/payby"
	dbPath := filepath.Join(w.dir, "posbridge.db")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var acked []string // every notification id the daemon acknowledged, all rounds
	for round := range rounds {
		var (
			mu      sync.Mutex
			n       atomic.Int64
			stop    atomic.Bool
			wg      sync.WaitGroup
			answers atomic.Int64
		)
		for g := range 16 {
			wg.Go(func() {
				for !stop.Load() {
					i := n.Add(1)
					id := fmt.Sprintf("k%d-%d-%d", round, g, i)
					o := orders[i%int64(len(orders))]
					amount := "1.00" // a mismatch: order, event, audit row and inbox entry in one write
					if i%3 == 0 {
						amount = o.Amount // agrees with the paid order: the inbox entry alone
					}
					ok, err := postNotification(client, notifyURL, w.sb.Keys().Gateway, id, o.OrderNo, amount)
					if err != nil {
						return // the daemon is gone
					}
					if ok {
						answers.Add(1)
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
			})
		}
		// Kill once some notifications were answered, a little later each round.
		want := int64(20 + 7*round)
		for deadline := time.Now().Add(60 * time.Second); answers.Load() < want; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("round %d: %d notifications answered in a minute", round, answers.Load())
			}
		}
		if err := proc.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		proc.Wait()
		wg.Wait()

		proc = w.startProcess(t, bin)
		checkNotWritten(t, dbPath, round, acked)
	}
	t.Logf("%d rounds, %d notifications acknowledged", rounds, len(acked))
}

// notifyListen reads the notification listener's address from the config.
func notifyListen(t *testing.T, cfgPath string) string {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\[notify\]\nlisten = "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no [notify] listen in %s", b)
	}
	return string(m[1])
}

// postNotification POSTs a signed PayBy order notification saying order no
// is paid with amount AED. ok is the daemon's acknowledgement; err means no
// answer came.
func postNotification(c *http.Client, url string, key *rsa.PrivateKey, id, no, amount string) (ok bool, err error) {
	body := fmt.Appendf(nil, `{"notify_id":%q,"notify_timestamp":%d,"acquireOrder":{"requestTime":%d,"merchantOrderNo":%q,`+
		`"orderNo":"GW-%s","status":"PAID_SUCCESS","totalAmount":{"currency":"AED","amount":%q},"product":"Basic","revoked":"false"}}`,
		id, time.Now().UnixMilli(), time.Now().UnixMilli(), no, no, amount)
	sig, err := gateway.SignSHA256(key, body)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("sign", sig)
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	ack, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(ack)) == "SUCCESS", nil
}

// checkNotWritten checks the database file, read in one snapshot beside the
// running daemon: every acknowledged notification applied, nothing half-applied.
func checkNotWritten(t *testing.T, path string, round int, acked []string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin() // one read snapshot
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	applied := map[string]bool{}
	rows, err := tx.Query(`SELECT notification_id, applied_at IS NOT NULL FROM notifications`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var ok bool
		if err := rows.Scan(&id, &ok); err != nil {
			t.Fatal(err)
		}
		applied[id] = ok
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range acked {
		if !applied[id] {
			t.Fatalf("round %d: notification %s was acknowledged but is not applied in the database", round, id)
		}
	}
	one := func(q string) int64 {
		var n int64
		if err := tx.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	checks := []struct{ what, q string }{
		{"applied mismatches without their audit row", `SELECT COUNT(*) FROM notifications n WHERE n.result = 'mismatch'
			AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.who = n.gateway || ' ' || n.notification_id)`},
		{"notification audit rows without their applied inbox entry", `SELECT COUNT(*) FROM audit a WHERE a.actor = 'notification'
			AND NOT EXISTS (SELECT 1 FROM notifications n WHERE a.who = n.gateway || ' ' || n.notification_id AND n.applied_at IS NOT NULL)`},
		{"orders whose events do not match their version", `SELECT COUNT(*) FROM orders o
			WHERE o.version != (SELECT COUNT(*) FROM events e WHERE e.order_no = o.order_no AND e.refund_no = '')`},
		{"orders whose audit rows do not match their version", `SELECT COUNT(*) FROM orders o
			WHERE o.version != (SELECT COUNT(*) FROM audit a WHERE a.subject = o.order_no)`},
		{"gaps in event numbers", `SELECT COALESCE(MAX(seq), 0) - COUNT(*) FROM events`},
	}
	for _, c := range checks {
		if n := one(c.q); n != 0 {
			t.Fatalf("round %d: %d %s", round, n, c.what)
		}
	}
	t.Logf("round %d: %d notifications stored, %d acknowledged so far, %d events", round, len(applied), len(acked), one(`SELECT COUNT(*) FROM events`))
}
