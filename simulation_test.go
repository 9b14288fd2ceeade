//go:debug rsa1024min=0

package posbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/daemon"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
	"github.com/posbridge/posbridge/store"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// TestSimulation runs the daemon the binary runs (daemon.Daemon: the real
// Engine, the real store on a temp SQLite file, the real terminal driver
// against termsim over an in-memory link, the real PayBy client and
// notification handler and server) against the sandbox over HTTP on an
// in-memory network, inside testing/synctest so no real time passes.
// Each scenario is random customers, terminal faults, gateway faults,
// notification faults, cashier actions at awkward moments and crashes; after
// each, the promise of docs/architecture.md is checked.
//
// POSBRIDGE_SIM_SCENARIOS sets how many scenarios run (default 100, 20 with
// -short); POSBRIDGE_SIM_SEED=N replays scenario N alone. Every scenario runs
// against each gateway, PayBy and CodePay (the same seed, so the same
// customers and faults), and Pay Protocol (a QR lane alone,
// simulation_payprotocol_test.go); POSBRIDGE_SIM_GATEWAY=payby, codepay or
// payprotocol runs one.
func TestSimulation(t *testing.T) {
	gateways := []string{"payby", "codepay", "payprotocol"}
	switch g := os.Getenv("POSBRIDGE_SIM_GATEWAY"); g {
	case "", "all":
	case "payby", "codepay", "payprotocol":
		gateways = []string{g}
	default:
		t.Fatalf("POSBRIDGE_SIM_GATEWAY=%q: want payby, codepay, payprotocol or all", g)
	}
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
			for _, gw := range gateways {
				t.Run(gw, func(t *testing.T) {
					t.Cleanup(func() {
						if t.Failed() {
							t.Logf("replay with: POSBRIDGE_SIM_SEED=%d POSBRIDGE_SIM_GATEWAY=%s go test -run TestSimulation .", seed, gw)
						}
					})
					synctest.Test(t, func(t *testing.T) { runScenario(t, seed, gw) })
				})
			}
		})
	}
}

// life is one life of posbridge: the daemon over its store (the real one,
// wrapped by simStore for faults and crashes). A crash ends a life; the next
// one opens the same database.
type life struct {
	db     *store.DB
	st     *simStore
	engine *posbridge.Engine
	d      *daemon.Daemon
}

// simLane is a checkout lane: its simulated terminal and the cable to it.
type simLane struct {
	id   string
	sim  *termsim.Sim
	pipe *termsim.Pipe
	// cloud: no cable (CodePay only); sales go through the sandbox's cloud
	// API and the sandbox plays the customer; sim and pipe are nil.
	cloud bool
}

// world is what outlives the daemon: the terminals, the gateway, the network.
type world struct {
	t      *testing.T
	r      *rand.Rand // the main goroutine's; each purchase has its own
	seed   int64
	log    *slog.Logger
	logBuf *bytes.Buffer
	logMu  *lockedBuffer
	net    *posbridgetest.MemNet
	sb     *sandbox.Sandbox
	lanes  []*simLane
	dbPath string

	// life is held (a one-slot channel, which testing/synctest sees
	// blocking, unlike a mutex) by one crash or start at a time.
	life    chan struct{}
	cur     atomic.Pointer[life]
	lives   int
	night   bool // slow heartbeats for the long wait at the end
	crashes chan struct{}
	crashR  *rand.Rand // the crasher goroutine's
	sc      scenario
	gw      string     // the gateway: "payby", "codepay" or "payprotocol"
	qrR     *rand.Rand // the QR lane's draws; nil when the world has none (simulation_qr_test.go)

	// The Pay Protocol world's gateway (simulation_payprotocol_test.go);
	// nil in the others. sb is then idle: it has no orders.
	pp         *sandbox.PayProtocol
	ppFront    *ppFront
	ppNotifier sandbox.PPNotifierOptions // the world's callbacks, outside a customer's lost or duplicated ones

	forgedSent atomic.Int64
	actions    lockedList
	violations lockedList
}

func (w *world) note(format string, args ...any) {
	w.actions.add(fmt.Sprintf("%s "+format, append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...))
}

// violation reports a broken promise seen while the scenario runs.
func (w *world) violation(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.violations.add(msg)
	w.note("VIOLATION: %s", msg)
	w.t.Errorf("%s: %s", time.Now().UTC().Format("15:04:05.000"), msg)
}

func (w *world) lock()   { w.life <- struct{}{} }
func (w *world) unlock() { <-w.life }

// d returns the current life (nil between a crash and the restart).
func (w *world) d() *life { return w.cur.Load() }

// eng returns the current engine, waiting for a restart in progress.
func (w *world) eng() *posbridge.Engine {
	w.lock()
	defer w.unlock()
	return w.cur.Load().engine
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

func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// start begins a life; w.life must be held.
func (w *world) start() {
	w.t.Helper()
	w.lives++
	db, err := store.OpenOptions(w.dbPath, store.Options{Logger: w.log, BusyTimeout: simBusyTimeout})
	for try := 0; err != nil && posbridge.ErrorCode(err) == posbridge.EUNAVAILABLE && try < 120; try++ {
		// Another connection holds the write lock: the service fails to
		// start and its supervisor starts it again a second later.
		time.Sleep(time.Second)
		db, err = store.OpenOptions(w.dbPath, store.Options{Logger: w.log, BusyTimeout: simBusyTimeout})
	}
	if err != nil {
		w.t.Fatalf("life %d: open store: %v", w.lives, err)
	}
	st := &simStore{DB: db}
	st.onCrash = func() {
		select {
		case w.crashes <- struct{}{}:
		default:
		}
	}
	hb, linkTimeout := 5*time.Second, 20*time.Second
	if w.night {
		hb, linkTimeout = 10*time.Minute, 30*time.Minute
	}
	terms := map[string]posbridge.Terminal{}
	for _, l := range w.lanes {
		if l.cloud {
			terms[l.id] = w.cloudTerminal()
			continue
		}
		conn, err := terminal.Open(terminal.Config{
			Open:      l.pipe.Open,
			AppID:     "sim",
			Heartbeat: hb, LinkTimeout: linkTimeout,
			Logger: w.log,
		})
		if err != nil {
			w.t.Fatalf("open terminal: %v", err)
		}
		terms[l.id] = conn
	}
	d, err := daemon.Open(context.Background(), daemon.Parts{
		Store: st, Gateway: w.gatewayClient(), Terminals: terms, QRLanes: w.qrLanes(),
		Reconcile: w.reconcileConfig(), Logger: w.log,
		Notify: daemon.Notify{Listener: w.net.Listen("notify"), Path: "/notify/" + w.gw,
			Handler: func(svc posbridge.NotificationService) (http.Handler, error) {
				return checkedNotify(w.notifyHandler(svc), st, w.violation), nil
			}},
	})
	if err != nil {
		w.t.Fatalf("life %d: open the daemon: %v", w.lives, err)
	}
	w.cur.Store(&life{db: db, st: st, engine: d.Engine, d: d})
}

// crash ends the daemon's life abruptly: the store dies first, so nothing in
// flight is written after the "power cut", and the notifications' connections
// are dropped at once; w.life must be held.
func (w *world) crash() {
	l := w.cur.Load()
	l.st.dead.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.d.Close(ctx)
}

// crashRestart crashes the daemon, waits, and starts the next life.
func (w *world) crashRestart(why string, down time.Duration) {
	w.lock()
	defer w.unlock()
	w.note("crash (%s)", why)
	w.crash()
	time.Sleep(down)
	w.start()
	w.note("restarted (life %d)", w.lives)
}

// crasher restarts the daemon whenever its store died between two writes.
func (w *world) crasher(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-w.crashes:
			w.crashRestart("between two writes", time.Duration(w.crashR.Intn(20000))*time.Millisecond)
		}
	}
}

func (w *world) stop() {
	w.lock()
	defer w.unlock()
	if err := w.cur.Load().d.Close(context.Background()); err != nil {
		w.t.Errorf("close the daemon: %v", err)
	}
}

// scenario is what a seed decided about the world before the first customer.
type scenario struct {
	reportCreated bool
	longDelays    bool // acquirer delays of hours
	expireAfter   time.Duration
	settleAfter   time.Duration
	refundAfter   time.Duration
	fullPAN       bool
	keepStamp     bool
	twoLanes      bool
}

func (sc scenario) String() string {
	return fmt.Sprintf("report_created=%v long_delays=%v expire=%s settle=%s refund_after=%s full_pan=%v keep_timestamp=%v two_lanes=%v",
		sc.reportCreated, sc.longDelays, sc.expireAfter, sc.settleAfter, sc.refundAfter, sc.fullPAN, sc.keepStamp, sc.twoLanes)
}

func pickScenario(r *rand.Rand) scenario {
	sc := scenario{
		reportCreated: r.Intn(2) == 0,
		longDelays:    r.Intn(8) == 0,
		fullPAN:       r.Intn(3) == 0,
		keepStamp:     r.Intn(3) == 0,
		twoLanes:      r.Intn(3) == 0,
	}
	if !sc.longDelays && r.Intn(3) == 0 {
		// Orders expire well after any short acquirer delay, so expiry only
		// closes orders nobody paid.
		sc.expireAfter = time.Duration(30+r.Intn(90)) * time.Minute
	}
	if r.Intn(3) == 0 {
		sc.settleAfter = time.Duration(5+r.Intn(60)) * time.Minute
	}
	if r.Intn(2) == 0 {
		sc.refundAfter = time.Duration(1+r.Intn(10)) * time.Minute
	}
	return sc
}

func runScenario(t *testing.T, seed int64, gw string) {
	logBuf := &bytes.Buffer{}
	w := &world{
		t: t, r: rand.New(rand.NewSource(seed)), seed: seed, logBuf: logBuf, gw: gw,
		net:     &posbridgetest.MemNet{},
		dbPath:  simDB(t, simDir(t)),
		crashes: make(chan struct{}, 1),
		life:    make(chan struct{}, 1),
	}
	w.crashR = rand.New(rand.NewSource(w.r.Int63()))
	w.logMu = &lockedBuffer{b: logBuf}
	w.log = slog.New(slog.NewTextHandler(w.logMu, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario %d actions:\n%s", seed, strings.Join(w.actions.all(), "\n"))
			if os.Getenv("POSBRIDGE_SIM_LOG") != "" {
				t.Logf("log:\n%s", w.logMu.bytes())
			}
		}
	})

	sc := pickScenario(w.r)
	w.sc = sc
	w.note("scenario %s against %s, reconcile %s", sc, gw, w.reconcileConfig().Mode)
	sbGateway := gw
	if gw == "payprotocol" {
		sbGateway = "payby" // idle: Pay Protocol's orders are w.pp's
	}
	var err error
	w.sb, err = sandbox.New(sandbox.Config{Keys: simKeys(t), HTTPClient: w.net.Client(), NotifyURL: "http://notify/notify/" + gw, Logger: w.log,
		Gateway: sbGateway, ExpireAfter: sc.expireAfter, SettleAfter: sc.settleAfter, RefundSucceedAfter: sc.refundAfter, CaptureAfterClose: true})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	w.sb.SetFullCardNumbers(sc.fullPAN)
	var stopGateway func()
	lanes := []string{"1"}
	if sc.twoLanes {
		lanes = append(lanes, "2")
	}
	if gw == "payprotocol" {
		stopGateway, lanes = w.setupPayProtocol(), nil // no card terminals
	} else {
		stopGateway = w.net.Serve("gateway", w.sb.Handler())
	}
	cloudLane := gw == "codepay" && sc.twoLanes && rand.New(rand.NewSource(seed^0xc10d)).Intn(2) == 0
	for i, id := range lanes {
		if cloudLane && id == "2" {
			w.note("lane %s is a cloud lane", id)
			w.lanes = append(w.lanes, &simLane{id: id, cloud: true})
			continue
		}
		pers, hb := pickPersonality(rand.New(rand.NewSource(seed*10 + int64(i) + 0x14)))
		w.note("lane %s terminal personality %s heartbeat %s", id, pers, hb)
		sim := termsim.New(termsim.Config{Acquirer: w.sb, Seed: uint64(seed)*10 + uint64(i), Heartbeat: hb, Logger: w.log, ReportCreated: sc.reportCreated, Personality: pers})
		w.lanes = append(w.lanes, &simLane{id: id, sim: sim, pipe: termsim.NewPipe(sim)})
	}
	w.setupQR(seed)
	w.lock()
	w.start()
	w.unlock()
	crasherDone := make(chan struct{})
	var crasherWG sync.WaitGroup
	crasherWG.Go(func() { w.crasher(crasherDone) })

	notifier := sandbox.NotifierOptions{KeepTimestamp: sc.keepStamp}
	if w.r.Intn(4) == 0 {
		notifier.Duplicates, notifier.OutOfOrder = w.r.Intn(2) == 0, w.r.Intn(2) == 0
		w.note("notifier %+v", notifier)
	}
	w.sb.SetNotifier(notifier)
	w.ppNotifier.Duplicates = notifier.Duplicates
	if w.r.Intn(6) == 0 {
		w.sb.SetNotifyURL("") // notifications missing: only queries tell
		w.ppNotifier.Drop = true
		w.note("no notifications")
	}
	if w.pp != nil {
		w.pp.SetNotifier(w.ppNotifier)
	}

	purchases := 1 + w.r.Intn(4)
	for i := 0; i < purchases; i++ {
		if len(w.lanes) == 0 {
			w.qrPurchase(fmt.Sprintf("Q%d", i), rand.New(rand.NewSource(w.qrR.Int63())))
			continue
		}
		w.maybeQRPurchase(i)
		if len(w.lanes) == 1 || w.r.Intn(3) == 0 {
			l := w.lanes[w.r.Intn(len(w.lanes))]
			w.purchase(l, fmt.Sprintf("R%d", i), rand.New(rand.NewSource(w.r.Int63())))
			continue
		}
		// Two customers at once, one on each lane.
		var wg sync.WaitGroup
		for j, l := range w.lanes {
			r := rand.New(rand.NewSource(w.r.Int63()))
			ref := fmt.Sprintf("R%d-%s", i, l.id)
			wg.Go(func() {
				time.Sleep(time.Duration(j*r.Intn(3000)) * time.Millisecond)
				w.purchase(l, ref, r)
			})
		}
		wg.Wait()
	}

	// Let everything settle: faults gone, cables in, notifications released.
	w.note("settling")
	for _, l := range w.cables() {
		l.sim.SetFaults(termsim.Faults{})
		l.pipe.Plug()
	}
	if d := w.d(); d != nil {
		d.st.failNext.Store(0)
		d.st.crashIn.Store(0)
	}
	w.sb.ClearFaults()
	w.sb.SetNotifier(sandbox.NotifierOptions{KeepTimestamp: sc.keepStamp})
	if w.pp != nil {
		w.ppFront.clearFaults()
		w.pp.SetNotifier(sandbox.PPNotifierOptions{})
	}
	w.quiet()
	w.sb.FlushNotifications()
	time.Sleep(80 * time.Minute)
	w.sb.FlushNotifications()
	w.finishRefunds()
	w.longWait()
	// A refund the gateway just settled, whose notification was lost, is
	// found by its next query: at most RefundCheckEvery's longest interval.
	time.Sleep(posbridge.RefundCheckEvery(24*time.Hour) + time.Minute)

	close(crasherDone)
	crasherWG.Wait()
	w.check()
	if w.gw == "payby" {
		// Only PayBy lists a day's orders (CodePay's settlement is its
		// batch close, not built yet).
		w.closeDays()
	}
	w.stop()
	for _, l := range w.cables() {
		l.pipe.Close()
		l.sim.Close()
	}
	stopGateway()
	w.sb.Close()
}

// finishRefunds makes the gateway decide every refund still open.
func (w *world) finishRefunds() {
	for _, r := range w.sb.Refunds() {
		if r.Status == sandbox.RefundCreated || r.Status == sandbox.RefundSettled {
			w.sb.SucceedRefund(r.RefundMerchantOrderNo)
		}
	}
}

// quiet restarts the daemon with slow heartbeats, on both ends of each
// cable, once the faults are gone: the hours of waiting that follow (late
// acquirers, the reconciler's cadence, refunds) would otherwise be spent
// exchanging heartbeats, thousands of them per scenario at the real
// terminal's 1 s. The restart is a crash, one more the scenario survives.
func (w *world) quiet() {
	w.lock()
	defer w.unlock()
	w.note("quiet: crash and restart with slow heartbeats")
	w.crash()
	w.night = true
	for _, l := range w.cables() {
		l.sim.SetHeartbeat(10 * time.Minute)
	}
	w.start()
}

// longWait lets a day or more pass when an acquirer is still to report, or
// an order is still open: late reports must still make orders paid (the
// daemon runs with slow heartbeats since quiet, so waiting stays cheap).
func (w *world) longWait() {
	delayed := func() int {
		n := 0
		for _, l := range w.cables() {
			n += l.sim.DelayedRecords()
		}
		return n
	}
	open := func() bool {
		page, err := w.eng().Payments(context.Background(), posbridge.OrderFilter{Limit: 500,
			Statuses: []posbridge.Status{posbridge.StatusCreated, posbridge.StatusAtTerminal, posbridge.StatusVerifying, posbridge.StatusPending}})
		if err != nil {
			return false
		}
		for _, o := range page.Orders {
			// A partially paid order stays open by design, for a person.
			if o.Reason != posbridge.ReasonPartiallyPaid {
				return true
			}
		}
		return false
	}
	// paidElsewhere: a payment the gateway has that posbridge still shows
	// not paid. The watch finds it on its cadence (every 6 h at that age),
	// so the day below must run long enough for one more watch check.
	paidElsewhere := func() bool {
		for _, g := range w.gatewayOrders() {
			if g.Status != sandbox.StatusPaid && g.Status != sandbox.StatusSettled {
				continue
			}
			o, err := w.eng().Payment(context.Background(), posbridge.OrderNo(g.MerchantOrderNo))
			if err == nil && o.Status != posbridge.StatusPaid {
				return true
			}
		}
		return false
	}
	if delayed() == 0 && !open() && !paidElsewhere() {
		return
	}
	w.note("night: %d acquirer records on their way", delayed())
	for i := 0; i < 48 && delayed() > 0; i++ {
		time.Sleep(30 * time.Minute)
	}
	w.note("night: every acquirer record arrived; a day for the daily checks")
	for i := 0; i < 26 && (open() || paidElsewhere()); i++ {
		time.Sleep(time.Hour)
	}
	w.sb.FlushNotifications()
	w.finishRefunds()
	time.Sleep(time.Hour)
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
	{2, "decline-charged", termsim.Script{Action: termsim.DeclineCharged}},
}

func pickScript(r *rand.Rand, sc scenario) (string, termsim.Script) {
	total := 0
	for _, s := range scripts {
		total += s.weight
	}
	n := r.Intn(total)
	for _, s := range scripts {
		if n < s.weight {
			script, name := s.sc, s.name
			if script.DelayText != "" {
				script.Delay, _ = time.ParseDuration(script.DelayText)
			}
			if r.Intn(4) == 0 && script.Action != termsim.Cancel && script.Action != termsim.ReadTimeout {
				// The acquirer reports late: the gateway learns of the sale
				// minutes (or hours) after the terminal finished it.
				script.AcquirerDelay = time.Duration(15+r.Intn(10*60)) * time.Second
				if sc.longDelays && r.Intn(2) == 0 {
					script.AcquirerDelay = time.Duration(2+r.Intn(10)) * time.Hour
				}
				name += fmt.Sprintf(" (acquirer %s late)", script.AcquirerDelay)
			}
			return name, script
		}
		n -= s.weight
	}
	panic("unreachable")
}

// pickPersonality draws a lane's terminal model and firmware quirks, as
// measured against CodePay's client code, and its heartbeat period, from a
// stream of its own so that the scenario's other draws stay as they were.
func pickPersonality(r *rand.Rand) (termsim.Personality, time.Duration) {
	p := termsim.Personality{
		Keys:            []termsim.Keys{termsim.KeysBoth, termsim.KeysSnake, termsim.KeysCamel}[r.Intn(3)],
		AckTick:         r.Intn(2) == 0,
		SilentClose:     r.Intn(2) == 0,
		NoAppID:         r.Intn(2) == 0,
		KeepReplies:     r.Intn(3) == 0,
		VoidNeedsAmount: r.Intn(4) == 0,
	}
	hb := 5 * time.Second
	if r.Intn(3) == 0 {
		hb = time.Second // the real terminal's period; costs wake-ups
	}
	return p, hb
}

func pickLinkFaults(r *rand.Rand) termsim.Faults {
	var f termsim.Faults
	switch r.Intn(10) {
	case 0:
		f.DropIn = 1 + r.Intn(3)
	case 1:
		f.DropOut = 1 + r.Intn(3)
	case 2:
		f.CorruptOut = 1 + r.Intn(3)
	case 3:
		f.DropAcks = 1 + r.Intn(3)
	case 4:
		f.Split, f.Coalesce = true, r.Intn(2) == 0
	case 5:
		f.Garbage = 1 + r.Intn(40)
	case 6:
		f.CloseMidSale = true
	case 7:
		f.Oversize = 1
	}
	return f
}

var gatewayPaths = map[string][]string{
	"payby":   {payby.PathGetOrder, payby.PathCancelOrder, "*"},
	"codepay": {codepay.MethodQuery, codepay.MethodClose, "*"},
}

func (w *world) pickGatewayFault(r *rand.Rand) {
	if r.Intn(3) != 0 {
		return
	}
	if w.pp != nil {
		w.pickPPFault(r)
		return
	}
	paths := gatewayPaths[w.gw]
	path := paths[r.Intn(len(paths))]
	var f sandbox.Fault
	switch r.Intn(8) {
	case 0:
		f = w.outageFault()
		if w.gw == "payby" {
			f.Code, f.Msg = "500", "SYSTEM_ERROR"
		}
	case 1:
		f = w.outageFault()
	case 2:
		f = sandbox.Fault{Kind: sandbox.FaultCode, Code: "402", Msg: "RATE_LIMIT_REJECT", Unsigned: true}
		if w.gw == "codepay" {
			f = sandbox.Fault{Kind: sandbox.FaultCode, Code: codepay.CodeBusy, Msg: "system busy"}
		}
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
	f.Times = 1 + r.Intn(5)
	if err := w.sb.SetFault(path, f); err != nil {
		w.t.Errorf("set fault: %v", err)
	}
	w.note("gateway fault %s %s x%d", path, f.Kind, f.Times)
}

// pickStoreFault arms a database fault for this purchase: the next writes
// fail, the process dies right after a later write commits, or another
// connection holds the write lock for a while.
func (w *world) pickStoreFault(r *rand.Rand) {
	d := w.d()
	if d == nil {
		return
	}
	switch r.Intn(16) {
	case 0, 1:
		n := 1 + r.Intn(3)
		d.st.failNext.Store(int64(n))
		w.note("the next %d database writes fail", n)
	case 2, 3, 4:
		n := 1 + r.Intn(25)
		d.st.crashIn.Store(int64(n))
		w.note("the process dies right after database write %d from now", n)
	case 5:
		hold := time.Duration(1+r.Intn(20)) * time.Second
		wait := time.Duration(r.Intn(20000)) * time.Millisecond
		go func() {
			time.Sleep(wait)
			d := w.d()
			if d == nil {
				return
			}
			w.note("another connection holds the write lock for %s", hold)
			early, err := holdWriteLock(w.dbPath, hold, d.st.holding())
			switch {
			case err != nil:
				w.note("write lock: %v", err)
			case early:
				w.violation("busy loop: %d writes failed on a database lock held for less than %s (a retry that does not wait, in a real shop a hot CPU and a hammered gateway)", busyLoopLimit, hold)
			}
		}()
	}
}

var simCashier = posbridge.By{Actor: posbridge.ActorCashier, Who: "sim", Reason: "sim"}

// purchase is one customer buying something on a lane: a payment, faults,
// cashier actions at awkward moments (several, some at once), maybe a crash,
// maybe taking payment again after "not completed", maybe a refund. ref
// names the purchase: every order made for it carries it as its reference.
func (w *world) purchase(l *simLane, ref string, r *rand.Rand) {
	name, script := pickScript(r, w.scenario())
	w.setCustomer(l, script)
	faults := pickLinkFaults(r)
	if !l.cloud {
		l.sim.SetFaults(faults)
	}
	w.pickGatewayFault(r)
	w.pickStoreFault(r)
	outage := r.Intn(12) == 0
	if outage {
		f := w.outageFault()
		f.Times = 1_000_000
		w.sb.SetFault("*", f)
		w.note("gateway outage begins")
	}
	w.note("purchase %s on lane %s: customer %s, link faults %+v", ref, l.id, name, faults)

	amount := posbridge.Money{Minor: int64(100 + r.Intn(50000)), Currency: w.currency()}
	o, ok := w.pay(l, ref, amount, r, 0)
	if ok {
		// Awkward moments: one to three cashier actions, at any millisecond.
		for n := 1 + r.Intn(3); n > 0; n-- {
			time.Sleep(time.Duration(r.Intn(70_000)) * time.Millisecond)
			w.awkward(l, o.No, r)
		}
	}
	if outage {
		time.Sleep(time.Hour)
		w.sb.ClearFaults()
		w.note("gateway outage ends")
	}
	if ok {
		w.afterwards(l, ref, o, amount, r)
	}
	time.Sleep(time.Duration(30+r.Intn(120)) * time.Second)
}

// pay asks for a payment of a purchase, replacing the lane's open payment
// if the cashier chooses to.
func (w *world) pay(l *simLane, ref string, amount posbridge.Money, r *rand.Rand, attempt int) (posbridge.Order, bool) {
	ctx := context.Background()
	req := posbridge.PayRequest{Lane: l.id, Amount: amount, Reference: ref, By: posbridge.By{Actor: posbridge.ActorAPI, Who: "pos"}}
	if r.Intn(2) == 0 {
		req.IdempotencyKey = fmt.Sprintf("key-%d-%s-%d", w.seed, ref, attempt)
	}
	o, _, err := w.eng().Pay(ctx, req)
	if posbridge.ErrorCode(err) == posbridge.ELANEBUSY {
		// An earlier payment is not confirmed: the cashier waits, or
		// replaces it (which cancels it first).
		if prev := w.openOrder(l.id); prev != "" && r.Intn(2) == 0 {
			req.Replaces = prev
			w.note("replace %s", prev)
			o, _, err = w.eng().Pay(ctx, req)
		}
	}
	if err != nil {
		w.note("pay %s refused: %v", ref, err)
		return o, false
	}
	w.note("paying %s: %s (%s) on lane %s", ref, o.No, o.Amount, l.id)
	if req.IdempotencyKey != "" && r.Intn(3) == 0 {
		again, _, err := w.eng().Pay(ctx, req)
		if err == nil && again.No != o.No {
			w.violation("idempotent replay made a new payment %s (first %s)", again.No, o.No)
		}
	}
	return o, true
}

// afterwards is what the cashier does once the payment is decided: take
// payment again when the screen says it was not completed, or refund it.
func (w *world) afterwards(l *simLane, ref string, o posbridge.Order, amount posbridge.Money, r *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	got, err := w.eng().Await(ctx, o.No)
	cancel()
	if err != nil {
		return
	}
	switch {
	case (got.Status == posbridge.StatusFailed || got.Status == posbridge.StatusCanceled) && !got.NeedsAttention && r.Intn(2) == 0:
		// "Payment not completed": the customer pays again, on a new order
		// of the same purchase. A screen that says "do not take payment
		// again until a supervisor has checked" (needs attention) is obeyed.
		name, script := pickScript(r, w.scenario())
		w.setCustomer(l, script)
		w.note("%s shows %s: the cashier takes payment again for %s (customer %s)", o.No, got.Status, ref, name)
		if again, ok := w.pay(l, ref, amount, r, 1); ok && r.Intn(3) == 0 {
			time.Sleep(time.Duration(r.Intn(30_000)) * time.Millisecond)
			w.awkward(l, again.No, r)
		}
	case got.Status == posbridge.StatusPaid && r.Intn(3) == 0:
		w.refunds(got, r)
	}
}

// refunds refunds a paid order: in full or in part, sometimes double-clicked
// (two requests at once), sometimes while the gateway notifies, and
// sometimes the gateway fails one.
func (w *world) refunds(o posbridge.Order, r *rand.Rand) {
	amounts := []posbridge.Money{o.Amount}
	if r.Intn(2) == 0 {
		part := o.Amount
		part.Minor = 1 + r.Int63n(o.Amount.Minor)
		amounts = []posbridge.Money{part}
		if r.Intn(2) == 0 {
			amounts = append(amounts, posbridge.Money{Minor: 1 + r.Int63n(o.Amount.Minor), Currency: o.Amount.Currency})
		}
	}
	double, keyed := r.Intn(3) == 0, r.Intn(2) == 0
	var wg sync.WaitGroup
	for i, a := range amounts {
		clicks := 1
		if double {
			clicks = 2
		}
		p := posbridge.RefundParams{Amount: a}
		if keyed {
			p.IdempotencyKey = fmt.Sprintf("refund-%s-%d", o.No, i)
		}
		for c := 0; c < clicks; c++ {
			wg.Go(func() {
				rf, _, err := w.eng().Refund(context.Background(), o.No, p, simCashier)
				w.note("refund %s of %s (key %q): %s %v", a, o.No, p.IdempotencyKey, rf.Status, err)
			})
		}
		time.Sleep(time.Duration(r.Intn(3000)) * time.Millisecond)
	}
	wg.Wait()
	if r.Intn(4) == 0 {
		for _, rf := range w.sb.Refunds() {
			if rf.OriginMerchantOrderNo == string(o.No) && rf.Status == sandbox.RefundCreated {
				w.sb.FailRefund(rf.RefundMerchantOrderNo)
				w.note("the gateway fails refund %s", rf.RefundMerchantOrderNo)
				break
			}
		}
	}
}

// scenario returns the scenario's settings as the sandbox and terminals hold them.
func (w *world) scenario() scenario { return w.sc }

func (w *world) openOrder(lane string) posbridge.OrderNo {
	page, err := w.eng().Payments(context.Background(), posbridge.OrderFilter{Lane: lane, Statuses: []posbridge.Status{posbridge.StatusPending, posbridge.StatusVerifying, posbridge.StatusAtTerminal}})
	if err != nil || len(page.Orders) == 0 {
		return ""
	}
	return page.Orders[0].No
}

// act runs one cashier action.
func (w *world) act(kind int, no posbridge.OrderNo) {
	ctx := context.Background()
	switch kind {
	case 0:
		_, err := w.eng().Cancel(ctx, no, simCashier)
		w.note("cashier cancels %s: %v", no, err)
	case 1:
		_, err := w.eng().Verify(ctx, no, simCashier)
		w.note("cashier verifies %s: %v", no, err)
	case 2:
		_, err := w.eng().Retry(ctx, no, simCashier)
		w.note("cashier retries %s: %v", no, err)
	case 3:
		_, err := w.eng().Override(ctx, no, simCashier)
		w.note("cashier overrides %s: %v", no, err)
	}
}

func (w *world) awkward(l *simLane, no posbridge.OrderNo, r *rand.Rand) {
	n := r.Intn(19)
	if l.cloud && (n == 9 || n == 10) {
		return // a cloud lane has no cable to pull and no terminal table to lose
	}
	switch n {
	case 0, 1, 2, 3:
		w.act(r.Intn(4), no)
	case 4:
		// Two cashier actions at once (two screens, a double click).
		a, b := r.Intn(4), r.Intn(4)
		w.note("two actions at once")
		var wg sync.WaitGroup
		wg.Go(func() { w.act(a, no) })
		wg.Go(func() { w.act(b, no) })
		wg.Wait()
	case 5:
		// A verify racing the notifications the gateway holds.
		w.note("verify races the notifications")
		var wg sync.WaitGroup
		wg.Go(func() { w.act(1, no) })
		wg.Go(func() { w.sb.FlushNotifications() })
		wg.Wait()
	case 6, 7:
		w.crashRestart("at an idle moment", time.Duration(r.Intn(30))*time.Second)
	case 8:
		// A crash at any millisecond of the sale or its verification.
		time.Sleep(time.Duration(r.Intn(5000)) * time.Millisecond)
		w.crashRestart("mid-flight", time.Duration(r.Intn(30_000))*time.Millisecond)
	case 9:
		l.pipe.Unplug()
		w.note("cable pulled on lane %s", l.id)
		time.Sleep(time.Duration(5+r.Intn(120)) * time.Second)
		l.pipe.Plug()
		w.note("cable back on lane %s", l.id)
	case 10:
		l.pipe.Unplug()
		l.sim.Reboot()
		w.note("terminal of lane %s reboots: its transaction table is lost", l.id)
		time.Sleep(time.Duration(10+r.Intn(60)) * time.Second)
		l.pipe.Plug()
	case 11:
		w.forge(no, false)
	case 12:
		w.forge(no, true)
	case 13:
		w.replayOld(r)
	case 14:
		// The merchant reverses a confirmed sale from the gateway's portal
		// (posbridge is not told; the order stays paid here).
		if o, err := w.eng().Payment(context.Background(), no); err == nil && o.Status == posbridge.StatusPaid {
			if err := w.sb.Revoke(string(no)); err == nil {
				w.note("the merchant revokes %s in the gateway's portal", no)
			}
		}
	}
}

// replayOld delivers an old notification again (after the receiver's window).
func (w *world) replayOld(r *rand.Rand) {
	var old []sandbox.Delivery
	for _, d := range w.sb.Notifications() {
		if d.Delivered && !d.Replay {
			old = append(old, d)
		}
	}
	if len(old) == 0 {
		return
	}
	d := old[r.Intn(len(old))]
	if err := w.sb.Replay(d.NotifyID); err == nil {
		w.note("old notification %s (%s %s) replayed", d.NotifyID, d.MerchantOrderNo, d.Status)
	}
}

// forge posts a notification saying no is paid: with a bad signature
// (forged), or correctly signed with the wrong amount (mismatched).
func (w *world) forge(no posbridge.OrderNo, signedWrongAmount bool) {
	switch w.gw {
	case "codepay":
		w.forgeCodePay(no, signedWrongAmount)
		return
	case "payprotocol":
		w.forgePP(no, signedWrongAmount)
		return
	}
	n := w.forgedSent.Add(1)
	body := fmt.Sprintf(`{"notify_id":"F%d","notify_timestamp":%d,"acquireOrder":{"merchantOrderNo":%q,"orderNo":"999","status":"PAID_SUCCESS","totalAmount":{"currency":"AED","amount":0.01}}}`,
		n, time.Now().UnixMilli(), no)
	var sign string
	if signedWrongAmount {
		var err error
		if sign, err = gateway.SignSHA256(w.sb.Keys().Gateway, []byte(body)); err != nil {
			w.t.Error(err)
			return
		}
	} else {
		sign, _ = gateway.SignSHA256(simForgerKey(w.t), []byte(body))
	}
	req, _ := http.NewRequest(http.MethodPost, "http://notify/notify/payby", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("sign", sign)
	w.sendForged(req, no, signedWrongAmount)
}

// sendForged posts a forged (or signed but wrong) notification about no to
// the daemon; one it acknowledges while forged is a broken promise.
func (w *world) sendForged(req *http.Request, no posbridge.OrderNo, signedWrongAmount bool) {
	resp, err := w.net.Client().Do(req)
	if err != nil {
		w.note("forged notification not delivered: %v", err)
		return
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.note("notification for %s signed=%v: %d %s", no, signedWrongAmount, resp.StatusCode, reply)
	if !signedWrongAmount && resp.StatusCode < 400 {
		w.violation("a forged notification was answered %d %s", resp.StatusCode, reply)
	}
}

// laneOf returns the simulated lane of an order.
func (w *world) laneOf(o posbridge.Order) *simLane {
	for _, l := range w.lanes {
		if l.id == o.Lane {
			return l
		}
	}
	return w.lanes[0]
}

// check verifies the promise after a scenario: over the final state, and
// over every event the daemon ever published (each moment a cashier saw).
func (w *world) check() {
	t := w.t
	ctx := context.Background()
	d := w.d()
	e, db := d.engine, d.db
	truth := map[string]sandbox.Order{}
	for _, o := range w.gatewayOrders() {
		truth[o.MerchantOrderNo] = o
	}
	everPaid := func(no posbridge.OrderNo) bool {
		g, ok := truth[string(no)]
		return ok && !g.PaidAt.IsZero()
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
	termCharges := map[string]int{}
	for _, l := range w.cables() {
		for no, n := range l.sim.Charges() {
			termCharges[no] += n
		}
		for _, err := range l.sim.LostRecords() {
			t.Errorf("simulation: the terminal took money the gateway never learned of: %v", err)
		}
	}

	// 1. Nobody was charged more than once: per order, and per purchase
	// (every order made for one purchase carries its reference).
	for no, n := range w.gatewayCharges() {
		if n > 1 {
			t.Errorf("invariant 1: order %s was charged %d times at the gateway", no, n)
		}
	}
	for no, n := range termCharges {
		if n > 1 {
			t.Errorf("invariant 1: the terminal charged order %s %d times", no, n)
		}
	}
	purchases := map[string][]posbridge.OrderNo{}
	for _, o := range all {
		purchases[o.Reference] = append(purchases[o.Reference], o.No)
	}
	for ref, nos := range purchases {
		paid, charged := 0, 0
		for _, no := range nos {
			if g := truth[string(no)]; !g.ClosedAt.IsZero() && g.PaidAt.After(g.ClosedAt) {
				// The gateway accepted the order's cancel (or expired it)
				// and an acquirer's capture paid it later anyway: posbridge
				// acted on the gateway's word; it must flag the capture so
				// the shop refunds it, and it is not counted here.
				if o := local[no]; o.Status != posbridge.StatusPaid || !o.NeedsAttention {
					t.Errorf("invariant 1: %s was captured after the gateway closed it, but is %s here (attention %v)", no, o.Status, o.NeedsAttention)
				}
				continue
			}
			if everPaid(no) {
				paid++
			}
			if termCharges[string(no)] > 0 {
				charged++
			}
		}
		if paid > 1 || charged > 1 {
			t.Errorf("invariant 1: purchase %s (%v) was paid %d times at the gateway, %d times on the terminal", ref, nos, paid, charged)
		}
	}
	for _, o := range all {
		if n := w.saleRequests(o); n > o.Attempts {
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
		case o.Status == posbridge.StatusPaid && !everPaid(o.No):
			t.Errorf("invariant 3: %s is paid here but %q at the gateway", o.No, g.Status)
		case gPaid && o.Status != posbridge.StatusPaid:
			t.Errorf("invariant 3/5: %s was paid at the gateway but is %s (%s) here", o.No, o.Status, o.Reason)
		case o.Open() && o.Status == posbridge.StatusPending && o.NeedsAttention && !known:
			// Legitimately open: flagged, and the gateway truly does not
			// know the order (nothing the terminal charged is on its way).
		case o.Open() && o.Reason == posbridge.ReasonPartiallyPaid && gatewayPartial(truth, o.No):
			// Legitimately open: partially paid, for a person to settle
			// (checkPP checks the rest).
		case o.Open():
			t.Errorf("scenario did not settle: %s is still %s (attention %v; gateway %q; next check %v)", o.No, o.Status, o.NeedsAttention, g.Status, o.NextCheckAt)
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
	for _, dl := range w.ackedPaidNotifications() {
		o, ok := local[posbridge.OrderNo(dl[1])]
		if ok && o.Status != posbridge.StatusPaid {
			t.Errorf("invariant 4: acknowledged notification %s (paid) for %s, which is %s", dl[0], o.No, o.Status)
		}
	}

	// 7. Refunds: what succeeded here succeeded at the gateway, per order
	// the sums agree, and never more than was paid.
	gwRefunds := map[string]sandbox.Refund{}
	gwSum := map[string]int64{}
	for _, r := range w.sb.Refunds() {
		gwRefunds[r.RefundMerchantOrderNo] = r
		if r.Status == sandbox.RefundSuccess && !r.Internal {
			gwSum[r.OriginMerchantOrderNo] += r.Amount.Minor
		}
	}
	for _, o := range all {
		rs, err := db.Refunds(ctx, o.No)
		if err != nil {
			t.Fatalf("refunds: %v", err)
		}
		var sum int64
		for _, r := range rs {
			if r.Status != posbridge.RefundSucceeded {
				continue
			}
			sum += r.Amount.Minor
			if g, ok := gwRefunds[string(r.No)]; !ok || g.Status != sandbox.RefundSuccess {
				t.Errorf("invariant 7: refund %s of %s is succeeded here but %q at the gateway", r.No, o.No, g.Status)
			}
		}
		if sum != gwSum[string(o.No)] {
			t.Errorf("invariant 7: %s has %d refunded here, %d at the gateway", o.No, sum, gwSum[string(o.No)])
		}
		if sum > o.Amount.Minor {
			t.Errorf("invariant 7: %s refunded %d of %d", o.No, sum, o.Amount.Minor)
		}
	}

	// 5 and 8, at every moment: no order was shown failed or canceled after
	// it was paid, nor without needs_attention when the gateway ever had it
	// paid (or the terminal charged it) — the cashier was told "not charged"
	// about a customer who was.
	var seq int64
	paidSeen := map[posbridge.OrderNo]bool{}
	shownUnpaid := map[posbridge.OrderNo]bool{}
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
			unpaid := p.Status == posbridge.StatusFailed || p.Status == posbridge.StatusCanceled
			charged := everPaid(p.No) && !truth[string(p.No)].Revoked || termCharges[string(p.No)] > 0
			// An order the gateway itself had closed (a cancel it accepted,
			// or its expiry) when it was shown not paid, and that an
			// acquirer's late capture paid after that, was shown what the
			// gateway said; the watch must then find the payment (checked
			// at the end: invariant 3/5).
			if g := truth[string(p.No)]; !g.ClosedAt.IsZero() && !ev.At.Before(g.ClosedAt) && (g.PaidAt.IsZero() || g.PaidAt.After(g.ClosedAt)) {
				charged = false
			}
			if unpaid && !p.NeedsAttention && !shownUnpaid[p.No] && charged {
				shownUnpaid[p.No] = true
				g := truth[string(p.No)]
				t.Errorf("invariant 8: %s was shown %s (%s) at %s without needs_attention, but the customer was charged (gateway paid at %s, terminal charges %d)",
					p.No, p.Status, p.Reason, ev.At.UTC().Format("15:04:05.000"), g.PaidAt.UTC().Format("15:04:05.000"), termCharges[string(p.No)])
			}
		}
	}

	// 9. No card number anywhere: not in the database, not in the log.
	if pans := scanForPANs(w.dbPath, w.logMu.bytes()); len(pans) > 0 {
		t.Errorf("invariant 9: %d card numbers stored (first at %s)", len(pans), pans[0])
	}

	w.checkQR(local)
	w.checkPP(local)

	if t.Failed() {
		b, _ := json.MarshalIndent(w.gatewayOrders(), "", " ")
		t.Logf("gateway orders: %s", b)
		for _, o := range all {
			w.explain(o.No)
		}
	}
}

// explain logs an order's audit trail and the calls made for it.
func (w *world) explain(no posbridge.OrderNo) {
	ctx := context.Background()
	db := w.d().db
	var b strings.Builder
	audit, _ := db.Audit(ctx, no)
	checks, _ := db.Checks(ctx, no)
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
