package codepay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/posbridge/posbridge"
)

// Defaults of CloudConfig: CodePay's guidance for cloud payments (seed 002
// §3.2) is to poll order.query every 2 s for up to 60 s.
const (
	DefaultPollEvery = 2 * time.Second
	DefaultPollFor   = 60 * time.Second
	// callTimeout bounds the final query and close after a sale ends.
	callTimeout = 10 * time.Second
)

// CloudConfig configures a CloudTerminal.
type CloudConfig struct {
	TerminalSN string // required: the terminal CodePay pushes the sale to
	// RejectOffline asks CodePay to refuse a sale when the terminal is
	// offline instead of queueing it; the sale is then "terminal
	// unavailable" (nothing was charged).
	RejectOffline bool
	PollEvery     time.Duration   // DefaultPollEvery when zero
	PollFor       time.Duration   // DefaultPollFor when zero
	Clock         posbridge.Clock // SystemClock when nil
	Logger        *slog.Logger
}

// CloudTerminal is a lane with no cable (mode = "cloud"): it implements
// posbridge.Terminal on CodePay's cloud. A sale is sent with
// wisehub.cloud.pay.order (CodePay pushes it to the terminal named by
// TerminalSN) and followed with order.query every PollEvery for PollFor;
// after that, or on any ambiguity, it queries, closes an order still waiting
// on the terminal (wisehub.cloud.pay.close) and queries again, as the serial
// driver does. It never sends a sale twice for an order number. It owns no
// goroutines.
type CloudTerminal struct {
	c       *Client
	sn      string
	reject  bool
	every   time.Duration
	window  time.Duration
	clock   posbridge.Clock
	since   time.Time
	log     *slog.Logger
	expires time.Duration
}

var _ posbridge.Terminal = (*CloudTerminal)(nil)

// NewCloudTerminal returns a cloud lane's terminal on client c.
func NewCloudTerminal(c *Client, cfg CloudConfig) (*CloudTerminal, error) {
	if c == nil {
		return nil, errors.New("codepay cloud terminal: a client is required")
	}
	if cfg.TerminalSN == "" || len(cfg.TerminalSN) > 32 {
		return nil, fmt.Errorf("codepay cloud terminal: terminal_sn %q must be 1 to 32 characters", cfg.TerminalSN)
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = DefaultPollEvery
	}
	if cfg.PollFor <= 0 {
		cfg.PollFor = DefaultPollFor
	}
	if cfg.Clock == nil {
		cfg.Clock = posbridge.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &CloudTerminal{c: c, sn: cfg.TerminalSN, reject: cfg.RejectOffline, every: cfg.PollEvery, window: cfg.PollFor,
		clock: cfg.Clock, since: cfg.Clock.Now(), expires: cfg.PollFor + 5*time.Minute,
		log: cfg.Logger.With(posbridge.LogKeyComponent, "cloud-terminal", "terminal_sn", cfg.TerminalSN)}, nil
}

// Link reports a cloud lane as always up: there is no cable; whether the
// terminal is online is CodePay's to say, per sale.
func (t *CloudTerminal) Link() posbridge.LinkStatus {
	return posbridge.LinkStatus{State: posbridge.LinkUp, Since: t.since, Port: "cloud:" + t.sn}
}

// Sale pushes the sale to the terminal and follows it (see CloudTerminal).
// A refusal of the push that created nothing (the terminal offline with
// RejectOffline, bad parameters) is posbridge.ErrTerminalUnavailable; a
// push whose answer was lost is followed like any other, by queries.
func (t *CloudTerminal) Sale(ctx context.Context, s posbridge.Sale) (posbridge.TerminalResult, error) {
	_, err := t.c.PayOrder(ctx, Sale{OrderNo: s.OrderNo, Amount: s.Amount, TerminalSN: t.sn, Expires: t.expires, RejectOffline: t.reject})
	switch {
	case err == nil:
	case errors.Is(err, posbridge.ErrGatewayFinal):
		return posbridge.TerminalResult{}, fmt.Errorf("cloud sale %s: %w: %w", s.OrderNo, posbridge.ErrTerminalUnavailable, err)
	case errors.Is(context.Cause(ctx), posbridge.ErrClosed):
		return posbridge.TerminalResult{}, posbridge.ErrClosed
	default:
		// The push may have been made: follow it by queries.
		t.log.Warn("cloud sale push unclear", posbridge.LogKeyOrder, s.OrderNo, posbridge.LogKeyError, err)
	}
	return t.follow(ctx, s.OrderNo, t.clock.Now().Add(t.window))
}

// Reattach follows a cloud sale a previous process sent, until it finishes
// or until passes; then it closes and queries as Sale does.
func (t *CloudTerminal) Reattach(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
	return t.follow(ctx, no, until)
}

// follow polls order.query until the sale is final or until; then it ends
// the sale: query, close if still waiting, query.
func (t *CloudTerminal) follow(ctx context.Context, no posbridge.OrderNo, until time.Time) (posbridge.TerminalResult, error) {
	for {
		res, err := t.Query(ctx, no)
		if err == nil && res.Outcome != posbridge.OutcomeUnknown {
			return res, nil
		}
		wait := t.every
		if left := until.Sub(t.clock.Now()); left < wait {
			wait = left
		}
		if wait <= 0 {
			break
		}
		timer := t.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-timer.C():
		}
		timer.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	if errors.Is(context.Cause(ctx), posbridge.ErrClosed) {
		// A shutdown: the sale stays on the terminal; the next start
		// re-attaches to it.
		return posbridge.TerminalResult{}, posbridge.ErrClosed
	}
	// The window is over, or the engine ended the sale (the gateway
	// confirmed it): close what still waits on the terminal, then ask.
	end, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if err := t.CloseOrder(end, no); err != nil {
		t.log.Info("cloud sale not closed", posbridge.LogKeyOrder, no, posbridge.LogKeyError, err)
	}
	after, err := t.Query(end, no)
	res := posbridge.TerminalResult{Outcome: posbridge.OutcomeTimeout, Message: "no result from the terminal in time"}
	if err == nil {
		res.QueryAfter = &after
		if after.Outcome == posbridge.OutcomeApproved {
			res.Outcome, res.TransNo, res.Card, res.TransStatus = posbridge.OutcomeApproved, after.TransNo, after.Card, after.TransStatus
		}
	}
	return res, nil
}

// Query asks CodePay about the order: trans_status 2 is approved, 1 and 3
// declined (not charged, or reversed), 9 and 0 unknown (still open); an
// order CodePay does not know is NoRecord.
func (t *CloudTerminal) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
	p := Params{}
	p.SetString("merchant_order_no", string(no))
	var tr Trans
	err := t.c.call(ctx, MethodQuery, p, &tr, false)
	if errors.Is(err, posbridge.ErrGatewayNotFound) {
		return posbridge.TerminalResult{Outcome: posbridge.OutcomeUnknown, NoRecord: true}, nil
	}
	if err != nil {
		return posbridge.TerminalResult{}, err
	}
	g, err := t.c.order(MethodQuery, no, &tr)
	if err != nil {
		return posbridge.TerminalResult{}, err
	}
	st, _ := tr.Status()
	res := posbridge.TerminalResult{TransStatus: fmt.Sprint(st), TransNo: g.GatewayNo, Message: g.FailMsg, Code: g.FailCode}
	switch st {
	case TransSuccess:
		res.Outcome, res.Card = posbridge.OutcomeApproved, g.Card
	case TransClosed, TransCancelled:
		res.Outcome = posbridge.OutcomeDeclined
	default:
		res.Outcome = posbridge.OutcomeUnknown
	}
	return res, nil
}

// CloseOrder closes a cloud sale still waiting on the terminal, after a
// query: an order that is paid, closed or unknown is left alone (nil); one
// the customer is paying (trans_status 0) cannot be closed now (an error).
func (t *CloudTerminal) CloseOrder(ctx context.Context, no posbridge.OrderNo) error {
	res, err := t.Query(ctx, no)
	if err != nil {
		return fmt.Errorf("query before close: %w", err)
	}
	if res.NoRecord || res.Outcome != posbridge.OutcomeUnknown {
		return nil
	}
	if res.TransStatus == fmt.Sprint(TransPaying) {
		return fmt.Errorf("cloud sale %s: the customer is paying", no)
	}
	_, err = t.c.CancelOrder(ctx, no)
	if errors.Is(err, posbridge.ErrOrderPaid) || errors.Is(err, posbridge.ErrOrderClosed) {
		return nil
	}
	return err
}
