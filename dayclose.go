package posbridge

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// The end-of-day reconciliation: the gateway's list of the day's orders and
// refunds is compared with the store's, one pure decision per order or
// refund (DecideDay), then acted on by Engine.CloseDay. This file holds the
// types and the decision; dayclose_run.go the loading and saving,
// dayclose_act.go the acting on each item, dayclose_schedule.go the daily run.

// DayQuery asks a gateway for one page of a date range's orders or refunds.
type DayQuery struct {
	From, To  string   // dates, YYYY-MM-DD, both included
	DeviceIDs []string // only these devices; all when empty
	Page      int      // 0-based
	Size      int      // items per page
}

// ListedOrder is an order in the gateway's list, with what only the list says.
type ListedOrder struct {
	GatewayOrder
	DeviceID  string
	CreatedAt time.Time // the gateway's creation time (zero when not given)
}

// ListedRefund is a refund in the gateway's list. OrderNo (the refunded
// order) is empty when the gateway's list does not say it.
type ListedRefund struct {
	GatewayRefund
	DeviceID string
}

// OrderListPage is one page of the gateway's order list.
type OrderListPage struct {
	Orders     []ListedOrder
	Total      int // items over every page
	TotalPages int
}

// RefundListPage is one page of the gateway's refund list.
type RefundListPage struct {
	Refunds    []ListedRefund
	Total      int
	TotalPages int
}

// DayLister is the part of a gateway that lists a day's orders and refunds
// (PayBy's queryOrderPage and queryRefundOrderPage). Errors match the
// classes of gateway.go.
type DayLister interface {
	ListOrders(ctx context.Context, q DayQuery) (OrderListPage, error)
	ListRefunds(ctx context.Context, q DayQuery) (RefundListPage, error)
}

// DayItemKind says whether a reconciliation item is an order or a refund.
type DayItemKind string

// Item kinds.
const (
	DayOrder  DayItemKind = "order"
	DayRefund DayItemKind = "refund"
)

// DayBucket is where the comparison put an order or refund. Values are
// persisted.
type DayBucket string

// Buckets.
const (
	BucketMatched     DayBucket = "matched"      // both agree
	BucketOnlyGateway DayBucket = "only_gateway" // the gateway has it, posbridge does not
	BucketOnlyLocal   DayBucket = "only_local"   // posbridge has it, the gateway's list does not
	BucketDifferent   DayBucket = "different"    // both have it and disagree on status or amount
)

// DayAction is what the day close does about an item. Values are persisted.
type DayAction string

// Actions.
const (
	ActNone   DayAction = "none"   // nothing to do
	ActImport DayAction = "import" // store the gateway's order, flagged
	ActVerify DayAction = "verify" // ask the gateway about it once more; flag it if still unknown
	ActApply  DayAction = "apply"  // apply the gateway's status through Transition, and flag
	ActFlag   DayAction = "flag"   // flag for a person; nothing can be applied
)

// DayItem is one order or refund of the day and what was decided about it.
type DayItem struct {
	Kind          DayItemKind
	No            OrderNo // the order's or the refund's merchant number
	OrigNo        OrderNo // refunds: the refunded order, when known
	Bucket        DayBucket
	Action        DayAction
	LocalStatus   string // "" when only at the gateway
	GatewayStatus string // "" when only local
	LocalAmount   Money
	GatewayAmount Money
	Detail        string // why, in a sentence
	Result        string // what the action did (set by CloseDay)
}

// DayClose is the stored record of a day's reconciliation. Items keep what
// the first run that saw each difference found; later runs add new items
// and turn a matched item into a difference, never the other way round.
type DayClose struct {
	Date       string // YYYY-MM-DD in the day close's time zone
	FirstRunAt time.Time
	LastRunAt  time.Time
	Runs       int
	Items      []DayItem
}

// Counts returns the number of items in each bucket.
func (d DayClose) Counts() map[DayBucket]int {
	c := map[DayBucket]int{BucketMatched: 0, BucketOnlyGateway: 0, BucketOnlyLocal: 0, BucketDifferent: 0}
	for _, it := range d.Items {
		c[it.Bucket]++
	}
	return c
}

// DayStore is what the day close needs of the store beyond Store.
type DayStore interface {
	// ImportOrder inserts an order the gateway has and posbridge never
	// stored, in the status given (Transition is not asked: the gateway's
	// word is the order's whole history), with its event and audit row.
	// An existing number is ECONFLICT.
	ImportOrder(ctx context.Context, o *Order, cause Cause) (Event, error)
	// RefundsCreated returns refunds created in [from, to), oldest first.
	RefundsCreated(ctx context.Context, from, to time.Time) ([]Refund, error)
	// SaveDayClose merges d into the stored record of d.Date (see DayClose)
	// and returns the record as stored.
	SaveDayClose(ctx context.Context, d DayClose) (DayClose, error)
	// DayClose returns the record of date, or ErrNotFound.
	DayClose(ctx context.Context, date string) (DayClose, error)
	// LastDayClose returns the latest date closed, "" when none.
	LastDayClose(ctx context.Context) (string, error)
}

// DayService is what the API offers about days: closing one and its report.
type DayService interface {
	// CloseDay reconciles date (YYYY-MM-DD; today when empty) with the
	// gateway and returns the stored record.
	CloseDay(ctx context.Context, date string, by By) (DayClose, error)
	// DayReport returns the report of date (today when empty).
	DayReport(ctx context.Context, date string) (DayReport, error)
}

// Attention texts set by the day close.
const (
	AttentionOnlyAtGateway   = "day close: the gateway has this order and posbridge had no record of it"
	AttentionUnknownToGW     = "day close: the gateway does not know this order"
	AttentionDayDifferent    = "day close: the gateway disagrees with this order"
	AttentionRefundElsewhere = "day close: the gateway has a refund of this order that posbridge did not make"
	AttentionRefundUnknown   = "day close: the gateway does not know a refund of this order"
	AttentionRefundDifferent = "day close: the gateway disagrees with a refund of this order"
)

// DayInput is everything DecideDay compares: the day's local orders and
// refunds (and any stored order or refund the gateway's list names), and
// the gateway's lists.
type DayInput struct {
	Local          []Order
	LocalRefunds   []Refund
	Gateway        []ListedOrder
	GatewayRefunds []ListedRefund
}

// agrees reports whether a local status and a gateway status say the same
// about money: paid with paid or settled, failed or canceled with failed,
// and an open order with an order the gateway has not settled either way.
func agrees(s Status, g GatewayStatus) bool {
	switch {
	case g.Paid():
		return s == StatusPaid
	case g == GatewayFailed:
		return s == StatusFailed || s == StatusCanceled
	default: // created: not paid yet
		return !s.Final()
	}
}

// neverSent reports whether an order never reached the terminal, so the
// gateway cannot know it.
func neverSent(o Order) bool {
	return (o.Status == StatusFailed || o.Status == StatusCanceled) && (o.Reason == ReasonNotSent || o.Reason == ReasonTerminalDown)
}

// DecideDay compares a day's local and gateway orders and refunds. It is
// pure: the same input gives the same items, sorted by kind and number.
//
//   - both, agreeing on status and amount: matched, nothing to do;
//   - only at the gateway: imported as it is there, needing attention;
//   - only local: asked about once more (one that never reached the
//     terminal is matched: the gateway cannot know it; one still open is
//     left to the reconciler), and flagged if the gateway still does not
//     know it;
//   - both, disagreeing: the gateway's status applied (through Transition,
//     so a paid order never becomes unpaid), and flagged; an amount that
//     differs is flagged only (neither side's amount is rewritten).
func DecideDay(in DayInput) []DayItem {
	var items []DayItem
	local := make(map[OrderNo]Order, len(in.Local))
	for _, o := range in.Local {
		local[o.No] = o
	}
	// Orders voided on the terminal: the gateway shows them revoked
	// (failed, or settled and revoked), which agrees with a paid order
	// whose void is not failed.
	voided := make(map[OrderNo]bool)
	for _, r := range in.LocalRefunds {
		if r.Method == RefundTerminalVoid && r.Status != RefundFailed {
			voided[r.OrderNo] = true
		}
	}
	seen := make(map[OrderNo]bool)
	for _, g := range in.Gateway {
		if seen[g.OrderNo] {
			continue // a list that repeats an item across pages
		}
		seen[g.OrderNo] = true
		o, ok := local[g.OrderNo]
		if !ok {
			items = append(items, DayItem{Kind: DayOrder, No: g.OrderNo, Bucket: BucketOnlyGateway, Action: ActImport,
				GatewayStatus: string(g.Status), GatewayAmount: g.Amount,
				Detail: "the gateway has an order of " + g.Amount.String() + " (" + string(g.Status) + ") that posbridge never stored"})
			continue
		}
		items = append(items, decideOrder(o, g.GatewayOrder, voided[o.No]))
	}
	for _, o := range in.Local {
		if seen[o.No] {
			continue
		}
		seen[o.No] = true
		it := DayItem{Kind: DayOrder, No: o.No, Bucket: BucketOnlyLocal, Action: ActVerify,
			LocalStatus: string(o.Status), LocalAmount: o.Amount,
			Detail: "the gateway's list does not have this order"}
		switch {
		case neverSent(o):
			it.Bucket, it.Action, it.Detail = BucketMatched, ActNone, "never reached the terminal; the gateway cannot know it"
		case o.Open():
			// A sale in progress, or one the reconciler is still
			// checking: it flags the order itself when its checks run out.
			it.Action, it.Detail = ActNone, "still open; the reconciler follows it"
		}
		items = append(items, it)
	}
	items = append(items, decideRefunds(in)...)
	sort.Slice(items, func(i, j int) bool {
		if items[i].Kind != items[j].Kind {
			return items[i].Kind < items[j].Kind
		}
		return items[i].No < items[j].No
	})
	return items
}

// decideOrder compares one order both sides have.
// voided: the order has a void made on the terminal that is not failed.
func decideOrder(o Order, g GatewayOrder, voided bool) DayItem {
	it := DayItem{Kind: DayOrder, No: o.No, LocalStatus: string(o.Status), GatewayStatus: string(g.Status),
		LocalAmount: o.Amount, GatewayAmount: g.Amount, Bucket: BucketMatched, Action: ActNone}
	sameAmount := g.Amount.Currency == "" || g.Amount == o.Amount
	switch {
	case voided && g.Revoked && o.Status == StatusPaid && sameAmount:
		it.Detail = "voided on the terminal; the gateway shows it revoked"
	case !agrees(o.Status, g.Status):
		it.Bucket, it.Action = BucketDifferent, ActApply
		it.Detail = fmt.Sprintf("posbridge says %s, the gateway %s", o.Status, g.Status)
		switch {
		case o.Status == StatusPaid:
			// Transition never makes a paid order unpaid: a person looks.
			it.Action = ActFlag
		case (o.Status == StatusCreated || o.Status == StatusAtTerminal) && !g.Status.Paid():
			// The sale may still be on the terminal: only a payment is
			// applied now; the engine follows the rest.
			it.Action, it.Detail = ActNone, it.Detail+"; the sale is still in progress"
		case o.Status.Final() && g.Status == GatewayCreated:
			// Not paid, and still open at the gateway: posbridge closes it
			// there and watches it for a late payment (closeFinal).
			it.Action, it.Detail = ActNone, it.Detail+"; posbridge closes it at the gateway and watches for a late payment"
		}
	case !sameAmount:
		it.Bucket, it.Action = BucketDifferent, ActFlag
		it.Detail = fmt.Sprintf("posbridge has %s, the gateway %s", o.Amount, g.Amount)
	}
	return it
}

// decideRefunds compares the day's refunds.
func decideRefunds(in DayInput) []DayItem {
	var items []DayItem
	local := make(map[OrderNo]Refund, len(in.LocalRefunds))
	for _, r := range in.LocalRefunds {
		local[r.No] = r
	}
	seen := make(map[OrderNo]bool)
	for _, g := range in.GatewayRefunds {
		if seen[g.RefundNo] {
			continue
		}
		seen[g.RefundNo] = true
		r, ok := local[g.RefundNo]
		it := DayItem{Kind: DayRefund, No: g.RefundNo, OrigNo: g.OrderNo, GatewayStatus: string(g.Status), GatewayAmount: g.Amount}
		if !ok {
			it.Bucket, it.Action = BucketOnlyGateway, ActFlag
			it.Detail = "the gateway has a refund of " + g.Amount.String() + " that posbridge did not make"
			items = append(items, it)
			continue
		}
		it.OrigNo, it.LocalStatus, it.LocalAmount = r.OrderNo, string(r.Status), r.Amount
		switch {
		case r.Status != refundStatus(g.Status):
			it.Bucket, it.Action = BucketDifferent, ActApply
			it.Detail = fmt.Sprintf("posbridge says %s, the gateway %s", r.Status, g.Status)
			if r.Status == RefundSucceeded {
				it.Action = ActFlag // a succeeded refund never changes
			}
		case g.Amount != r.Amount:
			it.Bucket, it.Action = BucketDifferent, ActFlag
			it.Detail = fmt.Sprintf("posbridge has %s, the gateway %s", r.Amount, g.Amount)
		default:
			it.Bucket, it.Action = BucketMatched, ActNone
		}
		items = append(items, it)
	}
	revoked := make(map[OrderNo]bool)
	for _, g := range in.Gateway {
		if g.Revoked {
			revoked[g.OrderNo] = true
		}
	}
	for _, r := range in.LocalRefunds {
		if seen[r.No] {
			continue
		}
		seen[r.No] = true
		it := DayItem{Kind: DayRefund, No: r.No, OrigNo: r.OrderNo, LocalStatus: string(r.Status), LocalAmount: r.Amount,
			Bucket: BucketOnlyLocal, Action: ActVerify, Detail: "the gateway's list does not have this refund"}
		switch {
		case r.Status == RefundFailed:
			// Nothing was returned, and nothing will be: a failed refund
			// the gateway does not list is no difference in money.
			it.Bucket, it.Action, it.Detail = BucketMatched, ActNone, "failed; nothing was returned"
		case r.Method == RefundTerminalVoid && r.Status == RefundSucceeded && revoked[r.OrderNo]:
			// A void is no refund at the gateway: its order is revoked.
			it.Bucket, it.Action, it.Detail = BucketMatched, ActNone, "voided on the terminal; the gateway shows the order revoked"
		}
		items = append(items, it)
	}
	return items
}

// ImportedOrder is the order stored for one only the gateway has: its
// status is the gateway's (paid, failed, or pending while the gateway has
// not settled it, checked again by the reconciler), and it always needs
// attention: a charge or an attempt nobody recorded.
func ImportedOrder(g ListedOrder, lane string, now time.Time) Order {
	o := Order{
		No:             g.OrderNo,
		Lane:           lane,
		Amount:         g.Amount,
		Reference:      "imported at day close",
		GatewayNo:      g.GatewayNo,
		Card:           Card{Brand: g.Card.Brand, Last4: g.Card.Last4},
		CreatedAt:      g.CreatedAt,
		NeedsAttention: true,
		Attention:      AttentionOnlyAtGateway,
		Refunded:       Money{Currency: g.Amount.Currency},
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	switch {
	case g.Status.Paid():
		o.Status = StatusPaid
		o.PaidAt = g.PaidAt
		if o.PaidAt.IsZero() {
			o.PaidAt = now
		}
	case g.Status == GatewayFailed:
		o.Status, o.Reason = StatusFailed, ReasonGatewayFailed
		o = Scheduler{}.Next(o, Fact{Due: DueWatch}, now)
	default:
		o.Status, o.Reason = StatusPending, ReasonUnconfirmed
		o = Scheduler{}.Next(o, Fact{Due: DueNow}, now)
	}
	return o
}
