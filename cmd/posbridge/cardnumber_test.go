package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge/posbridgetest"
)

// luhnRuns returns the runs of 13 to 19 digits in b that look like a card
// number: the whole run (digits on neither side), starting with a card
// network's first digit (3 Amex/Diners/JCB, 4 Visa, 5 Mastercard, 6
// Discover/UnionPay), not one digit repeated, and passing the Luhn check.
// Order numbers (they start with the year), millisecond times (they start
// with 1) and the gateway's numbers do not match. Nor does a run holding
// one of notCards: in a database file a text column sits right after a
// binary one (an index on created_at and order_no holds the time's last
// byte, then the order number), and a byte that reads as '4' glues itself
// to the number's digits about once in 256.
func luhnRuns(b []byte, notCards ...string) []string {
	var out []string
	for i, j := range posbridgetest.DigitRuns(b) {
		run := b[i:j]
		if len(run) < 13 || len(run) > 19 || run[0] < '3' || run[0] > '6' {
			continue
		}
		if slices.ContainsFunc(notCards, func(s string) bool { return bytes.Contains(run, []byte(s)) }) {
			continue
		}
		same := true
		for _, c := range run {
			same = same && c == run[0]
		}
		if !same && posbridgetest.Luhn(run) {
			out = append(out, string(run))
		}
	}
	return out
}

func TestLuhnRuns(t *testing.T) {
	if got := luhnRuns([]byte(`"cardNo":"4111111111111111","x":12`)); len(got) == 0 || got[0] != "4111111111111111" {
		t.Fatalf("luhnRuns missed a card number: %v", got)
	}
	if got := luhnRuns([]byte(`"last4":"1111","order":"20261130","at":1796077930824,"g":"1316583005178758"`)); len(got) != 0 {
		t.Fatalf("luhnRuns found %v in text without a card number", got)
	}
	// An order number (18 digits, today's date first) after a binary
	// field whose last byte is '4' passes the Luhn check.
	glued := []byte("\x01\x9a\xd8\x34202612020549552921")
	if got := luhnRuns(glued); len(got) != 1 {
		t.Fatalf("the fixture should read as a card number without notCards: %v", got)
	}
	if got := luhnRuns(glued, "20261202"); len(got) != 0 {
		t.Fatalf("luhnRuns took an order number glued to a byte for a card number: %v", got)
	}
	if got := luhnRuns([]byte(`"cardNo":"4111111111111111"`), "20261202"); len(got) != 1 {
		t.Fatalf("notCards hid a card number: %v", got)
	}
}

// The gateway's notifications and answers carry whole card numbers (as a
// transfer notification or a careless acquirer may): after payments, the
// database file, the daemon's log and the API's answers hold nothing that
// looks like one.
func TestE2E_NoCardNumberStoredOrLogged(t *testing.T) {
	w := newE2EWorld(t)
	w.sb.SetFullCardNumbers(true)
	// The day's date starts every order number (and the terminal's
	// numbers): a run holding it is one of those, not a card number.
	days := []string{time.Now().Format("20060102")}
	stop := w.startDaemon(t)
	var answers []byte
	for _, amount := range []string{"11.00", "22.00", "33.00"} {
		p := w.post(t, "/api/v1/payments", `{"lane":"1","amount":"`+amount+`","currency":"AED"}`)
		w.waitStatus(t, p.OrderNo, "paid")
		answers = append(answers, w.getRaw(t, p.OrderNo)...)
	}
	w.sb.FlushNotifications()
	resp, err := http.Get(w.apiURL + "/api/v1/payments?limit=50")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answers = append(answers, list...)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	days = append(days, time.Now().Format("20060102")) // past midnight
	if len(w.sb.Notifications()) == 0 {
		t.Fatal("the sandbox sent no notification: the test proves nothing")
	}
	for _, f := range []string{"posbridge.db", "posbridge.db-wal", "posbridge.db-shm"} {
		b, err := os.ReadFile(filepath.Join(w.dir, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if runs := luhnRuns(posbridgetest.MaskSQLiteStructure(b, strings.HasSuffix(f, "-wal")), days...); len(runs) > 0 {
			t.Errorf("%s holds what looks like a card number: %v", f, runs)
		}
	}
	for i, l := range w.logs {
		if runs := luhnRuns([]byte(l.String()), days...); len(runs) > 0 {
			t.Errorf("the daemon's log (life %d) holds what looks like a card number: %v", i+1, runs)
		}
	}
	if runs := luhnRuns(answers, days...); len(runs) > 0 {
		t.Errorf("the API answered what looks like a card number: %v", runs)
	}
}
