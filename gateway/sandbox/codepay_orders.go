package sandbox

import (
	"encoding/json"

	"github.com/posbridge/posbridge"
)

// cpStatus is o's trans_status.
func cpStatus(o *order) int {
	switch o.status {
	case StatusCreated:
		if o.paying {
			return 0
		}
		return 9
	case StatusPaid, StatusSettled:
		return 2
	}
	if o.revoked && !o.paidTime.IsZero() {
		return 3
	}
	return 1
}

// cpTrans is o as order.query reports it.
func (s *Sandbox) cpTrans(o *order) map[string]any {
	st := cpStatus(o)
	t := map[string]any{
		"trans_no":          o.orderNo,
		"trans_type":        1,
		"trans_status":      st,
		"merchant_order_no": o.merchantOrderNo,
		"price_currency":    o.amount.Currency,
		"order_amount":      json.Number(o.amount.Decimal()),
		"trans_amount":      json.Number(o.amount.Decimal()),
		"merchant_no":       s.cpMerchant,
		"pay_scenario":      "SWIPE_CARD",
	}
	if o.terminalSN != "" {
		t["terminal_sn"] = o.terminalSN
	}
	if !o.paidTime.IsZero() {
		t["trans_end_time"] = o.paidTime.UTC().Format("2006-01-02 15:04:05")
		t["paid_amount"] = json.Number(o.paid.Decimal())
		if o.card.Brand != "" {
			t["pay_method_id"] = o.card.Brand
		}
		if o.card.Last4 != "" {
			t["pay_user_account_id"] = "******" + o.card.Last4
			if s.timed.fullCardNums {
				t["pay_user_account_id"] = fullCardNo(o.orderNo, o.card.Last4)
			}
		}
	}
	if st == 1 || st == 3 {
		t["trans_error_code"] = o.failCode
		t["trans_error_msg"] = o.failDes
	}
	return t
}

// cpRefund is r as order.refund.query reports it.
func (s *Sandbox) cpRefund(r *refund) map[string]any {
	st := 0
	switch r.status {
	case RefundSuccess:
		st = 2
	case RefundFailure:
		st = 1
	}
	t := map[string]any{
		"trans_no":               r.orderNo,
		"trans_type":             3,
		"trans_status":           st,
		"merchant_order_no":      r.refundMerchantOrderNo,
		"orig_merchant_order_no": r.origin.merchantOrderNo,
		"orig_trans_no":          r.origin.orderNo,
		"price_currency":         r.amount.Currency,
		"trans_amount":           json.Number(r.amount.Decimal()),
		"merchant_no":            s.cpMerchant,
	}
	if st == 2 {
		t["trans_end_time"] = r.created.UTC().Format("2006-01-02 15:04:05")
	}
	if st == 1 {
		t["trans_error_code"], t["trans_error_msg"] = r.failCode, r.failDes
	}
	return t
}

// cpMoney reads an amount field in currency: > 0, at most the currency's decimals.
func cpMoney(text, currency string) (posbridge.Money, bool) {
	m, err := posbridge.ParseAmount(text, currency)
	return m, err == nil
}

// cpParamsKey is the canonical text of the business fields of a create, for
// comparing repeats (the common fields and the signature change each time).
func cpParamsKey(req cpParams) string {
	biz := map[string]string{}
	for k, v := range req {
		switch k {
		case "sign", "timestamp", "app_id", "format", "charset", "sign_type", "version":
		default:
			biz[k] = v
		}
	}
	return cpCanonical(biz)
}

func (s *Sandbox) cpFind(req cpParams) (*order, cpAnswer, bool) {
	no, transNo := req["merchant_order_no"], req["trans_no"]
	if (no == "") == (transNo == "") {
		return nil, cpFail(cpParam, "exactly one of merchant_order_no and trans_no"), false
	}
	var o *order
	var ok bool
	if no != "" {
		o, ok = s.orders[no]
	} else {
		o, ok = s.ordersByNo[transNo]
	}
	if !ok {
		return nil, cpFail(cpNotExist, "order does not exist"), false
	}
	return o, cpAnswer{}, true
}

func (s *Sandbox) cpPayOrder(req cpParams) cpAnswer {
	no := req["merchant_order_no"]
	if no == "" || len(no) > 32 || !validNo(no) {
		return cpFail(cpParam, "merchant_order_no")
	}
	if req["terminal_sn"] == "" {
		return cpFail(cpParam, "terminal_sn")
	}
	amount, ok := cpMoney(req["order_amount"], req["price_currency"])
	if !ok {
		return cpFail(cpParam, "order_amount or price_currency")
	}
	switch req["trans_type"] {
	case "1":
	case "2", "3":
		// A void or refund on the terminal against a paid original.
		orig, ok := s.orders[req["orig_merchant_order_no"]]
		if !ok {
			return cpFail(cpNotExist, "original order does not exist")
		}
		if cpStatus(orig) != 2 {
			return cpFail(cpNotPaid, "original order is not paid")
		}
		if req["trans_type"] == "2" {
			if orig.status == StatusSettled {
				return cpFail(cpSettled, "batch closed: refund instead of void")
			}
			if code := s.revoke(orig); code != "" {
				return cpFail(cpRefunded, "order has refunds")
			}
			return cpSuccess(map[string]any{"trans_no": orig.orderNo, "message_id": "M" + orig.orderNo, "terminal_online_status": 1})
		}
		if rf, ok := s.refunds[no]; ok {
			return cpSuccess(map[string]any{"trans_no": rf.orderNo, "message_id": "M" + rf.orderNo, "terminal_online_status": 1})
		}
		if code := s.refundable(orig, amount); code != "" {
			return cpFail(cpRefundCode(code), "refund refused")
		}
		rf := s.newRefund(no, orig, amount)
		rf.notifyURL = req["notify_url"]
		return cpSuccess(map[string]any{"trans_no": rf.orderNo, "message_id": "M" + rf.orderNo, "terminal_online_status": 1})
	default:
		return cpFail(cpParam, "trans_type")
	}
	online := 1
	if s.cpOffline {
		online = 0
	}
	key := cpParamsKey(req)
	if o, ok := s.orders[no]; ok {
		switch {
		case o.params != key:
			return cpFail(cpDuplicate, "merchant_order_no used with other parameters")
		case o.status == StatusFailure:
			return cpFail(cpClosed, "order is closed; pay with a new merchant_order_no")
		}
		return cpSuccess(map[string]any{"trans_no": o.orderNo, "message_id": "M" + o.orderNo, "terminal_online_status": online, "trans_amount": json.Number(o.amount.Decimal())})
	}
	if s.cpOffline && req["reject_trade_when_terminal_offline"] == "true" {
		return cpFail(cpOffline, "terminal offline")
	}
	o := s.newOrder(no, amount)
	o.codepay, o.params, o.notifyURL, o.terminalSN = true, key, req["notify_url"], req["terminal_sn"]
	o.product, o.subject = "Cloud Payment", req["description"]
	if !s.cpOffline {
		s.planCloudLocked(o)
	}
	return cpSuccess(map[string]any{"trans_no": o.orderNo, "message_id": "M" + o.orderNo, "terminal_online_status": online, "trans_amount": json.Number(o.amount.Decimal())})
}

func validNo(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

func (s *Sandbox) cpClose(req cpParams) cpAnswer {
	o, a, ok := s.cpFind(req)
	if !ok {
		return a
	}
	switch cpStatus(o) {
	case 0:
		return cpFail(cpPaying, "the customer is paying")
	case 2:
		return cpFail(cpPaid, "order is paid")
	case 1, 3:
		return cpFail(cpClosed, "order is closed")
	}
	s.fail(o, "CANCELLED", "order closed by merchant") // as a PayBy cancel: a capture after it is reported (CaptureAfterClose)
	return cpSuccess(map[string]any{"trans_no": o.orderNo, "message_id": "M" + o.orderNo})
}

func (s *Sandbox) cpQuery(req cpParams) cpAnswer {
	o, a, ok := s.cpFind(req)
	if !ok {
		return a
	}
	return cpSuccess(s.cpTrans(o))
}

func (s *Sandbox) cpRevoke(req cpParams) cpAnswer {
	o, a, ok := s.cpFind(req)
	if !ok {
		return a
	}
	if code := s.revoke(o); code != "" {
		return cpFail(cpRefunded, "order has refunds")
	}
	return cpSuccess(nil)
}

// cpRefundCode maps the sandbox's PayBy refusal codes to CodePay's.
func cpRefundCode(code string) string {
	switch code {
	case "62015":
		return cpNotPaid
	case "62040", "62002":
		return cpClosed
	case "62006":
		return cpExceeded
	case "62045":
		return cpRejected
	}
	return cpParam
}

func (s *Sandbox) cpRefundSubmit(req cpParams) cpAnswer {
	no := req["merchant_order_no"]
	if len(no) > 32 || !validNo(no) {
		return cpFail(cpParam, "merchant_order_no")
	}
	amount, ok := cpMoney(req["trans_amount"], req["price_currency"])
	if !ok {
		return cpFail(cpParam, "trans_amount or price_currency")
	}
	key := cpParamsKey(req)
	if r, ok := s.refunds[no]; ok {
		if r.params != key {
			return cpFail(cpDuplicate, "merchant_order_no used with other parameters")
		}
		return cpSuccess(s.cpRefund(r))
	}
	if _, ok := s.orders[no]; ok {
		return cpFail(cpDuplicate, "merchant_order_no is a sale")
	}
	origNo, origTrans := req["orig_merchant_order_no"], req["orig_trans_no"]
	if (origNo == "") == (origTrans == "") {
		return cpFail(cpParam, "exactly one of orig_merchant_order_no and orig_trans_no")
	}
	o, ok := s.orders[origNo]
	if origNo == "" {
		o, ok = s.ordersByNo[origTrans]
	}
	if !ok {
		return cpFail(cpNotExist, "original order does not exist")
	}
	if code := s.refundable(o, amount); code != "" {
		return cpFail(cpRefundCode(code), "refund refused")
	}
	r := s.newRefund(no, o, amount)
	r.codepay = true
	r.reason, r.notifyURL, r.params = req["description"], req["notify_url"], key
	return cpSuccess(s.cpRefund(r))
}

func (s *Sandbox) cpRefundQuery(req cpParams) cpAnswer {
	no, transNo := req["merchant_order_no"], req["trans_no"]
	if (no == "") == (transNo == "") {
		return cpFail(cpParam, "exactly one of merchant_order_no and trans_no")
	}
	r, ok := s.refunds[no]
	if no == "" {
		r, ok = s.refundsByNo[transNo]
	}
	if !ok {
		return cpFail(cpRefundNotExist, "refund does not exist")
	}
	return cpSuccess(s.cpRefund(r))
}
