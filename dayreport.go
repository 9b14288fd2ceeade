package posbridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ReportLine is one row of a report's totals: how many, and how much, per
// currency (a day may mix currencies; amounts are never added across them).
type ReportLine struct {
	Key      string
	Count    int
	Amount   Money
	Currency string
}

// DayReport is the day's report: totals by status, card brand, lane and
// cashier, the refunds, what needs attention, and the day close's result.
type DayReport struct {
	Date        string
	From, To    time.Time // [From, To) in the day's time zone
	GeneratedAt time.Time
	Orders      int
	Paid        []ReportLine // paid orders' totals per currency (Key is the currency)
	Refunded    []ReportLine // succeeded refunds' totals per currency
	Net         []ReportLine // paid minus succeeded refunds, per currency
	ByStatus    []ReportLine
	ByBrand     []ReportLine // paid orders only
	ByLane      []ReportLine // paid orders only
	ByCashier   []ReportLine // paid orders only; "" when no cashier was named
	Refunds     []ReportLine // refunds by status
	// RefundMethods are the refunds that are not failed by how they were
	// made: "gateway", "terminal_refund" (card present), "terminal_void".
	RefundMethods []ReportLine
	Attention     []Order   // the day's orders needing attention
	Close         *DayClose // nil when the day was not closed
}

// lineSet accumulates ReportLines by (key, currency).
type lineSet struct {
	order []string
	lines map[string]*ReportLine
}

func (s *lineSet) add(key string, m Money) {
	if s.lines == nil {
		s.lines = map[string]*ReportLine{}
	}
	k := key + "\x00" + m.Currency
	l, ok := s.lines[k]
	if !ok {
		l = &ReportLine{Key: key, Amount: Money{Currency: m.Currency}, Currency: m.Currency}
		s.lines[k] = l
		s.order = append(s.order, k)
	}
	l.Count++
	l.Amount.Minor += m.Minor
}

func (s *lineSet) list() []ReportLine {
	sort.Strings(s.order)
	out := make([]ReportLine, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.lines[k])
	}
	return out
}

// BuildDayReport computes the report from the day's orders (with the
// cashier who asked for each, by number), the refunds created that day, and
// the day's close record (nil when none). It is pure.
func BuildDayReport(date string, from, to, now time.Time, orders []Order, cashiers map[OrderNo]string, refunds []Refund, close *DayClose) DayReport {
	r := DayReport{Date: date, From: from, To: to, GeneratedAt: now, Orders: len(orders), Close: close}
	var status, brand, lane, cashier, paid, refunded, byRefund, byMethod lineSet
	for _, o := range orders {
		status.add(string(o.Status), o.Amount)
		if o.NeedsAttention {
			r.Attention = append(r.Attention, o)
		}
		if o.Status != StatusPaid {
			continue
		}
		paid.add(o.Amount.Currency, o.Amount)
		b := o.Card.Brand
		if b == "" {
			b = "unknown"
		}
		brand.add(b, o.Amount)
		lane.add(o.Lane, o.Amount)
		cashier.add(cashiers[o.No], o.Amount)
	}
	for _, f := range refunds {
		byRefund.add(string(f.Status), f.Amount)
		if f.Status != RefundFailed {
			m := f.Method
			if m == "" {
				m = RefundViaGateway
			}
			byMethod.add(string(m), f.Amount)
		}
		if f.Status == RefundSucceeded {
			refunded.add(f.Amount.Currency, f.Amount)
		}
	}
	r.ByStatus, r.ByBrand, r.ByLane, r.ByCashier = status.list(), brand.list(), lane.list(), cashier.list()
	r.Paid, r.Refunded, r.Refunds, r.RefundMethods = paid.list(), refunded.list(), byRefund.list(), byMethod.list()
	net := map[string]Money{}
	var curs []string
	for _, l := range r.Paid {
		net[l.Currency] = l.Amount
		curs = append(curs, l.Currency)
	}
	for _, l := range r.Refunded {
		m, ok := net[l.Currency]
		if !ok {
			m = Money{Currency: l.Currency}
			curs = append(curs, l.Currency)
		}
		m.Minor -= l.Amount.Minor
		net[l.Currency] = m
	}
	sort.Strings(curs)
	for _, c := range curs {
		r.Net = append(r.Net, ReportLine{Key: c, Amount: net[c], Currency: c})
	}
	sort.Slice(r.Attention, func(i, j int) bool { return r.Attention[i].No < r.Attention[j].No })
	return r
}

// ReportStore is what the report needs of the store beyond Store and DayStore.
type ReportStore interface {
	// OrderCashiers returns who asked for each order created in [from, to)
	// (the creating request's By.Who), by number.
	OrderCashiers(ctx context.Context, from, to time.Time) (map[OrderNo]string, error)
}

// DayReport implements DayService.
func (d *DayCloser) DayReport(ctx context.Context, date string) (DayReport, error) {
	if date == "" {
		date = d.today()
	}
	from, to, err := d.dayRange(date)
	if err != nil {
		return DayReport{}, err
	}
	var orders []Order
	f := OrderFilter{From: from, To: to, Limit: 200}
	for {
		page, err := d.e.store.ListOrders(ctx, f)
		if err != nil {
			return DayReport{}, fmt.Errorf("day report %s: orders: %w", date, err)
		}
		orders = append(orders, page.Orders...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	sort.Slice(orders, func(i, j int) bool { return orders[i].No < orders[j].No })
	refunds, err := d.ds.RefundsCreated(ctx, from, to)
	if err != nil {
		return DayReport{}, fmt.Errorf("day report %s: refunds: %w", date, err)
	}
	cashiers := map[OrderNo]string{}
	if rs, ok := d.e.store.(ReportStore); ok {
		if cashiers, err = rs.OrderCashiers(ctx, from, to); err != nil {
			return DayReport{}, fmt.Errorf("day report %s: cashiers: %w", date, err)
		}
	}
	var rec *DayClose
	dc, err := d.ds.DayClose(ctx, date)
	switch {
	case err == nil:
		rec = &dc
	case !errors.Is(err, ErrNotFound):
		return DayReport{}, fmt.Errorf("day report %s: close record: %w", date, err)
	}
	return BuildDayReport(date, from, to, d.e.now(), orders, cashiers, refunds, rec), nil
}
