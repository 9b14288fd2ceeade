package terminal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/posbridge/posbridge"
)

// waiter waits for the response to one request.
type waiter struct {
	requestID string
	topic     string
	orderNo   string
	ch        chan Message // buffered 1
}

// wait registers a waiter for the answer to a request (requestID empty:
// matched by order number alone); unwait removes it.
func (c *Conn) wait(requestID, topic, orderNo string) *waiter {
	w := &waiter{requestID: requestID, topic: topic, orderNo: orderNo, ch: make(chan Message, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiters[w] = struct{}{}
	return w
}

func (c *Conn) unwait(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waiters, w)
}

func (c *Conn) deliver(p []byte) {
	m, err := DecodeMessage(p)
	if err != nil {
		c.log.Warn("bad message", posbridge.LogKeyError, err, posbridge.LogKeyCount, len(p))
		return
	}
	c.mu.Lock()
	var match *waiter
	for w := range c.waiters {
		if m.RequestID != "" && w.requestID == m.RequestID {
			match = w
			break
		}
	}
	if match == nil {
		// Some firmware omits request_id: fall back to the order number
		// within the same topic. An answer that names another request is a
		// late answer to one that gave up; it must never stand in for a
		// newer request's answer. A waiter without a request id (a sale
		// re-attached after a restart) matches by order number alone.
		for w := range c.waiters {
			if no := m.Biz.OrderNo(); no != "" && w.orderNo == no && w.topic == m.Topic &&
				(m.RequestID == "" || w.requestID == "") {
				match = w
				break
			}
		}
	}
	if match != nil {
		delete(c.waiters, match)
	}
	c.mu.Unlock()
	if match == nil {
		c.log.Info("unmatched message dropped", posbridge.LogKeyOrder, m.Biz.OrderNo(),
			"topic", m.Topic, "request_id", m.RequestID, "code", m.ResponseCode)
		return
	}
	match.ch <- m
}

// currentSession waits up to d (or until abort) for the link to be up.
func (c *Conn) currentSession(ctx context.Context, d time.Duration, abort <-chan time.Time) (*session, error) {
	t := c.clock.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		s, up := c.sess, c.upCh
		c.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-up:
		case <-t.C():
			return nil, fmt.Errorf("link not up after %v", d)
		case <-abort:
			return nil, errors.New("gave up waiting for the link")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, posbridge.ErrClosed
		}
	}
}

// exchange sends one request and waits for its response. written reports
// whether any byte of the request may have reached the terminal. Errors wrap
// posbridge.ErrTerminalUnavailable when nothing was written, ErrNoResponse
// otherwise.
//
// closed, when not nil, ends the wait for the response with errSaleClosed
// once the request is written: CloseOrder closes it when the terminal
// closed the sale this request started.
func (c *Conn) exchange(ctx context.Context, m Message, linkWait, respTimeout time.Duration, abort <-chan time.Time, closed <-chan struct{}) (resp Message, written bool, err error) {
	m.RequestID = c.cfg.NewRequestID()
	m.AppID = c.cfg.AppID
	m.Version = "1.0"
	m.Timestamp = strconv.FormatInt(c.clock.Now().UnixMilli(), 10)
	payload, err := EncodeMessage(m)
	if err != nil {
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, err)
	}
	if len(payload) > MaxOutboundPayload {
		return Message{}, false, fmt.Errorf("%s: %w: %d bytes: %w", m.Topic, posbridge.ErrTerminalUnavailable, len(payload), ErrPayloadTooLarge)
	}
	s, err := c.currentSession(ctx, linkWait, abort)
	if err != nil {
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, err)
	}
	w := c.wait(m.RequestID, m.Topic, m.Biz.MerchantOrderNo)
	defer c.unwait(w)
	j := &job{payload: payload, res: make(chan jobResult, 1)}
	select {
	case s.jobs <- j:
	case <-s.done:
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, ErrLinkLost)
	case <-ctx.Done():
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, ctx.Err())
	case <-c.ctx.Done():
		return Message{}, false, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrTerminalUnavailable, posbridge.ErrClosed)
	}
	deadline := c.clock.NewTimer(respTimeout)
	defer deadline.Stop()
	jres := j.res
	sdone := s.done
	// linkLost answers a session that ended: an answer already in (the
	// session delivers before it ends) is still the answer.
	linkLost := func() (Message, bool, error) {
		select {
		case resp := <-w.ch:
			return resp, true, nil
		default:
		}
		return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ErrLinkLost, ErrNoResponse)
	}
	for {
		select {
		case r := <-jres:
			jres = nil
			switch r {
			case jobNotWritten:
				return Message{}, false, fmt.Errorf("%s: %w", m.Topic, posbridge.ErrTerminalUnavailable)
			case jobUnacked:
				return Message{}, true, fmt.Errorf("%s: no ack: %w", m.Topic, ErrNoResponse)
			case jobLost:
				return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ErrLinkLost, ErrNoResponse)
			}
			if sdone == nil {
				// The session ended while the job's result was on its way:
				// the link is lost whatever the result, as when it ends
				// after the result.
				return linkLost()
			}
		case resp := <-w.ch:
			return resp, true, nil
		case <-sdone:
			if jres != nil {
				sdone = nil // the job's result is on its way
				continue
			}
			return linkLost()
		case <-deadline.C():
			return Message{}, true, fmt.Errorf("%s: no answer in %v: %w", m.Topic, respTimeout, ErrNoResponse)
		case <-abort:
			return Message{}, true, fmt.Errorf("%s: gave up: %w", m.Topic, ErrNoResponse)
		case <-closed:
			select {
			case resp := <-w.ch:
				// The sale's own answer came first: it says what happened.
				return resp, true, nil
			default:
			}
			return Message{}, true, fmt.Errorf("%s: %w", m.Topic, errSaleClosed)
		case <-ctx.Done():
			return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, ctx.Err(), ErrNoResponse)
		case <-c.ctx.Done():
			return Message{}, true, fmt.Errorf("%s: %w: %w", m.Topic, posbridge.ErrClosed, ErrNoResponse)
		}
	}
}

// errSaleClosed ends the wait for a sale's answer once the terminal has
// closed the sale at the ECR's request (CloseOrder answered 000).
var errSaleClosed = errors.New("sale closed on the terminal")
