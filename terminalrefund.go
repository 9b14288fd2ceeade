package posbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// RefundMethod says how a refund is made; persisted as these strings.
type RefundMethod string

// Refund methods.
const (
	// RefundViaGateway: a referenced refund through the gateway's API.
	// posbridge sends it, and re-sends a requested one with the same
	// number (the gateway's refund call is idempotent by number).
	RefundViaGateway RefundMethod = "gateway"
	// RefundTerminalRefund: a refund with the card present on the
	// terminal (ecrhub.pay.order, trans_type 3).
	RefundTerminalRefund RefundMethod = "terminal_refund"
	// RefundTerminalVoid: a same-day void of a paid sale on the terminal
	// (ecrhub.pay.order, trans_type 2); it voids the whole amount.
	RefundTerminalVoid RefundMethod = "terminal_void"
)

// Valid reports whether m is one of the refund methods.
func (m RefundMethod) Valid() bool {
	switch m {
	case RefundViaGateway, RefundTerminalRefund, RefundTerminalVoid:
		return true
	}
	return false
}

// OnTerminal reports whether a refund of method m was made on the terminal.
// Such a refund is never sent to the gateway as a refund: every follow-up
// (the reconciler, a notification, the day close) only asks the gateway
// about it (verifyTerminalRefund). An empty method is a gateway refund.
func (m RefundMethod) OnTerminal() bool {
	return m == RefundTerminalRefund || m == RefundTerminalVoid
}

// CardPresentTerminal is a terminal that can also void a sale and refund
// with the card present (terminal.Conn). Each call follows Terminal.Sale's
// contract for a new order number no, for the sale orig: one result, an
// approved outcome meaning the void or refund happened; an error wrapping
// ErrTerminalUnavailable only when nothing was written.
type CardPresentTerminal interface {
	Void(ctx context.Context, no, orig OrderNo, amount Money) (TerminalResult, error)
	Refund(ctx context.Context, no, orig OrderNo, amount Money) (TerminalResult, error)
}

// VoidParams asks for a void of a paid order on its lane's terminal.
type VoidParams struct {
	IdempotencyKey string // optional; a repeat with the same key returns the same void
}

// Check kinds of terminal voids and refunds.
const (
	CheckTerminalVoid   CheckKind = "terminal_void"
	CheckTerminalRefund CheckKind = "terminal_refund"
	CheckVoidQuery      CheckKind = "void_query" // the original order asked about for a void
)

// VoidRefusal returns why a paid order o cannot be voided on the terminal
// at now, or "" when it can. A void reverses the whole sale, so it is
// refused when any refund of the order is not failed (refund the rest
// instead); it is refused after the sale was settled (settledAt, the lane's
// last settlement, zero when none: a settled sale can only be refunded);
// and it is refused on another day than the payment's, in loc.
func VoidRefusal(o Order, refunds []Refund, settledAt, now time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	paidAt := o.PaidAt
	if paidAt.IsZero() {
		paidAt = o.CreatedAt
	}
	switch {
	case o.Status != StatusPaid:
		return "Only a paid payment can be voided."
	case !settledAt.IsZero() && !paidAt.After(settledAt):
		return "The payment is settled (the terminal's batch was closed); only a refund is possible."
	case paidAt.In(loc).Format(time.DateOnly) != now.In(loc).Format(time.DateOnly):
		return "Only a payment of today can be voided; refund it instead."
	}
	for _, r := range refunds {
		if r.Status != RefundFailed {
			return "The payment already has a refund; refund the rest instead of voiding."
		}
	}
	return ""
}

// ReversalStatus is what a terminal void or refund's result says, before
// the gateway is asked: RefundFailed only on the terminal's clear "not
// done" (nothing was written, or a declining code with a transaction
// status), RefundPending for "done" and for every lost, late or ambiguous
// answer (verified with the gateway).
func ReversalStatus(res TerminalResult, err error) (RefundStatus, string) {
	notDone := func(r TerminalResult) bool {
		switch r.Outcome {
		case OutcomeDeclined, OutcomeCanceledByUser, OutcomeClosedOnRequest:
			return !r.NoRecord
		}
		return false
	}
	switch {
	case errors.Is(err, ErrTerminalUnavailable):
		return RefundFailed, "the terminal was not reachable; nothing was sent"
	case err != nil:
		return RefundPending, "no answer from the terminal: " + err.Error()
	case res.Outcome == OutcomeApproved:
		return RefundPending, "the terminal says done; confirming with the gateway"
	case notDone(res):
		return RefundFailed, joinDetail("the terminal says not done", res.Code+" "+res.Message)
	case res.QueryAfter != nil && notDone(*res.QueryAfter):
		return RefundFailed, joinDetail("the terminal's record says not done", res.QueryAfter.Code+" "+res.QueryAfter.Message)
	}
	return RefundPending, "the terminal's answer is unknown; asking the gateway"
}

// reversalHash identifies a void or card-present refund request for
// idempotency (a different request than a gateway refund of the same amount).
func reversalHash(method RefundMethod, no OrderNo, amount Money, reason string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00%s", method, no, amount.Minor, amount.Currency, reason)
	return hex.EncodeToString(h.Sum(nil))
}

// Void voids a paid order of today on its lane's terminal (the whole
// amount), unless the sale is settled or already (partly) refunded. It
// stores the void as a refund of method terminal_void (status requested)
// before the first byte goes to the terminal, returns it, and runs the
// void in the background; the refund's status then follows the terminal's
// answer and the gateway's word.
func (e *Engine) Void(ctx context.Context, no OrderNo, p VoidParams, by By) (Refund, bool, error) {
	o, err := e.load(ctx, no)
	if err != nil {
		return Refund{}, false, err
	}
	return e.reverseOnTerminal(ctx, o, RefundTerminalVoid, o.Amount, p.IdempotencyKey, by)
}

// reverseOnTerminal stores a void or card-present refund of o and starts
// it on the lane's terminal.
func (e *Engine) reverseOnTerminal(ctx context.Context, o Order, method RefundMethod, amount Money, key string, by By) (Refund, bool, error) {
	if err := validKey(key); err != nil {
		return Refund{}, false, err
	}
	if amount.Currency == "" {
		amount.Currency = o.Amount.Currency
	}
	hash := reversalHash(method, o.No, amount, by.Reason)
	if key != "" {
		if r, done, err := e.refundReplay(ctx, o.No, key, hash, ""); done {
			return r, err == nil, err
		}
	}
	if o.Status != StatusPaid {
		return Refund{}, false, &Error{Code: ECONFLICT, Message: "Only a paid payment can be voided or refunded."}
	}
	l := e.lanes.get(o.Lane)
	if l == nil {
		return Refund{}, false, &Error{Code: ECONFLICT, Message: "The payment's lane has no terminal here; refund it through the gateway."}
	}
	term, ok := l.term.(CardPresentTerminal)
	if !ok {
		return Refund{}, false, &Error{Code: EUNAVAILABLE, Message: "The lane's terminal cannot void or refund; refund through the gateway."}
	}
	if method == RefundTerminalVoid {
		refunds, err := e.store.Refunds(ctx, o.No)
		if err != nil {
			return Refund{}, false, fmt.Errorf("void %s: refunds: %w", o.No, err)
		}
		settled, err := e.lastSettlement(ctx, o.Lane)
		if err != nil {
			return Refund{}, false, fmt.Errorf("void %s: %w", o.No, err)
		}
		if why := VoidRefusal(o, refunds, settled, e.Clock.Now(), e.Location); why != "" {
			return Refund{}, false, &Error{Code: ECONFLICT, Message: why}
		}
	}
	if _, ok := e.reserveLane(ctx, l); !ok {
		return Refund{}, false, &Error{Code: ELANEBUSY, Message: "The lane's terminal is busy; try again when the payment on it is over."}
	}
	reserved := true
	defer func() {
		if reserved {
			e.lanes.unreserve(l)
		}
	}()
	now := e.now()
	prefix := "R"
	if method == RefundTerminalVoid {
		prefix = "V"
	}
	rno, err := NewOrderNo(now, prefix, e.Random)
	if err != nil {
		return Refund{}, false, err
	}
	r := &Refund{No: rno, OrderNo: o.No, Amount: amount, Status: RefundRequested, Method: method, Reason: by.Reason, Actor: by.Who,
		CreatedAt: now, UpdatedAt: now, IdempotencyKey: key, RequestHash: hash}
	// Write-ahead: the void or refund is stored before the first byte
	// goes to the terminal, counted against what is refundable.
	ev, err := e.store.CreateRefund(ctx, r, byCause(by, string(method)))
	var used *IdempotencyError
	switch {
	case errors.As(err, &used):
		r, _, err := e.refundReplay(ctx, o.No, key, hash, used.RequestHash)
		return r, err == nil, err
	case errors.Is(err, ErrRefundExceeded), errors.Is(err, ErrCurrencyMismatch), errors.Is(err, ErrZeroAmount):
		return Refund{}, false, &Error{Code: EINVALID, Field: "amount", Message: "The amount is more than can be refunded.", Err: err}
	case err != nil:
		return Refund{}, false, fmt.Errorf("store %s: %w", method, err)
	}
	e.Bus.Publish(ev)
	e.rec.refundOpened() // followed by the reconciler too, until final
	reserved = false
	stored := *r
	e.wg.Go(func() {
		defer e.lanes.unreserve(l)
		e.runReversal(term, stored)
	})
	return stored, false, nil
}

// runReversal sends a stored void or card-present refund to the terminal,
// applies what its answer proves (ReversalStatus), and asks the gateway.
func (e *Engine) runReversal(term CardPresentTerminal, r Refund) {
	ctx := e.ctx
	start := e.now()
	var res TerminalResult
	var err error
	kind := CheckTerminalRefund
	if r.Method == RefundTerminalVoid {
		kind = CheckTerminalVoid
		res, err = term.Void(ctx, r.No, r.OrderNo, r.Amount)
	} else {
		res, err = term.Refund(ctx, r.No, r.OrderNo, r.Amount)
	}
	e.recordCheck(ctx, r.OrderNo, kind, string(kind)+" "+string(r.No)+" "+r.Amount.String(), start, resultText(string(res.Outcome)+" "+res.Code, err), err)
	to, why := ReversalStatus(res, err)
	cause := Cause{Actor: ActorTerminal, Action: string(r.Method) + " answer", Detail: why}
	upd, ev, uerr := e.store.UpdateRefund(ctx, r.No, cause, func(s *Refund) error {
		if s.Status.Final() {
			return ErrNoChange // the gateway (a notification) spoke first
		}
		s.Status = to
		if res.TransNo != "" {
			s.GatewayNo = res.TransNo
		}
		if to == RefundFailed {
			s.Reason = why
		}
		return nil
	})
	if uerr != nil {
		e.Logger.Error("store terminal refund answer", LogKeyOrder, string(r.OrderNo), LogKeyError, uerr)
		return
	}
	if ev.Seq != 0 {
		e.Bus.Publish(ev)
	}
	if upd.Status == RefundPending {
		e.verifyTerminalRefund(ctx, upd, Cause{Actor: ActorGatewayQuery}, true)
	}
	e.wake()
}

// otherVoidStands reports whether another void of r's order is not failed:
// then the order's revocation is that void's, not r's.
func (e *Engine) otherVoidStands(ctx context.Context, r Refund) (bool, error) {
	rs, err := e.store.Refunds(ctx, r.OrderNo)
	if err != nil {
		return false, err
	}
	for _, o := range rs {
		if o.No != r.No && o.Method == RefundTerminalVoid && o.Status != RefundFailed {
			return true, nil
		}
	}
	return false, nil
}

// verifyTerminalRefund asks the gateway about a void or refund made on the
// terminal and applies its word. It never sends anything: a refund on the
// terminal shows at the gateway as a refund order under the refund's own
// number (PayBy refund/getOrder, CodePay order.refund.query), a void as
// the original order revoked (PayBy revoked, CodePay trans_status 3). A
// gateway that does not know it yet proves nothing; it stays as it is.
func (e *Engine) verifyTerminalRefund(ctx context.Context, r Refund, cause Cause, foreground bool) (Refund, error) {
	start := e.now()
	if r.Method == RefundTerminalVoid {
		var g GatewayOrder
		ran, err := e.gw.call(ctx, foreground, true, func() (err error) {
			g, err = e.gateway.QueryOrder(ctx, r.OrderNo)
			return err
		})
		if !ran {
			return r, err
		}
		seen := string(g.Status)
		if g.Revoked {
			seen += " revoked"
		}
		e.recordCheck(ctx, r.OrderNo, CheckVoidQuery, "void query "+string(r.No), start, resultText(seen, err), err)
		if err != nil || !g.Revoked {
			return r, err
		}
		// The order revoked proves one void: the one not failed, when there
		// is one. A void the terminal declined, followed by one that went
		// through, must not become a second success (25.00 refunded of a
		// 12.50 sale).
		if other, err := e.otherVoidStands(ctx, r); err != nil || other {
			return r, err
		}
		return e.applyRefund(ctx, r.No, GatewayRefund{RefundNo: r.No, OrderNo: r.OrderNo, Status: GatewayRefundSuccess, Amount: r.Amount}, cause)
	}
	var g GatewayRefund
	ran, err := e.gw.call(ctx, foreground, false, func() (err error) {
		g, err = e.gateway.QueryRefund(ctx, r.No)
		return err
	})
	if !ran {
		return r, err
	}
	e.recordCheck(ctx, r.OrderNo, CheckRefundQuery, "refund query "+string(r.No), start, resultText(string(g.Status), err), err)
	if err != nil {
		return r, err
	}
	return e.applyRefund(ctx, r.No, g, cause)
}

// voidRevoked asks the gateway about the open voids of order no, which the
// gateway has just said is revoked (a notification). The query, not the
// notification, confirms them; an error leaves them to the reconciler.
func (e *Engine) voidRevoked(ctx context.Context, no OrderNo) {
	refunds, err := e.store.Refunds(ctx, no)
	if err != nil {
		return
	}
	for _, r := range refunds {
		if r.Method == RefundTerminalVoid && !r.Status.Final() {
			e.verifyTerminalRefund(ctx, r, Cause{Actor: ActorGatewayQuery, Action: "revoked notification"}, false)
		}
	}
}

// hasVoid reports whether order no has a void on the terminal that is not
// failed (so the gateway showing it revoked is expected).
func (e *Engine) hasVoid(ctx context.Context, no OrderNo) bool {
	refunds, err := e.store.Refunds(ctx, no)
	if err != nil {
		return false
	}
	for _, r := range refunds {
		if r.Method == RefundTerminalVoid && r.Status != RefundFailed {
			return true
		}
	}
	return false
}
