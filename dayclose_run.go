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
