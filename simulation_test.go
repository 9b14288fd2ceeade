package posbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// TestSimulation runs the real Engine, the real store on a temp SQLite file,
// the real terminal driver against termsim over an in-memory link, and the
// real PayBy client and notification handler against the sandbox over HTTP
// on an in-memory network, inside testing/synctest so no real time passes.
// Each scenario is random customers, terminal faults, gateway faults,
// notification faults, cashier actions at awkward moments and crashes; after
// each, the promise of DESIGN.md is checked.
//
// POSBRIDGE_SIM_SCENARIOS sets how many scenarios run (default 100, 20 with
// -short); POSBRIDGE_SIM_SEED=N replays scenario N alone.
func TestSimulation(t *testing.T) {
	first, count := int64(1), 100
	if testing.Short() {
		count = 20
	}
	if s := os.Getenv("POSBRIDGE_SIM_SCENARIOS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("POSBRIDGE_SIM_SCENARIOS=%q: want a positive number", s)
		}
		count = n
	}
	if s := os.Getenv("POSBRIDGE_SIM_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("POSBRIDGE_SIM_SEED=%q: want a number", s)
		}
		first, count = n, 1
	}
	for seed := first; seed < first+int64(count); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with: POSBRIDGE_SIM_SEED=%d go test -run TestSimulation .", seed)
				}
			})
			synctest.Test(t, func(t *testing.T) { runScenario(t, seed) })
		})
	}
}

// memNet is an in-memory network: HTTP clients dial listeners by host name
// over net.Pipe, which testing/synctest can see blocking.
type memNet struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

type memListener struct {
	name string
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

func (n *memNet) listen(name string) *memListener {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners == nil {
		n.listeners = map[string]*memListener{}
	}
	l := &memListener{name: name, c: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[name] = l
	return l
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr(l.name) }

func (n *memNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	n.mu.Lock()
	l := n.listeners[host]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	client, server := net.Pipe()
	select {
	case l.c <- server:
		return client, nil
	case <-l.done:
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (n *memNet) client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}}
}

// serve serves h on a listener named name until the returned stop is called.
func (n *memNet) serve(name string, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h}
	l := n.listen(name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return func() {
		srv.Close()
		<-done
	}
}

// daemon is one life of posbridge: store, terminal driver, gateway client,
// engine and notification endpoint. A crash ends a life; the next one opens
// the same database.
type daemon struct {
	db       *store.DB
	conn     *terminal.Conn
	engine   *posbridge.Engine
	notify   *payby.NotifyHandler
	stopHTTP func()
}

// world is what outlives the daemon: the terminal, the gateway, the network.
type world struct {
	t      *testing.T
	r      *rand.Rand
	seed   int64
	log    *slog.Logger
	logBuf *bytes.Buffer
	net    *memNet
	sb     *sandbox.Sandbox
	sim    *termsim.Sim
	pipe   *termsim.Pipe
	dbPath string
	d      *daemon
	lives  int

	intents    [][]posbridge.OrderNo // the orders made for each customer's purchase
	forgedSent int
	actions    []string
}

func (w *world) note(format string, args ...any) {
	w.actions = append(w.actions, fmt.Sprintf("%s "+format, append([]any{time.Now().UTC().Format("15:04:05")}, args...)...))
}

// lockedBuffer is a log sink shared by every goroutine of a scenario.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 {
		return len(p), nil // enough to debug; do not let a loop eat memory
	}
	return l.b.Write(p)
}

func (w *world) start() {
	w.t.Helper()
	w.lives++
	db, err := store.OpenOptions(w.dbPath, store.Options{Logger: w.log})
	if err != nil {
		w.t.Fatalf("life %d: open store: %v", w.lives, err)
	}
	d := &daemon{db: db}
	var eng atomic.Pointer[posbridge.Engine]
	conn, err := terminal.Open(terminal.Config{
		Open:      w.pipe.Open,
		AppID:     "sim",
		Heartbeat: 5 * time.Second, LinkTimeout: 20 * time.Second,
		Logger: w.log,
		OnLinkChange: func(st posbridge.LinkStatus) {
			if e := eng.Load(); e != nil {
				e.LinkChanged("1", st)
			}
		},
	})
	if err != nil {
		w.t.Fatalf("open terminal: %v", err)
	}
	d.conn = conn
	keys := w.sb.Keys()
	gw, err := payby.New(payby.Config{
		BaseURL: "http://gateway/sgs/api", PartnerID: w.sb.PartnerID(),
		MerchantKey: keys.Merchant, GatewayKey: &keys.Gateway.PublicKey,
		HTTPClient: w.net.client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: w.log,
	})
	if err != nil {
		w.t.Fatalf("payby client: %v", err)
	}
	e := posbridge.NewEngine(db, gw, map[string]posbridge.Terminal{"1": conn})
	e.Logger = w.log
	d.engine = e
	d.notify, err = payby.NewNotifyHandler(payby.NotifyConfig{GatewayKey: &keys.Gateway.PublicKey, Logger: w.log}, e)
	if err != nil {
		w.t.Fatalf("notify handler: %v", err)
	}
	if err := e.Open(context.Background()); err != nil {
		w.t.Fatalf("life %d: open engine: %v", w.lives, err)
	}
	eng.Store(e)
	mux := http.NewServeMux()
	mux.Handle("POST /notify/payby", d.notify)
	d.stopHTTP = w.net.serve("notify", mux)
	w.d = d
}

// crash ends the daemon's life abruptly: the database goes first, so nothing
// in flight is written after the "power cut".
func (w *world) crash() {
	d := w.d
	d.stopHTTP()
	d.db.Close()
	d.engine.Close()
	d.conn.Close()
	w.d = nil
}

func (w *world) stop() {
	d := w.d
	d.stopHTTP()
	d.engine.Close()
	d.conn.Close()
	if err := d.db.Close(); err != nil {
		w.t.Errorf("close store: %v", err)
	}
	w.d = nil
}

func runScenario(t *testing.T, seed int64) {
	logBuf := &bytes.Buffer{}
	w := &world{
		t: t, r: rand.New(rand.NewSource(seed)), seed: seed, logBuf: logBuf,
		net:    &memNet{},
		dbPath: filepath.Join(t.TempDir(), "posbridge.db"),
	}
	w.log = slog.New(slog.NewTextHandler(&lockedBuffer{b: logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario %d actions:\n%s", seed, strings.Join(w.actions, "\n"))
			if os.Getenv("POSBRIDGE_SIM_LOG") != "" {
				t.Logf("log:\n%s", logBuf.String())
			}
		}
	})

	var err error
	w.sb, err = sandbox.New(sandbox.Config{HTTPClient: w.net.client(), NotifyURL: "http://notify/notify/payby", Logger: w.log})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	stopGateway := w.net.serve("gateway", w.sb.Handler())
	w.sim = termsim.New(termsim.Config{Acquirer: w.sb, Seed: uint64(seed), Heartbeat: 5 * time.Second, Logger: w.log})
	w.pipe = termsim.NewPipe(w.sim)
	w.start()

	if w.r.Intn(4) == 0 {
		opts := sandbox.NotifierOptions{Duplicates: w.r.Intn(2) == 0, OutOfOrder: w.r.Intn(2) == 0}
		w.sb.SetNotifier(opts)
		w.note("notifier %+v", opts)
	}
	if w.r.Intn(6) == 0 {
		w.sb.SetNotifyURL("") // notifications missing: only queries tell
		w.note("no notifications")
	}

	purchases := 1 + w.r.Intn(4)
	for i := 0; i < purchases; i++ {
		w.purchase()
	}

	// Let everything settle: faults gone, cable in, notifications released.
	w.sim.SetFaults(termsim.Faults{})
	w.pipe.Plug()
	w.sb.ClearFaults()
	w.sb.SetNotifier(sandbox.NotifierOptions{})
	w.sb.FlushNotifications()
	time.Sleep(80 * time.Minute)
	w.sb.FlushNotifications()
	time.Sleep(5 * time.Minute)

	w.check()
	w.stop()
	w.pipe.Close()
	stopGateway()
	w.sb.Close()
}

var scripts = []struct {
	weight int
	name   string
	sc     termsim.Script
}{
	{30, "approve", termsim.Script{Action: termsim.Approve}},
	{5, "approve-code-0", termsim.Script{Action: termsim.Approve, SuccessCode: "0"}},
	{6, "decline", termsim.Script{Action: termsim.Decline}},
	{6, "customer-cancel", termsim.Script{Action: termsim.Cancel}},
	{4, "read-card-timeout", termsim.Script{Action: termsim.ReadTimeout}},
	{4, "walk-away", termsim.Script{Action: termsim.Never}},
	{5, "slow-customer", termsim.Script{Action: termsim.Approve, DelayText: "40s"}},
	{6, "approve-lose-response", termsim.Script{Action: termsim.Approve, LoseResponse: true}},
	{3, "decline-lose-response", termsim.Script{Action: termsim.Decline, LoseResponse: true}},
	{4, "approve-twice", termsim.Script{Action: termsim.Approve, Twice: true}},
	{4, "approve-after-reconnect", termsim.Script{Action: termsim.Approve, AfterReconnect: true}},
}

func (w *world) pickScript() (string, termsim.Script) {
	total := 0
	for _, s := range scripts {
		total += s.weight
	}
	n := w.r.Intn(total)
	for _, s := range scripts {
		if n < s.weight {
			sc := s.sc
			if sc.DelayText != "" {
				sc.Delay, _ = time.ParseDuration(sc.DelayText)
			}
			return s.name, sc
		}
		n -= s.weight
	}
	panic("unreachable")
}

func (w *world) pickLinkFaults() termsim.Faults {
	var f termsim.Faults
	switch w.r.Intn(10) {
	case 0:
		f.DropIn = 1 + w.r.Intn(3)
	case 1:
		f.DropOut = 1 + w.r.Intn(3)
	case 2:
		f.CorruptOut = 1 + w.r.Intn(3)
	case 3:
		f.DropAcks = 1 + w.r.Intn(3)
	case 4:
		f.Split, f.Coalesce = true, w.r.Intn(2) == 0
	case 5:
		f.Garbage = 1 + w.r.Intn(40)
	case 6:
		f.CloseMidSale = true
	case 7:
		f.Oversize = 1
	}
	return f
}

var gatewayPaths = []string{payby.PathGetOrder, payby.PathCancelOrder, "*"}

func (w *world) pickGatewayFault() {
	if w.r.Intn(3) != 0 {
		return
	}
	path := gatewayPaths[w.r.Intn(len(gatewayPaths))]
	var f sandbox.Fault
	switch w.r.Intn(8) {
	case 0:
		f = sandbox.Fault{Kind: sandbox.FaultCode, Code: "500", Msg: "SYSTEM_ERROR", Unsigned: true}
	case 1:
		f = sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true}
	case 2:
		f = sandbox.Fault{Kind: sandbox.FaultCode, Code: "402", Msg: "RATE_LIMIT_REJECT", Unsigned: true}
	case 3:
		f = sandbox.Fault{Kind: sandbox.FaultDelay, Delay: time.Minute}
	case 4:
		f = sandbox.Fault{Kind: sandbox.FaultCommit500}
	case 5:
		f = sandbox.Fault{Kind: sandbox.FaultDrop}
	case 6:
		f = sandbox.Fault{Kind: sandbox.FaultHTTP502}
	case 7:
		f = sandbox.Fault{Kind: sandbox.FaultBadSign}
	}
	f.Times = 1 + w.r.Intn(5)
	if err := w.sb.SetFault(path, f); err != nil {
		w.t.Fatalf("set fault: %v", err)
	}
	w.note("gateway fault %s %s x%d", path, f.Kind, f.Times)
}

// purchase is one customer buying something: a payment, faults, maybe a
// cashier doing something at an awkward moment, maybe a crash.
func (w *world) purchase() {
	name, sc := w.pickScript()
	w.sim.SetDefault(sc)
	faults := w.pickLinkFaults()
	w.sim.SetFaults(faults)
	w.pickGatewayFault()
	outage := w.r.Intn(12) == 0
	if outage {
		w.sb.SetFault("*", sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true, Times: 1_000_000})
		w.note("gateway outage begins")
	}
	w.note("purchase: customer %s, link faults %+v", name, faults)

	ctx := context.Background()
	req := posbridge.PayRequest{Lane: "1", Amount: posbridge.Money{Minor: int64(100 + w.r.Intn(50000)), Currency: "AED"},
		Reference: fmt.Sprintf("R%d", len(w.intents)), By: posbridge.By{Actor: posbridge.ActorAPI, Who: "pos"}}
	if w.r.Intn(2) == 0 {
		req.IdempotencyKey = fmt.Sprintf("key-%d-%d", w.seed, len(w.intents))
	}
	o, err := w.d.engine.Pay(ctx, req)
	if posbridge.ErrorCode(err) == posbridge.ELANEBUSY {
		// An earlier payment is not confirmed: the cashier waits, or
		// replaces it (which cancels it first).
		prev := w.openOrder()
		if prev != "" && w.r.Intn(2) == 0 {
			req.Replaces = prev
			w.note("replace %s", prev)
			o, err = w.d.engine.Pay(ctx, req)
		}
	}
	intent := -1
	if err == nil {
		w.note("paying %s (%s)", o.No, o.Amount)
		w.intents = append(w.intents, []posbridge.OrderNo{o.No})
		intent = len(w.intents) - 1
		if req.Replaces != "" {
			w.attach(req.Replaces, o.No)
		}
		if req.IdempotencyKey != "" && w.r.Intn(3) == 0 {
			again, err := w.d.engine.Pay(ctx, req)
			if err == nil && again.No != o.No {
				w.t.Errorf("idempotent replay made a new payment %s (first %s)", again.No, o.No)
			}
		}
	} else {
		w.note("pay refused: %v", err)
	}

	// An awkward moment.
	time.Sleep(time.Duration(w.r.Intn(70)) * time.Second)
	if intent >= 0 {
		w.awkward(o.No)
	}
	if outage {
		time.Sleep(time.Hour)
		w.sb.ClearFaults()
		w.note("gateway outage ends")
	}
	time.Sleep(time.Duration(30+w.r.Intn(120)) * time.Second)
}

// attach records that order next replaced order prev in the same purchase.
func (w *world) attach(prev, next posbridge.OrderNo) {
	for i, in := range w.intents {
		for _, no := range in {
			if no == prev {
				w.intents[i] = append(w.intents[i], next)
				w.intents = w.intents[:len(w.intents)-1]
				return
			}
		}
	}
}

func (w *world) openOrder() posbridge.OrderNo {
	page, err := w.d.engine.Payments(context.Background(), posbridge.OrderFilter{Lane: "1", Statuses: []posbridge.Status{posbridge.StatusPending, posbridge.StatusVerifying, posbridge.StatusAtTerminal}})
	if err != nil || len(page.Orders) == 0 {
		return ""
	}
	return page.Orders[0].No
}

func (w *world) awkward(no posbridge.OrderNo) {
	ctx := context.Background()
	cashier := posbridge.By{Actor: posbridge.ActorCashier, Who: "sim", Reason: "sim"}
	switch w.r.Intn(14) {
	case 0:
		_, err := w.d.engine.Cancel(ctx, no, cashier)
		w.note("cashier cancels %s: %v", no, err)
	case 1:
		_, err := w.d.engine.Verify(ctx, no, cashier)
		w.note("cashier verifies %s: %v", no, err)
	case 2:
		_, err := w.d.engine.Retry(ctx, no, cashier)
		w.note("cashier retries %s: %v", no, err)
	case 3:
		_, err := w.d.engine.Override(ctx, no, cashier)
		w.note("cashier overrides %s: %v", no, err)
	case 4, 5:
		w.note("crash")
		w.crash()
		time.Sleep(time.Duration(w.r.Intn(30)) * time.Second)
		w.start()
		w.note("restarted")
	case 6:
		w.pipe.Unplug()
		w.note("cable pulled")
		time.Sleep(time.Duration(5+w.r.Intn(120)) * time.Second)
		w.pipe.Plug()
		w.note("cable back")
	case 7:
		w.forge(no, false)
	case 8:
		w.forge(no, true)
	}
}

// forge posts a notification saying no is paid: with a bad signature
// (forged), or correctly signed with the wrong amount (mismatched).
func (w *world) forge(no posbridge.OrderNo, signedWrongAmount bool) {
	body := fmt.Sprintf(`{"notify_id":"F%d","notify_timestamp":%d,"acquireOrder":{"merchantOrderNo":%q,"orderNo":"999","status":"PAID_SUCCESS","totalAmount":{"currency":"AED","amount":0.01}}}`,
		w.forgedSent, time.Now().UnixMilli(), no)
	w.forgedSent++
	var sign string
	if signedWrongAmount {
		var err error
		if sign, err = gateway.SignSHA256(w.sb.Keys().Gateway, []byte(body)); err != nil {
			w.t.Fatal(err)
		}
	} else {
		other, _ := sandbox.GenerateKeys()
		sign, _ = gateway.SignSHA256(other.Gateway, []byte(body))
	}
	req, _ := http.NewRequest(http.MethodPost, "http://notify/notify/payby", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("sign", sign)
	resp, err := w.net.client().Do(req)
	if err != nil {
		w.note("forged notification not delivered: %v", err)
		return
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.note("notification for %s signed=%v: %d %s", no, signedWrongAmount, resp.StatusCode, reply)
	if !signedWrongAmount && resp.StatusCode < 400 {
		w.t.Errorf("a forged notification was answered %d %s", resp.StatusCode, reply)
	}
}

// check verifies the promise after a scenario.
func (w *world) check() {
	t := w.t
	ctx := context.Background()
	e, db := w.d.engine, w.d.db
	truth := map[string]sandbox.Order{}
	for _, o := range w.sb.Orders() {
		truth[o.MerchantOrderNo] = o
	}
	var all []posbridge.Order
	page := posbridge.OrderFilter{Limit: 500}
	for {
		p, err := e.Payments(ctx, page)
		if err != nil {
			t.Fatalf("list orders: %v", err)
		}
		all = append(all, p.Orders...)
		if p.NextCursor == "" {
			break
		}
		page.Cursor = p.NextCursor
	}
	local := map[posbridge.OrderNo]posbridge.Order{}
	for _, o := range all {
		local[o.No] = o
	}

	// 1. Nobody was charged more than once: per order, and per purchase.
	for no, n := range w.sb.Charges() {
		if n > 1 {
			t.Errorf("invariant 1: order %s was charged %d times", no, n)
		}
	}
	for i, in := range w.intents {
		paid := 0
		for _, no := range in {
			if s := truth[string(no)].Status; s == sandbox.StatusPaid || s == sandbox.StatusSettled {
				paid++
			}
		}
		if paid > 1 {
			t.Errorf("invariant 1: purchase %d (%v) was paid %d times", i, in, paid)
		}
	}
	for _, o := range all {
		if n := w.sim.SaleRequests(o.No); n > o.Attempts {
			t.Errorf("invariant 1: the terminal got %d sales for %s, posbridge sent %d", n, o.No, o.Attempts)
		}
	}

	for _, o := range all {
		// 2. Every order is final or has a next check.
		if o.Open() && o.NextCheckAt.IsZero() {
			t.Errorf("invariant 2: %s is %s with no check scheduled", o.No, o.Status)
		}
		// 3 and 5. Final statuses agree with the gateway; paid is never lost.
		g, known := truth[string(o.No)]
		gPaid := known && (g.Status == sandbox.StatusPaid || g.Status == sandbox.StatusSettled)
		switch {
		case o.Status == posbridge.StatusPaid && !gPaid:
			t.Errorf("invariant 3: %s is paid here but %q at the gateway", o.No, g.Status)
		case gPaid && o.Status != posbridge.StatusPaid:
			t.Errorf("invariant 3/5: %s was paid at the gateway but is %s (%s) here", o.No, o.Status, o.Reason)
		case o.Open():
			t.Errorf("scenario did not settle: %s is still %s (next check %v)", o.No, o.Status, o.NextCheckAt)
		}
		// 6. Every change has an audit row (one per version).
		audit, err := db.Audit(ctx, o.No)
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		if int64(len(audit)) != o.Version {
			t.Errorf("invariant 6: %s has version %d but %d audit rows", o.No, o.Version, len(audit))
		}
	}
	// Orders the gateway has that posbridge never made would mean a sale
	// under a number posbridge does not know.
	for no := range truth {
		if _, ok := local[posbridge.OrderNo(no)]; !ok {
			t.Errorf("the gateway has order %s that posbridge does not", no)
		}
	}

	// 4. Every notification the daemon acknowledged is applied.
	unapplied, err := db.UnappliedNotifications(ctx, 10000)
	if err != nil {
		t.Fatalf("unapplied notifications: %v", err)
	}
	if len(unapplied) > 0 {
		t.Errorf("invariant 4: %d notifications received but not applied (first %s)", len(unapplied), unapplied[0].NotificationID)
	}
	for _, d := range w.sb.Notifications() {
		if !d.Delivered {
			continue
		}
		if _, ok := local[posbridge.OrderNo(d.MerchantOrderNo)]; !ok {
			continue
		}
		o := local[posbridge.OrderNo(d.MerchantOrderNo)]
		if d.Status == sandbox.StatusPaid && o.Status != posbridge.StatusPaid {
			t.Errorf("invariant 4: acknowledged notification %s (paid) for %s, which is %s", d.NotifyID, o.No, o.Status)
		}
	}

	// 5. No order was ever shown as failed or canceled after it was paid.
	var seq int64
	paidSeen := map[posbridge.OrderNo]bool{}
	for {
		evs, err := e.EventsSince(ctx, seq, 1000)
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if ev.Seq != seq+1 {
				t.Errorf("event seq %d after %d: a gap", ev.Seq, seq)
			}
			seq = ev.Seq
			if ev.Payment == nil {
				continue
			}
			p := ev.Payment
			if paidSeen[p.No] && p.Status != posbridge.StatusPaid {
				t.Errorf("invariant 5: %s was shown %s after it was paid", p.No, p.Status)
			}
			if p.Status == posbridge.StatusPaid {
				paidSeen[p.No] = true
			}
		}
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(w.sb.Orders(), "", " ")
		t.Logf("gateway orders: %s", b)
		for _, o := range all {
			w.explain(o.No)
		}
	}
	if errors.Is(context.Background().Err(), context.Canceled) {
		t.Fatal("unreachable")
	}
}

// explain logs an order's audit trail and the calls made for it.
func (w *world) explain(no posbridge.OrderNo) {
	ctx := context.Background()
	var b strings.Builder
	audit, _ := w.d.db.Audit(ctx, no)
	checks, _ := w.d.db.Checks(ctx, no)
	fmt.Fprintf(&b, "order %s:\n", no)
	i, j := 0, 0
	for i < len(audit) || j < len(checks) {
		if j >= len(checks) || i < len(audit) && !audit[i].At.After(checks[j].At) {
			a := audit[i]
			fmt.Fprintf(&b, "  %s audit %s/%s %s: %s -> %s (%s)\n", a.At.Format("15:04:05.000"), a.Cause.Actor, a.Cause.Who, a.Cause.Action, a.From, a.To, a.Cause.Detail)
			i++
			continue
		}
		c := checks[j]
		fmt.Fprintf(&b, "  %s check %s %s -> %s\n", c.At.Format("15:04:05.000"), c.Kind, c.Request, c.Result)
		j++
	}
	w.t.Log(b.String())
}
