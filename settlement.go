package posbridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BatchTotals is what a gateway answers to a settlement (CodePay
// batch.close) of one terminal's batch.
type BatchTotals struct {
	TerminalSN   string
	BatchNo      string
	Sales        int
	SalesTotal   Money
	Refunds      int
	RefundsTotal Money
}

// Settler is a gateway that settles a terminal's batch (CodePay
// batch.close). Errors match the Gateway error classes; an unknown outcome
// means the batch may or may not be closed.
type Settler interface {
	CloseBatch(ctx context.Context, terminalSN string) (BatchTotals, error)
}

// Settlement is one recorded settlement of a lane's terminal: when, and
// the totals the gateway answered. A paid sale of the lane at or before At
// can only be refunded, not voided (VoidRefusal).
type Settlement struct {
	ID     int64
	Lane   string
	At     time.Time
	Totals BatchTotals
	Actor  string
	Detail string
}

// SettlementStore keeps settlements. The engine uses it when its Store
// implements it.
type SettlementStore interface {
	// SaveSettlement stores s and returns it with its ID.
	SaveSettlement(ctx context.Context, s Settlement) (Settlement, error)
	// LastSettlement returns the lane's latest settlement, or ErrNotFound.
	LastSettlement(ctx context.Context, lane string) (Settlement, error)
	// Settlements returns the settlements made in [from, to), oldest first.
	Settlements(ctx context.Context, from, to time.Time) ([]Settlement, error)
}

// SettlementService is what the API and the command line offer about
// settlement: closing a lane's batch at the gateway.
type SettlementService interface {
	// Settle closes the batch of lane's terminal at the gateway and records
	// it with its totals. After it, the lane's sales so far can only be
	// refunded.
	Settle(ctx context.Context, lane string, by By) (Settlement, error)
}

// lastSettlement returns when lane was last settled (zero when never, or
// when the store keeps no settlements).
func (e *Engine) lastSettlement(ctx context.Context, lane string) (time.Time, error) {
	ss, ok := e.store.(SettlementStore)
	if !ok {
		return time.Time{}, nil
	}
	s, err := ss.LastSettlement(ctx, lane)
	switch {
	case errors.Is(err, ErrNotFound):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("last settlement of lane %s: %w", lane, err)
	}
	return s.At, nil
}

// Settlements settles lanes' terminals through a Settler gateway. It
// implements SettlementService.
type Settlements struct {
	e         *Engine
	settler   Settler
	ss        SettlementStore
	terminals map[string]string // lane → terminal serial number
}

var _ SettlementService = (*Settlements)(nil)

// NewSettlements returns the settlement service of lanes (lane → the
// terminal's serial number at the gateway). It fails when the engine's
// gateway cannot settle or its store cannot keep settlements.
func NewSettlements(e *Engine, terminals map[string]string) (*Settlements, error) {
	st, ok := e.gateway.(Settler)
	if !ok {
		return nil, fmt.Errorf("settlement: gateway %s has no batch close", e.gateway.Name())
	}
	ss, ok := e.store.(SettlementStore)
	if !ok {
		return nil, errors.New("settlement: the store cannot keep settlements")
	}
	return &Settlements{e: e, settler: st, ss: ss, terminals: terminals}, nil
}

// Settle implements SettlementService. The settlement is recorded only
// when the gateway confirmed it; an unknown outcome is an EUNAVAILABLE
// error (asking again closes at most an empty batch). The time recorded is
// taken before the call: every sale paid before it is refused a void.
func (s *Settlements) Settle(ctx context.Context, lane string, by By) (Settlement, error) {
	sn, ok := s.terminals[lane]
	if !ok {
		return Settlement{}, &Error{Code: ENOTFOUND, Field: "lane", Message: fmt.Sprintf("Lane %q has no terminal to settle.", lane)}
	}
	at := s.e.now()
	start := at
	t, err := s.settler.CloseBatch(ctx, sn)
	s.e.Logger.Info("batch close", LogKeyLane, lane, LogKeyDuration, s.e.now().Sub(start), LogKeyError, err)
	if err != nil {
		if errors.Is(err, ErrGatewayFinal) {
			return Settlement{}, &Error{Code: ECONFLICT, Message: "The gateway refused to close the batch.", Err: err}
		}
		return Settlement{}, &Error{Code: EUNAVAILABLE, Message: "The gateway did not confirm the batch close; try again.", Err: err}
	}
	if t.TerminalSN == "" {
		t.TerminalSN = sn
	}
	rec, err := s.ss.SaveSettlement(ctx, Settlement{Lane: lane, At: at, Totals: t, Actor: by.Who, Detail: string(by.Actor)})
	if err != nil {
		return Settlement{}, fmt.Errorf("record settlement of lane %s: %w", lane, err)
	}
	return rec, nil
}
