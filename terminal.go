package posbridge

import (
	"context"
	"errors"
	"time"
)

// ErrTerminalUnavailable is returned by Terminal.Sale only when not one byte
// of the sale was written (the link was down and did not come up in time), so
// the customer cannot have been charged by it.
var ErrTerminalUnavailable = errors.New("terminal unavailable")

// Sale is a sale request for the terminal.
type Sale struct {
	OrderNo OrderNo
	Amount  Money
}

// TerminalResult is what one terminal exchange (a sale or a query) came to.
type TerminalResult struct {
	Outcome     Outcome
	Code        string // the terminal's response_code, normalised ("000" for "0"); empty when no answer
	Message     string // the terminal's response_msg
	TransStatus string // trans_status as sent ("0".."4", "9"); empty when absent
	TransNo     string // the terminal's transaction number
	// NoRecord: the terminal has no transaction for the order (it never got
	// the sale, or it lost its table in a reboot). Weaker than a "not
	// charged" with a transaction status.
	NoRecord bool
	Card     Card
	// QueryAfter is the result of the ecrhub.pay.query the driver made after
	// an ambiguous sale (after ecrhub.pay.close), when it got one.
	QueryAfter *TerminalResult
}

// Terminal is one lane's card terminal. Implementations serialise requests and
// never send a second sale for an order number on their own.
type Terminal interface {
	// Sale sends ecrhub.pay.order for s and blocks until it has exactly one
	// result: a clear answer, or, after any ambiguity (no ACK, no answer by the
	// deadline, link lost, a re-handshake while the sale was open, an ambiguous
	// code), OutcomeUnknown or OutcomeTimeout after it has sent
	// ecrhub.pay.close and ecrhub.pay.query for the order — except when ctx
	// ends with ErrClosed as its cause (a shutdown): then the sale is left
	// open on the terminal for the next start to re-attach to. It returns an
	// error wrapping ErrTerminalUnavailable only if nothing was written; any
	// other failure is a result with OutcomeTimeout.
	Sale(ctx context.Context, s Sale) (TerminalResult, error)
	// Query asks the terminal about an order (ecrhub.pay.query). Approved
	// means charged (trans_status 2/4, code 103); Declined means the terminal
	// says not charged (trans_status 1 or 3, code 104); anything else Unknown.
	Query(ctx context.Context, no OrderNo) (TerminalResult, error)
	// Reattach follows a sale a previous process started for no and that the
	// terminal still has in progress (its request id is gone, so its answer
	// is matched by order number), until the sale's answer arrives, a query
	// finds it finished, or until passes; then, as Sale does after silence,
	// it closes and queries. It never sends a sale. It returns an error only
	// when ctx ends or the driver closes.
	Reattach(ctx context.Context, no OrderNo, until time.Time) (TerminalResult, error)
	// CloseOrder asks the terminal to close an open sale (ecrhub.pay.close).
	CloseOrder(ctx context.Context, no OrderNo) error
	// Link reports the link's state and counters.
	Link() LinkStatus
}

// LinkWatcher is a Terminal that reports the changes of its link. Engine.Open
// registers a watch on every lane's terminal that implements it, so the
// engine learns of a link lost or back (Engine.LinkChanged) without the
// terminal, made before the engine, having to know it.
type LinkWatcher interface {
	// WatchLink makes fn the one receiver of the link's changes, replacing
	// any earlier one; nil stops the watch. fn is called after every change
	// of the link state, from the link's own goroutine: it must not block
	// or call back into the terminal. Safe while the link runs.
	WatchLink(fn func(LinkStatus))
}

// AcquirerRecord is what a terminal's acquirer tells the gateway about a card
// transaction: the order exists, was paid, or failed.
type AcquirerRecord struct {
	OrderNo OrderNo
	OrigNo  OrderNo // for voids and refunds: the original sale
	Kind    string  // "sale", "void" or "refund"
	Amount  Money
	Status  GatewayStatus // created, paid or failed
	Card    Card
}

// Acquirer is the card network behind a terminal. A real terminal's acquirer
// tells the gateway about every order; the simulated terminal calls an
// Acquirer so that the gateway sandbox learns of orders the same way, and the
// sandbox stays the single truth about money (docs/architecture.md).
type Acquirer interface {
	Record(ctx context.Context, r AcquirerRecord) error
}
