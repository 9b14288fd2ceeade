package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ppPayment is the payment object of /payment/detail and the callbacks.
func (p *PayProtocol) ppPayment(o *PPOrder) map[string]any {
	m := map[string]any{
		"outTradeNo": o.OutTradeNo, "outPaymentNo": o.OutPaymentNo, "paymentStatus": o.Status,
		"quoteCurrencySymbol": o.Amount.Currency, "quoteAmount": json.Number(o.Amount.Decimal()),
		"chainId": o.ChainID, "expireTime": o.ExpiresAt.Unix(),
	}
	if o.Status == PPPaid || o.Status == PPPartiallyPaid {
		m["paidAmount"] = json.Number(o.Paid.Decimal())
		m["paymentTime"] = o.PaidAt.Unix()
	}
	return m
}

func ppRefundJSON(r *PPRefund) map[string]any {
	return map[string]any{
		"outRefundNo": r.OutRefundNo, "refundNo": r.RefundNo, "outTradeNo": r.OutTradeNo, "refundStatus": r.Status,
		"quoteCurrencySymbol": r.Amount.Currency, "refundAmount": json.Number(r.Amount.Decimal()), "reason": r.Reason,
	}
}

func (p *PayProtocol) notifyPaymentLocked(o *PPOrder) {
	body, _ := json.Marshal(p.ppPayment(o))
	p.enqueueLocked("payment", o.OutTradeNo, o.Status, o.NotifyURL, body)
}

func (p *PayProtocol) notifyRefundLocked(r *PPRefund) {
	body, _ := json.Marshal(ppRefundJSON(r))
	p.enqueueLocked("refund", r.OutRefundNo, r.Status, r.NotifyURL, body)
}

func (p *PayProtocol) enqueueLocked(kind, no, status, url string, body []byte) {
	if url == "" {
		url = p.notifyURL
	}
	if url == "" {
		return
	}
	n := 1
	if p.duplicates {
		n = 2
	}
	for range n {
		d := &PPDelivery{ID: len(p.deliveries) + 1, URL: url, Kind: kind, No: no, Status: status, NextAt: p.clock.Now(), body: body}
		if p.drop {
			d.Dropped, d.GaveUp, d.NextAt = true, true, time.Time{}
		}
		p.deliveries = append(p.deliveries, d)
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run delivers due callbacks until Close.
func (p *PayProtocol) run() {
	sendLoop(p.ctx, p.clock, p.kick, p.next, p.deliver)
}

// next returns the first due delivery, or else when the next one is due.
func (p *PayProtocol) next() (*PPDelivery, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	var first time.Time
	for _, d := range p.deliveries {
		if d.Delivered || d.GaveUp {
			continue
		}
		if !d.NextAt.After(now) {
			return d, time.Time{}
		}
		if first.IsZero() || d.NextAt.Before(first) {
			first = d.NextAt
		}
	}
	return nil, first
}

// deliver makes one attempt, signed afresh with the current time. Done
// only on HTTP 200 with the plain body success.
func (p *PayProtocol) deliver(d *PPDelivery) {
	p.mu.Lock()
	url, body := d.URL, d.body
	p.mu.Unlock()
	result := p.post(url, body)
	p.mu.Lock()
	defer p.mu.Unlock()
	d.Attempts++
	d.LastResult = result
	switch {
	case result == "ok":
		d.Delivered, d.NextAt = true, time.Time{}
	case d.Attempts > len(p.schedule):
		d.GaveUp, d.NextAt = true, time.Time{}
	default:
		d.NextAt = p.clock.Now().Add(p.schedule[d.Attempts-1])
	}
}

func (p *PayProtocol) post(url string, body []byte) string {
	ack, failed := postCallback(p.ctx, p.client, deliveryTimeout, url, body, func(req *http.Request) {
		ts := strconv.FormatInt(p.clock.Now().Unix(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-PAY-KEY", p.key)
		req.Header.Set("X-PAY-TIMESTAMP", ts)
		req.Header.Set("X-PAY-SIGN", ppSign(p.secret, ts, http.MethodPost, req.URL.EscapedPath(), body))
	})
	if failed != "" {
		return failed
	}
	if text := strings.TrimSpace(string(ack)); !strings.EqualFold(text, "success") {
		return fmt.Sprintf("HTTP 200 %q", text)
	}
	return "ok"
}
