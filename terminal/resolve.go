package terminal

import (
	"context"
	"fmt"

	"github.com/posbridge/posbridge"
)

// resolve closes the order on the terminal and queries it, within
// ResolveTimeout. It never sends another sale.
func (c *Conn) resolve(ctx context.Context, no posbridge.OrderNo) *posbridge.TerminalResult {
	t := c.clock.NewTimer(c.cfg.ResolveTimeout)
	defer t.Stop()
	abort := t.C()
	log := c.log.With(posbridge.LogKeyOrder, string(no))
	if _, _, err := c.exchange(ctx, closeMessage(no), c.cfg.ResolveTimeout, c.cfg.RequestTimeout, abort, nil); err != nil {
		log.Warn("close after ambiguous sale", posbridge.LogKeyError, err)
	}
	resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ResolveTimeout, c.cfg.RequestTimeout, abort, nil)
	if err != nil {
		log.Warn("query after ambiguous sale", posbridge.LogKeyError, err)
		return nil
	}
	q := resultOf(resp, QueryOutcome(resp))
	return &q
}

// closeMessage and queryMessage name the order under both keys: the
// protocol document and the Windows and Android SDKs send
// merchant_order_no, the Java SDK's close sends merchantOrderNo, and a
// terminal reads one or the other.
func closeMessage(no posbridge.OrderNo) Message {
	return Message{Topic: TopicClose, Biz: BizData{MerchantOrderNo: string(no), MerchantOrderNoCamel: string(no)}}
}

func queryMessage(no posbridge.OrderNo) Message {
	return Message{Topic: TopicQuery, Biz: BizData{MerchantOrderNo: string(no), MerchantOrderNoCamel: string(no)}}
}

// Query sends ecrhub.pay.query for no. Approved means charged (trans_status
// 2/4, code 103), Declined means not charged (trans_status 1/3, code 104),
// anything else Unknown. An error wraps ErrTerminalUnavailable when the
// query was not sent, ErrNoResponse when it went unanswered.
func (c *Conn) Query(ctx context.Context, no posbridge.OrderNo) (posbridge.TerminalResult, error) {
	resp, _, err := c.exchange(ctx, queryMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
	if err != nil {
		return posbridge.TerminalResult{}, fmt.Errorf("query %s: %w", no, err)
	}
	return resultOf(resp, QueryOutcome(resp)), nil
}

// CloseOrder sends ecrhub.pay.close for no. It returns nil when the terminal
// answered 000, an error naming the code otherwise (201: could not close,
// for example because it is paid), or a transport error as Query does.
func (c *Conn) CloseOrder(ctx context.Context, no posbridge.OrderNo) error {
	c.mu.Lock()
	if f := c.inflight; f != nil && f.no == no {
		f.closeAsked.Store(true)
	}
	c.mu.Unlock()
	resp, _, err := c.exchange(ctx, closeMessage(no), c.cfg.ConnectWait, c.cfg.RequestTimeout, nil, nil)
	if err != nil {
		return fmt.Errorf("close %s: %w", no, err)
	}
	if code := NormalizeCode(resp.ResponseCode); code != CodeSuccess {
		return &CodeError{Topic: TopicClose, Code: code, Message: resp.ResponseMsg}
	}
	c.mu.Lock()
	if f := c.inflight; f != nil && f.no == no {
		f.once.Do(func() { close(f.closedCh) })
	}
	c.mu.Unlock()
	return nil
}

// CodeError is a terminal's refusal: a response code other than 000.
type CodeError struct {
	Topic   string
	Code    string
	Message string
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("%s: terminal answered %s %s", e.Topic, e.Code, e.Message)
}
