package posbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of DayConfig.
const (
	DefaultDayPageSize = 50
	DefaultDayCatchUp  = 31 // days a scheduled run goes back at most
	maxDayPages        = 1000
)

// DayConfig configures a DayCloser.
type DayConfig struct {
	// Location is the time zone of the day (time.Local when nil).
	Location *time.Location
	// CloseAt is when, after midnight, the scheduled run closes the day;
	// negative for no scheduled run.
	CloseAt time.Duration
	// DeviceIDs, when set, limit the gateway's lists to these devices.
	DeviceIDs []string
	// DeviceLanes names the lane of an imported order by its device id;
	// an unknown device gives the lane "gateway".
	DeviceLanes map[string]string
	// PageSize is the gateway list's page size (DefaultDayPageSize when 0).
	PageSize int
	// CatchUp is how many missed days a scheduled run closes at most
	// (DefaultDayCatchUp when 0).
	CatchUp int
}

// ImportLane is the lane of an imported order whose device no lane names.
const ImportLane = "gateway"

// DayCloser closes days: Engine.CloseDay's loading, deciding (DecideDay),
// acting and saving, the day's report, and the scheduled run. It implements
// DayService. Create it with NewDayCloser; Open starts the scheduled run,
// Close stops it and waits.
type DayCloser struct {
	e      *Engine
	cfg    DayConfig
	lister DayLister
	ds     DayStore
	log    *slog.Logger

	mu     sync.Mutex // one close at a time
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ DayService = (*DayCloser)(nil)

// NewDayCloser returns a DayCloser over the engine's store and gateway. It
// fails when the gateway cannot list a day or the store cannot keep one.
func NewDayCloser(e *Engine, cfg DayConfig) (*DayCloser, error) {
	lister, ok := e.gateway.(DayLister)
	if !ok {
		return nil, fmt.Errorf("day close: gateway %s cannot list a day's orders", e.gateway.Name())
	}
	ds, ok := e.store.(DayStore)
	if !ok {
		return nil, errors.New("day close: the store cannot keep day records")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultDayPageSize
	}
	if cfg.CatchUp <= 0 {
		cfg.CatchUp = DefaultDayCatchUp
	}
	return &DayCloser{e: e, cfg: cfg, lister: lister, ds: ds, log: e.Logger}, nil
}

// dayRange returns [from, to) of date in the closer's time zone.
func (d *DayCloser) dayRange(date string) (time.Time, time.Time, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, d.cfg.Location)
	if err != nil {
		return time.Time{}, time.Time{}, &Error{Code: EINVALID, Field: "date", Message: "The date must be YYYY-MM-DD.", Err: err}
	}
	return day, day.AddDate(0, 0, 1), nil
}

// today returns the date of now in the closer's time zone.
func (d *DayCloser) today() string { return d.e.Clock.Now().In(d.cfg.Location).Format(time.DateOnly) }

// CloseDay implements DayService: it pages through the gateway's orders and
// refunds of date, compares them with the store's (DecideDay), acts on each
// difference and saves the record. A gateway error stops it before anything
// is changed or saved; a date in the future is refused. Running it again
// changes no order or refund that the first run settled.
func (d *DayCloser) CloseDay(ctx context.Context, date string, by By) (DayClose, error) {
	if date == "" {
		date = d.today()
	}
	from, to, err := d.dayRange(date)
	if err != nil {
		return DayClose{}, err
	}
	if !from.Before(d.e.Clock.Now()) {
		return DayClose{}, &Error{Code: EINVALID, Field: "date", Message: fmt.Sprintf("The day %s has not begun.", date)}
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	in, listed, err := d.load(ctx, date, from, to)
	if err != nil {
		return DayClose{}, err
	}
	items := DecideDay(in)
	cause := Cause{Actor: by.Actor, Who: by.Who, Action: "day close " + date}
	if cause.Actor == "" {
		cause.Actor = ActorReconciler
	}
	for i := range items {
		items[i].Result = d.act(ctx, items[i], listed, cause)
	}
	now := d.e.now()
	rec, err := d.ds.SaveDayClose(ctx, DayClose{Date: date, FirstRunAt: now, LastRunAt: now, Runs: 1, Items: items})
	if err != nil {
		return DayClose{}, fmt.Errorf("day close %s: save: %w", date, err)
	}
	c := rec.Counts()
	d.log.Info("day closed", LogKeyDate, date, "matched", c[BucketMatched], "only_gateway", c[BucketOnlyGateway],
		"only_local", c[BucketOnlyLocal], "different", c[BucketDifferent], "runs", rec.Runs)
	return rec, nil
}

// dayLists are the gateway's items by number, for acting on them.
type dayLists struct {
	orders  map[OrderNo]ListedOrder
	refunds map[OrderNo]ListedRefund
}

// load reads both sides of the day. A gateway item whose number the store
// has from another day (an order made just before midnight) is compared
// with that order, not imported a second time.
func (d *DayCloser) load(ctx context.Context, date string, from, to time.Time) (DayInput, dayLists, error) {
	var in DayInput
	lists := dayLists{orders: map[OrderNo]ListedOrder{}, refunds: map[OrderNo]ListedRefund{}}
	q := DayQuery{From: date, To: date, DeviceIDs: d.cfg.DeviceIDs, Size: d.cfg.PageSize}
	for q.Page = 0; q.Page < maxDayPages; q.Page++ {
		p, err := d.lister.ListOrders(ctx, q)
		if err != nil {
			return in, lists, gatewayListError(date, "orders", q.Page, err)
		}
		for _, o := range p.Orders {
			in.Gateway = append(in.Gateway, o)
			lists.orders[o.OrderNo] = o
		}
		if q.Page+1 >= p.TotalPages || len(p.Orders) == 0 {
			break
		}
	}
	for q.Page = 0; q.Page < maxDayPages; q.Page++ {
		p, err := d.lister.ListRefunds(ctx, q)
		if err != nil {
			return in, lists, gatewayListError(date, "refunds", q.Page, err)
		}
		for _, r := range p.Refunds {
			in.GatewayRefunds = append(in.GatewayRefunds, r)
			lists.refunds[r.RefundNo] = r
		}
		if q.Page+1 >= p.TotalPages || len(p.Refunds) == 0 {
			break
		}
	}
	have := map[OrderNo]bool{}
	f := OrderFilter{From: from, To: to, Limit: 200}
	for {
		page, err := d.e.store.ListOrders(ctx, f)
		if err != nil {
			return in, lists, fmt.Errorf("day close %s: local orders: %w", date, err)
		}
		for _, o := range page.Orders {
			in.Local = append(in.Local, o)
			have[o.No] = true
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	for _, g := range in.Gateway {
		if have[g.OrderNo] {
			continue
		}
		o, err := d.e.store.Order(ctx, g.OrderNo)
		switch {
		case err == nil:
			in.Local = append(in.Local, o)
			have[o.No] = true
		case !errors.Is(err, ErrNotFound):
			return in, lists, fmt.Errorf("day close %s: order %s: %w", date, g.OrderNo, err)
		}
	}
	refunds, err := d.ds.RefundsCreated(ctx, from, to)
	if err != nil {
		return in, lists, fmt.Errorf("day close %s: local refunds: %w", date, err)
	}
	in.LocalRefunds = refunds
	haveRefund := map[OrderNo]bool{}
	for _, r := range refunds {
		haveRefund[r.No] = true
	}
	for _, g := range in.GatewayRefunds {
		if haveRefund[g.RefundNo] || g.OrderNo == "" {
			continue
		}
		// A refund made on another day of an order posbridge has.
		rs, err := d.e.store.Refunds(ctx, g.OrderNo)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return in, lists, fmt.Errorf("day close %s: refunds of %s: %w", date, g.OrderNo, err)
		}
		for _, r := range rs {
			if r.No == g.RefundNo {
				in.LocalRefunds = append(in.LocalRefunds, r)
				haveRefund[r.No] = true
			}
		}
	}
	return in, lists, nil
}

// gatewayListError is a list call's failure as the API shows it: nothing
// was changed, try again.
func gatewayListError(date, what string, page int, err error) error {
	return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("The gateway's list of %s could not be read; nothing was changed. Try again.", what),
		Err: fmt.Errorf("day close %s: gateway %s page %d: %w", date, what, page, err)}
}

// act carries out one item's action and returns what it did. Errors are
// reported in the result and logged: one order the gateway or the store
// could not settle does not stop the others.
func (d *DayCloser) act(ctx context.Context, it DayItem, lists dayLists, cause Cause) string {
	cause.Detail = it.Detail
	var res string
	var err error
	switch {
	case it.Action == ActNone:
		return ""
	case it.Kind == DayOrder && it.Action == ActImport:
		res, err = d.importOrder(ctx, lists.orders[it.No], cause)
	case it.Kind == DayOrder && it.Action == ActVerify:
		res, err = d.verifyOrder(ctx, it.No, cause)
	case it.Kind == DayOrder && it.Action == ActApply:
		res, err = d.applyOrder(ctx, it.No, lists.orders[it.No].GatewayOrder, cause)
	case it.Kind == DayOrder && it.Action == ActFlag:
		res, err = d.flag(ctx, it.No, AttentionDayDifferent+": "+it.Detail, cause)
	case it.Kind == DayRefund:
		res, err = d.actRefund(ctx, it, lists.refunds[it.No], cause)
	}
	if err != nil {
		d.log.Warn("day close item", LogKeyOrder, it.No, LogKeyError, err)
		return "error: " + err.Error()
	}
	return res
}

func (d *DayCloser) importOrder(ctx context.Context, g ListedOrder, cause Cause) (string, error) {
	lane := d.cfg.DeviceLanes[g.DeviceID]
	if lane == "" {
		lane = ImportLane
	}
	o := ImportedOrder(g, lane, d.e.now())
	cause.Action = joinDetail(cause.Action, "import")
	ev, err := d.ds.ImportOrder(ctx, &o, cause)
	if ErrorCode(err) == ECONFLICT {
		return "already stored", nil
	}
	if err != nil {
		return "", err
	}
	d.e.Bus.Publish(ev)
	if o.Status == StatusPending {
		d.e.wake() // the reconciler follows it from now on
	}
	return "imported " + string(o.Status) + ", needs attention", nil
}

// verifyOrder asks the gateway about an order its list lacks: an answer is
// applied like any other; "not known" flags the order.
func (d *DayCloser) verifyOrder(ctx context.Context, no OrderNo, cause Cause) (string, error) {
	g, err := d.e.queryGateway(ctx, no, false)
	if errors.Is(err, ErrGatewayNotFound) {
		return d.flag(ctx, no, AttentionUnknownToGW, cause)
	}
	if err != nil {
		return "", err
	}
	before, err := d.e.store.Order(ctx, no)
	if err != nil {
		return "", err
	}
	if agrees(before.Status, g.Status) && (g.Amount.Currency == "" || g.Amount == before.Amount) {
		return "the gateway knows it: " + string(g.Status), nil
	}
	return d.applyOrder(ctx, no, g, cause)
}

// applyOrder applies the gateway's word through Transition and flags the
// order: the day close found what per-order checks had not.
func (d *DayCloser) applyOrder(ctx context.Context, no OrderNo, g GatewayOrder, cause Cause) (string, error) {
	cause.Action = joinDetail(cause.Action, "gateway says "+string(g.Status))
	o, err := d.e.update(ctx, no, cause, func(o *Order) error {
		changed, err := o.Apply(gatewayInput(*o, g), d.e.now())
		if err != nil && !errors.Is(err, ErrOrderFinal) {
			return err
		}
		if learn(o, g) {
			changed = true
		}
		if !o.NeedsAttention {
			o.NeedsAttention, o.Attention, changed = true, AttentionDayDifferent, true
		}
		if !changed {
			return ErrNoChange
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "now " + string(o.Status) + ", needs attention", nil
}

// flag marks an order as needing attention, unless it already does.
func (d *DayCloser) flag(ctx context.Context, no OrderNo, why string, cause Cause) (string, error) {
	cause.Action = joinDetail(cause.Action, "flag")
	_, err := d.e.update(ctx, no, cause, func(o *Order) error {
		if o.NeedsAttention {
			return ErrNoChange
		}
		o.NeedsAttention, o.Attention = true, why
		return nil
	})
	if err != nil {
		return "", err
	}
	return "needs attention", nil
}

func (d *DayCloser) actRefund(ctx context.Context, it DayItem, g ListedRefund, cause Cause) (string, error) {
	switch it.Action {
	case ActApply:
		r, err := d.e.applyRefund(ctx, it.No, g.GatewayRefund, cause)
		if err != nil {
			return "", err
		}
		if _, err := d.flag(ctx, r.OrderNo, AttentionRefundDifferent, cause); err != nil {
			return "", err
		}
		return "refund now " + string(r.Status), nil
	case ActVerify:
		if r, ok, err := d.localRefund(ctx, it); err != nil {
			return "", err
		} else if ok && r.Method.OnTerminal() {
			// Made on the terminal: asked about the way it shows at the
			// gateway (a void as its order revoked), never re-sent.
			v, err := d.e.verifyTerminalRefund(ctx, r, cause, true)
			if err != nil {
				return "", err
			}
			if v.Status == r.Status {
				return d.flag(ctx, r.OrderNo, AttentionRefundUnknown, cause)
			}
			return "refund now " + string(v.Status), nil
		}
		start := d.e.now()
		q, err := d.e.gateway.QueryRefund(ctx, it.No)
		d.e.recordCheck(ctx, it.OrigNo, CheckRefundQuery, "day close refund query "+string(it.No), start, resultText(string(q.Status), err), err)
		if errors.Is(err, ErrGatewayNotFound) {
			return d.flag(ctx, it.OrigNo, AttentionRefundUnknown, cause)
		}
		if err != nil {
			return "", err
		}
		if refundStatus(q.Status) == RefundStatus(it.LocalStatus) {
			return "the gateway knows it: " + string(q.Status), nil
		}
		r, err := d.e.applyRefund(ctx, it.No, q, cause)
		if err != nil {
			return "", err
		}
		return "refund now " + string(r.Status), nil
	case ActFlag:
		if it.OrigNo == "" {
			// PayBy's refund list does not name the refunded order; the
			// refund query does.
			q, err := d.e.gateway.QueryRefund(ctx, it.No)
			if err != nil || q.OrderNo == "" {
				return "refunded order unknown; see the gateway's portal", nil
			}
			it.OrigNo = q.OrderNo
		}
		why := AttentionRefundDifferent
		if it.Bucket == BucketOnlyGateway {
			why = AttentionRefundElsewhere
		}
		res, err := d.flag(ctx, it.OrigNo, why, cause)
		if errors.Is(err, ErrNotFound) || ErrorCode(err) == ENOTFOUND {
			return "refunded order " + string(it.OrigNo) + " is not in posbridge", nil
		}
		return res, err
	}
	return "", nil
}

// Open starts the scheduled run when CloseAt is not negative: at once it
// closes the days missed while posbridge was down, then each day at CloseAt.
func (d *DayCloser) Open() {
	if d.cfg.CloseAt < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() { d.loop(ctx) })
}

// Close stops the scheduled run and waits for it.
func (d *DayCloser) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	return nil
}

// DueDays returns the dates a scheduled run at now must close, oldest
// first: every day after last (the latest closed, "" for none) up to the
// latest day whose close time has passed, at most catchUp of them. With no
// day closed yet only the latest due day is closed.
func DueDays(now time.Time, loc *time.Location, closeAt time.Duration, last string, catchUp int) []string {
	now = now.In(loc)
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	latest := midnight.AddDate(0, 0, -1)
	if !now.Before(midnight.Add(closeAt)) {
		latest = midnight
	}
	first := latest
	if last != "" {
		l, err := time.ParseInLocation(time.DateOnly, last, loc)
		if err == nil {
			first = l.AddDate(0, 0, 1)
		}
	}
	if earliest := latest.AddDate(0, 0, -(catchUp - 1)); first.Before(earliest) {
		first = earliest
	}
	var days []string
	for t := first; !t.After(latest); t = t.AddDate(0, 0, 1) {
		days = append(days, t.Format(time.DateOnly))
	}
	return days
}

// nextRun returns the next time of day closeAt after now.
func nextRun(now time.Time, loc *time.Location, closeAt time.Duration) time.Time {
	now = now.In(loc)
	t := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).Add(closeAt)
	for !t.After(now) {
		t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc).Add(closeAt)
	}
	return t
}

func (d *DayCloser) loop(ctx context.Context) {
	for {
		d.runDue(ctx)
		wait := nextRun(d.e.Clock.Now(), d.cfg.Location, d.cfg.CloseAt).Sub(d.e.Clock.Now())
		t := d.e.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// runDue closes every due day; a day whose close fails is tried again at
// the next run (the days after it wait, so none is skipped).
func (d *DayCloser) runDue(ctx context.Context) {
	last, err := d.ds.LastDayClose(ctx)
	if err != nil {
		d.log.Warn("day close schedule", LogKeyError, err)
		return
	}
	for _, day := range DueDays(d.e.Clock.Now(), d.cfg.Location, d.cfg.CloseAt, last, d.cfg.CatchUp) {
		if _, err := d.CloseDay(ctx, day, By{Actor: ActorReconciler, Who: "schedule"}); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("scheduled day close", LogKeyDate, day, LogKeyError, err)
			}
			return
		}
	}
}

// localRefund returns the stored refund an item names, when there is one.
func (d *DayCloser) localRefund(ctx context.Context, it DayItem) (Refund, bool, error) {
	if it.OrigNo == "" {
		return Refund{}, false, nil
	}
	rs, err := d.e.store.Refunds(ctx, it.OrigNo)
	if errors.Is(err, ErrNotFound) {
		return Refund{}, false, nil
	}
	if err != nil {
		return Refund{}, false, fmt.Errorf("refunds of %s: %w", it.OrigNo, err)
	}
	for _, r := range rs {
		if r.No == it.No {
			return r, true, nil
		}
	}
	return Refund{}, false, nil
}
