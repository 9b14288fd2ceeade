package posbridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
)

// errInjectedBusy is what a write gets when the simulation makes it fail, as
// SQLite answers a write whose lock another connection holds too long.
var errInjectedBusy = errors.New("sim: database is locked (injected write failure)")

// simStore is the real store with two faults the simulation switches on:
// the next writes fail, or the process "dies" right after the Nth write
// commits (every later call fails and the world restarts the daemon), so a
// crash can fall between any two writes.
type simStore struct {
	*store.DB
	failNext atomic.Int64 // fail this many next writes
	crashIn  atomic.Int64 // die right after this many more commits (0: off)
	dead     atomic.Bool
	onCrash  func() // called once, from the writer, when the process dies

	// busy counts writes that failed on SQLite's lock while another
	// connection held it; past busyLimit, release is closed so the holder
	// lets go (a loop retrying without waiting would otherwise stop
	// simulated time for good).
	busy      atomic.Int64
	busyLimit int64
	releaseMu sync.Mutex
	release   chan struct{}
}

// busyLoopLimit is how many writes may fail on one held lock before the
// simulation calls it a busy loop: waiting loops make a few dozen.
const busyLoopLimit = 300

// holding arms the busy counter for one lock hold and returns the channel
// closed when the engine has failed busyLoopLimit writes on it.
func (s *simStore) holding() <-chan struct{} {
	s.releaseMu.Lock()
	defer s.releaseMu.Unlock()
	s.busy.Store(0)
	s.busyLimit = busyLoopLimit
	s.release = make(chan struct{})
	return s.release
}

func (s *simStore) countBusy(err error) {
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
		return
	}
	if s.busy.Add(1) == busyLoopLimit {
		s.releaseMu.Lock()
		if s.release != nil {
			close(s.release)
			s.release = nil
		}
		s.releaseMu.Unlock()
	}
}

var _ posbridge.Store = (*simStore)(nil)

// before reports whether a write may go ahead.
func (s *simStore) before() error {
	if s.dead.Load() {
		return posbridge.ErrClosed
	}
	for {
		n := s.failNext.Load()
		if n <= 0 {
			return nil
		}
		if s.failNext.CompareAndSwap(n, n-1) {
			return errInjectedBusy
		}
	}
}

// after runs once a write committed: the process may die now, before the
// caller learns of it.
func (s *simStore) after(err error) error {
	if err != nil {
		s.countBusy(err)
		return err
	}
	for {
		n := s.crashIn.Load()
		if n <= 0 {
			return nil
		}
		if s.crashIn.CompareAndSwap(n, n-1) {
			if n == 1 && s.dead.CompareAndSwap(false, true) {
				s.onCrash()
				return posbridge.ErrClosed
			}
			return nil
		}
	}
}

func (s *simStore) CreateOrder(ctx context.Context, o *posbridge.Order, cause posbridge.Cause) (posbridge.Event, error) {
	if err := s.before(); err != nil {
		return posbridge.Event{}, err
	}
	ev, err := s.DB.CreateOrder(ctx, o, cause)
	return ev, s.after(err)
}

func (s *simStore) CreateOrderThen(ctx context.Context, o *posbridge.Order, cause posbridge.Cause, then posbridge.OrderStep) (posbridge.Event, posbridge.Event, error) {
	if err := s.before(); err != nil {
		return posbridge.Event{}, posbridge.Event{}, err
	}
	created, changed, err := s.DB.CreateOrderThen(ctx, o, cause, then)
	return created, changed, s.after(err)
}

func (s *simStore) UpdateOrder(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Order) error) (posbridge.Order, posbridge.Event, error) {
	if err := s.before(); err != nil {
		return posbridge.Order{}, posbridge.Event{}, err
	}
	o, ev, err := s.DB.UpdateOrder(ctx, no, cause, fn)
	if err == nil && ev.Seq == 0 {
		return o, ev, nil // nothing written
	}
	return o, ev, s.after(err)
}

func (s *simStore) RecordCheck(ctx context.Context, c posbridge.Check) error {
	if err := s.before(); err != nil {
		return err
	}
	return s.after(s.DB.RecordCheck(ctx, c))
}

func (s *simStore) ReceiveNotification(ctx context.Context, e posbridge.InboxEntry) (posbridge.InboxEntry, bool, error) {
	if err := s.before(); err != nil {
		return posbridge.InboxEntry{}, false, err
	}
	got, dup, err := s.DB.ReceiveNotification(ctx, e)
	if err == nil && dup {
		return got, dup, nil
	}
	return got, dup, s.after(err)
}

func (s *simStore) MarkNotificationApplied(ctx context.Context, id int64, at time.Time, result string) error {
	if err := s.before(); err != nil {
		return err
	}
	return s.after(s.DB.MarkNotificationApplied(ctx, id, at, result))
}

func (s *simStore) CreateRefund(ctx context.Context, r *posbridge.Refund, cause posbridge.Cause) (posbridge.Event, error) {
	if err := s.before(); err != nil {
		return posbridge.Event{}, err
	}
	ev, err := s.DB.CreateRefund(ctx, r, cause)
	return ev, s.after(err)
}

func (s *simStore) UpdateRefund(ctx context.Context, no posbridge.OrderNo, cause posbridge.Cause, fn func(*posbridge.Refund) error) (posbridge.Refund, posbridge.Event, error) {
	if err := s.before(); err != nil {
		return posbridge.Refund{}, posbridge.Event{}, err
	}
	r, ev, err := s.DB.UpdateRefund(ctx, no, cause, fn)
	if err == nil && ev.Seq == 0 {
		return r, ev, nil
	}
	return r, ev, s.after(err)
}

// simBusyTimeout is the store's busy timeout in the simulation. SQLite's
// busy handler sleeps in real time (testing/synctest cannot see it), so it is
// kept short; a lock held for simulated seconds outlasts it many times over.
const simBusyTimeout = 5 * time.Millisecond

// holdWriteLock takes the database's write lock from a second connection
// (BEGIN IMMEDIATE), as another process would, holds it for d of simulated
// time (or until release is closed), and lets it go: the engine's writes
// meanwhile fail with SQLITE_BUSY after the store's busy timeout. It
// reports whether it let go early.
func holdWriteLock(path string, d time.Duration, release <-chan struct{}) (bool, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=2000&_journal_mode=WAL")
	if err != nil {
		return false, err
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, fmt.Errorf("take the write lock: %w", err)
	}
	early := false
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-release:
		early = true
	}
	t.Stop()
	_, err = conn.ExecContext(ctx, "ROLLBACK")
	return early, err
}

// ackedNotification is what the simulation's wrapper of the notification
// endpoint reads from a notification the daemon acknowledged.
type ackedNotification struct {
	ID     string      `json:"notify_id"`
	Order  *ackedOrder `json:"acquireOrder"`
	Refund *struct {
		RefundMerchantOrderNo string `json:"refundMerchantOrderNo"`
		Status                string `json:"status"`
	} `json:"refundOrder"`
	// CodePay notifications are flat: a transaction's fields.
	MerchantOrderNo string          `json:"merchant_order_no"`
	TransType       json.RawMessage `json:"trans_type"`
	TransStatus     json.RawMessage `json:"trans_status"`
	OrderAmount     json.Number     `json:"order_amount"`
	// Pay Protocol's payment callbacks: the order's fields.
	OutTradeNo    string      `json:"outTradeNo"`
	PaymentStatus string      `json:"paymentStatus"`
	QuoteAmount   json.Number `json:"quoteAmount"`
}

// ackedOrder is an order notification's order, as checkAcked reads it.
type ackedOrder struct {
	MerchantOrderNo string `json:"merchantOrderNo"`
	Status          string `json:"status"`
	TotalAmount     struct {
		Amount json.Number `json:"amount"`
	} `json:"totalAmount"`
}

// checkedNotify serves h and, for each notification it acknowledged (200
// SUCCESS), checks at that moment that its effect is in the store: a paid
// order notification leaves the order paid, a partially paid one leaves it
// flagged and not paid, a succeeded refund notification leaves the refund
// succeeded. violation is called for each break.
func checkedNotify(h http.Handler, st *simStore, violation func(format string, args ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		acked := rec.Code == http.StatusOK && strings.EqualFold(strings.TrimSpace(rec.Body.String()), "SUCCESS")
		if acked && !st.dead.Load() {
			checkAcked(body, st, violation)
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

func checkAcked(body []byte, st *simStore, violation func(format string, args ...any)) {
	var n ackedNotification
	if json.Unmarshal(body, &n) != nil {
		return
	}
	ctx := context.Background()
	if n.OutTradeNo != "" && n.PaymentStatus == sandbox.PPPartiallyPaid {
		o, err := st.DB.Order(ctx, posbridge.OrderNo(n.OutTradeNo))
		if err == nil && (o.Status == posbridge.StatusPaid || !o.NeedsAttention || o.Reason != posbridge.ReasonPartiallyPaid) {
			violation("acknowledged notification %s says %s partially paid, but the order is %s (%s, attention %v) at that moment", n.ID, o.No, o.Status, o.Reason, o.NeedsAttention)
		}
		return
	}
	if n.OutTradeNo != "" && n.PaymentStatus == sandbox.PPPaid {
		// Pay Protocol: the same promise as PayBy's paid notification.
		n.ID = "pp " + n.OutTradeNo
		n.Order = &ackedOrder{MerchantOrderNo: n.OutTradeNo, Status: "PAID_SUCCESS"}
		n.Order.TotalAmount.Amount = n.QuoteAmount
	}
	if n.MerchantOrderNo != "" {
		// CodePay: trans_type 3 is a refund, trans_status 2 success.
		status, kind := strings.Trim(string(n.TransStatus), `"`), strings.Trim(string(n.TransType), `"`)
		if status != "2" {
			return
		}
		if kind == "3" {
			n.Refund = &struct {
				RefundMerchantOrderNo string `json:"refundMerchantOrderNo"`
				Status                string `json:"status"`
			}{n.MerchantOrderNo, "SUCCESS"}
		} else {
			n.Order = &ackedOrder{MerchantOrderNo: n.MerchantOrderNo, Status: "PAID_SUCCESS"}
			n.Order.TotalAmount.Amount = n.OrderAmount
		}
	}
	switch {
	case n.Order != nil && (n.Order.Status == "PAID_SUCCESS" || n.Order.Status == "SETTLED"):
		o, err := st.DB.Order(ctx, posbridge.OrderNo(n.Order.MerchantOrderNo))
		if err != nil {
			return // not ours, or the store is gone
		}
		amount, err := posbridge.ParseAmount(n.Order.TotalAmount.Amount.String(), o.Amount.Currency)
		if err != nil || amount != o.Amount {
			return // refused as a mismatch, and flagged
		}
		if o.Status != posbridge.StatusPaid {
			violation("acknowledged notification %s says %s paid, but the order is %s at that moment", n.ID, o.No, o.Status)
		}
	case n.Refund != nil && n.Refund.Status == "SUCCESS":
		no := posbridge.OrderNo(n.Refund.RefundMerchantOrderNo)
		o, err := refundOrderOf(ctx, st, no)
		if err != nil {
			return
		}
		rs, _ := st.DB.Refunds(ctx, o)
		for _, rf := range rs {
			if rf.No == no && rf.Status != posbridge.RefundSucceeded {
				violation("acknowledged notification %s says refund %s succeeded, but it is %s at that moment", n.ID, no, rf.Status)
			}
		}
	}
}

// refundOrderOf finds the order of a refund number by scanning orders (the
// simulation has few).
func refundOrderOf(ctx context.Context, st *simStore, rno posbridge.OrderNo) (posbridge.OrderNo, error) {
	page, err := st.DB.ListOrders(ctx, posbridge.OrderFilter{Limit: 500, Statuses: []posbridge.Status{posbridge.StatusPaid}})
	if err != nil {
		return "", err
	}
	for _, o := range page.Orders {
		rs, err := st.DB.Refunds(ctx, o.No)
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			if r.No == rno {
				return o.No, nil
			}
		}
	}
	return "", posbridge.ErrNotFound
}

// findPANs returns where b holds a run of 13 to 19 digits that starts like
// a card number (cardPrefix) and passes the Luhn check, with the run masked.
func findPANs(b []byte) []string {
	var out []string
	for i, j := range posbridgetest.DigitRuns(b) {
		// A card number stands alone: not glued to letters (an order
		// number's random tail, records packed side by side) and not
		// holding the simulation's date (order numbers start 20000101).
		alone := (i == 0 || !isAlnum(b[i-1])) && (j == len(b) || !isAlnum(b[j]))
		// A hex hash (request_hash) can start with digits and be cut by a
		// database page boundary: digits there are no card number.
		if bytes.HasSuffix(b[max(0, i-8):i], []byte(`hash":"`)) {
			alone = false
		}
		if n := j - i; n >= 13 && n <= 19 && alone && !bytes.Contains(b[i:j], []byte("2000010")) && cardPrefix(b[i:j]) && posbridgetest.Luhn(b[i:j]) {
			out = append(out, fmt.Sprintf("offset %d: %s%s%s after %q", i, b[i:i+4], strings.Repeat("*", n-8), b[j-4:j], b[max(0, i-24):i]))
		}
	}
	return out
}

// cardPrefix reports whether digits start like a card number: 3 to 6, or
// Mastercard's 2221 to 2720 (dates such as 20000101… do not).
func cardPrefix(d []byte) bool {
	if d[0] >= '3' && d[0] <= '6' {
		return true
	}
	p := (int(d[0]-'0')*1000 + int(d[1]-'0')*100 + int(d[2]-'0')*10 + int(d[3]-'0'))
	return p >= 2221 && p <= 2720
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// scanForPANs reads the database files and the log and reports every
// card-number-like run it finds.
func scanForPANs(dbPath string, log []byte) []string {
	var out []string
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, p := range findPANs(posbridgetest.MaskSQLiteStructure(b, strings.HasSuffix(f, "-wal"))) {
			out = append(out, f[strings.LastIndex(f, "/")+1:]+" "+p)
		}
	}
	// The scenario's own directory (the seed and random digits chosen by
	// t.TempDir) appears in log lines: it is no card number.
	dir := filepath.Dir(dbPath)
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		log = bytes.ReplaceAll(log, []byte(d), nil)
	}
	for _, p := range findPANs(log) {
		out = append(out, "log "+p)
	}
	return out
}

// lockedList is a list of strings appended to from several goroutines.
type lockedList struct {
	mu sync.Mutex
	l  []string
}

func (l *lockedList) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, s)
}

func (l *lockedList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// simKeyBits is the size of the simulation's RSA keys (see simKeys).
const simKeyBits = 512

var (
	simKeysOnce sync.Once
	simKeysVal  sandbox.Keys
	simKeysErr  error
)

// simDir is the scenario's directory for its database: in memory (tmpfs)
// when the machine has /dev/shm, since the simulation's crashes are
// simulated (the process never loses its page cache) and fsync only costs
// time there; the crash tests of cmd/posbridge keep real files and fsync.
func simDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "posbridge-sim-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

var (
	simSchemaOnce sync.Once
	simSchema     []byte
	simSchemaErr  error
)

// simDB returns the path of a scenario's database in dir: a copy of an empty
// database the migrations made once per process. Every scenario would
// otherwise run every migration again (about 5 % of the simulation's CPU);
// the store's tests cover the migrations themselves, and each start of a
// scenario still checks them (all applied).
func simDB(t *testing.T, dir string) string {
	simSchemaOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "posbridge-schema-")
		if err != nil {
			simSchemaErr = err
			return
		}
		defer os.RemoveAll(tmp)
		path := filepath.Join(tmp, "posbridge.db")
		db, err := store.OpenOptions(path, store.Options{Logger: discardLog()})
		if err != nil {
			simSchemaErr = err
			return
		}
		if simSchemaErr = db.Close(); simSchemaErr != nil {
			return
		}
		simSchema, simSchemaErr = os.ReadFile(path)
	})
	if simSchemaErr != nil {
		t.Fatalf("the simulation's empty database: %v", simSchemaErr)
	}
	path := filepath.Join(dir, "posbridge.db")
	if err := os.WriteFile(path, simSchema, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	simForgerOnce sync.Once
	simForger     *rsa.PrivateKey
	simForgerErr  error
)

// simForgerKey is a key that is not the gateway's, made once per run
// (generating one per forged notification was a tenth of the simulation's
// CPU).
func simForgerKey(t *testing.T) *rsa.PrivateKey {
	simForgerOnce.Do(func() { simForger, simForgerErr = rsa.GenerateKey(rand.Reader, simKeyBits) })
	if simForgerErr != nil {
		t.Fatalf("forger key: %v", simForgerErr)
	}
	return simForger
}

// simKeys returns the gateway and merchant keys every scenario shares:
// RSA-512, not production's 2048 (the key files posbridge loads are refused
// below gateway.MinKeyBits), because signing every request and answer was
// 40 % of the simulation's CPU with 1,024-bit keys, and the simulation checks
// the money logic, not the cryptography (the gateway packages' tests sign and
// verify with full-size keys). The //go:debug line above the package clause
// of simulation_test.go lets crypto/rsa make keys this small in this test
// binary only.
func simKeys(t *testing.T) sandbox.Keys {
	simKeysOnce.Do(func() {
		var k sandbox.Keys
		if k.Merchant, simKeysErr = rsa.GenerateKey(rand.Reader, simKeyBits); simKeysErr != nil {
			return
		}
		if k.Gateway, simKeysErr = rsa.GenerateKey(rand.Reader, simKeyBits); simKeysErr != nil {
			return
		}
		simKeysVal = k
	})
	if simKeysErr != nil {
		t.Fatalf("simulation keys: %v", simKeysErr)
	}
	return simKeysVal
}
