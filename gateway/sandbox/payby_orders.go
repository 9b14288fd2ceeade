package sandbox

import (
	"encoding/json"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payby"
)

type reqMoney struct {
	Currency string          `json:"currency"`
	Amount   json.RawMessage `json:"amount"`
}

func (m *reqMoney) parse() (posbridge.Money, bool) {
	if m == nil || m.Currency != "AED" {
		return posbridge.Money{}, false
	}
	v, err := posbridge.ParseMoneyJSON(m.Amount, m.Currency)
	if err != nil || v.Minor <= 0 {
		return posbridge.Money{}, false
	}
	return v, true
}

func (s *Sandbox) placeOrder(biz json.RawMessage, rt int64) answer {
	var req struct {
		MerchantOrderNo string          `json:"merchantOrderNo"`
		Subject         string          `json:"subject"`
		TotalAmount     *reqMoney       `json:"totalAmount"`
		PaySceneCode    string          `json:"paySceneCode"`
		NotifyURL       string          `json:"notifyUrl"`
		ExpiredTime     json.RawMessage `json:"expiredTime"`
		DeviceID        string          `json:"deviceId"`
	}
	if err := json.Unmarshal(biz, &req); err != nil {
		return failure("400", "INVALID_PARAMETER: bizContent")
	}
	if !payby.ValidMerchantOrderNo(req.MerchantOrderNo) {
		return failure("400", "INVALID_PARAMETER: merchantOrderNo")
	}
	if req.Subject == "" {
		return failure("400", "INVALID_PARAMETER: subject")
	}
	amount, ok := req.TotalAmount.parse()
	if !ok {
		return failure("400", "INVALID_PARAMETER: totalAmount")
	}
	if !paySceneCodes[req.PaySceneCode] {
		return failure("62012")
	}
	expired := rt + (2 * time.Hour).Milliseconds()
	if len(req.ExpiredTime) > 0 {
		var err error
		if expired, err = parseMillis(req.ExpiredTime); err != nil {
			return failure("400", "INVALID_PARAMETER: expiredTime")
		}
		switch {
		case expired < rt:
			return failure("62008")
		case expired > rt+(48*time.Hour).Milliseconds():
			return failure("62009")
		}
	}
	params := canonical(biz)
	if o, ok := s.orders[req.MerchantOrderNo]; ok {
		if o.params != params {
			return failure("62016")
		}
		if o.status != StatusCreated && !s.recreate {
			return failure(map[string]string{StatusPaid: "62001", StatusFailure: "62002", StatusSettled: "62003"}[o.status])
		}
		return success(s.placeBody(o))
	}
	o := s.newOrder(req.MerchantOrderNo, amount)
	o.subject, o.paySceneCode, o.notifyURL, o.deviceID = req.Subject, req.PaySceneCode, req.NotifyURL, req.DeviceID
	o.product, o.requestTime, o.expiredTime, o.params = "Basic Payment Gateway", rt, expired, params
	return success(s.placeBody(o))
}

func (s *Sandbox) placeBody(o *order) any {
	body := map[string]any{"acquireOrder": s.wireOrder(o)}
	if o.status == StatusCreated {
		body["interActionParams"] = map[string]string{"tokenUrl": s.tokenURLLocked(o)}
	}
	return body
}

// findOrder resolves {merchantOrderNo} or {orderNo} (exactly one).
func (s *Sandbox) findOrder(biz json.RawMessage) (*order, answer, bool) {
	var req struct {
		MerchantOrderNo string `json:"merchantOrderNo"`
		OrderNo         string `json:"orderNo"`
	}
	if err := json.Unmarshal(biz, &req); err != nil || (req.MerchantOrderNo == "") == (req.OrderNo == "") {
		return nil, failure("400", "INVALID_PARAMETER: exactly one of merchantOrderNo and orderNo"), false
	}
	if req.MerchantOrderNo != "" {
		o, ok := s.orders[req.MerchantOrderNo]
		if !ok {
			return nil, failure("62004"), false
		}
		return o, answer{}, true
	}
	o, ok := s.ordersByNo[req.OrderNo]
	if !ok {
		return nil, failure("62035"), false
	}
	return o, answer{}, true
}

func (s *Sandbox) getOrder(biz json.RawMessage, _ int64) answer {
	o, a, ok := s.findOrder(biz)
	if !ok {
		return a
	}
	return success(map[string]any{"acquireOrder": s.wireOrder(o)})
}

func (s *Sandbox) cancelOrder(biz json.RawMessage, _ int64) answer {
	o, a, ok := s.findOrder(biz)
	if !ok {
		return a
	}
	switch o.status {
	case StatusPaid:
		return failure("62001")
	case StatusSettled:
		return failure("62003")
	case StatusFailure:
		return failure("62002")
	}
	s.fail(o, "CANCELLED", "order cancelled by merchant")
	return success(map[string]any{"acquireOrder": s.wireOrder(o)})
}

func (s *Sandbox) revokeOrder(biz json.RawMessage, _ int64) answer {
	o, a, ok := s.findOrder(biz)
	if !ok {
		return a
	}
	if code := s.revoke(o); code != "" {
		return failure(code)
	}
	return success(map[string]any{"acquireOrder": s.wireOrder(o)})
}

func (s *Sandbox) placeRefund(biz json.RawMessage, rt int64) answer {
	var req struct {
		RefundMerchantOrderNo string    `json:"refundMerchantOrderNo"`
		OriginMerchantOrderNo string    `json:"originMerchantOrderNo"`
		OriginOrderNo         string    `json:"originOrderNo"`
		Amount                *reqMoney `json:"amount"`
		Reason                string    `json:"reason"`
		NotifyURL             string    `json:"notifyUrl"`
	}
	if err := json.Unmarshal(biz, &req); err != nil {
		return failure("400", "INVALID_PARAMETER: bizContent")
	}
	if !payby.ValidMerchantOrderNo(req.RefundMerchantOrderNo) {
		return failure("400", "INVALID_PARAMETER: refundMerchantOrderNo")
	}
	if (req.OriginMerchantOrderNo == "") == (req.OriginOrderNo == "") {
		return failure("400", "INVALID_PARAMETER: exactly one of originMerchantOrderNo and originOrderNo")
	}
	if len(req.Reason) > 64 {
		return failure("400", "INVALID_PARAMETER: reason")
	}
	amount, ok := req.Amount.parse()
	if !ok {
		return failure("400", "INVALID_PARAMETER: amount")
	}
	params := canonical(biz)
	if r, ok := s.refunds[req.RefundMerchantOrderNo]; ok {
		if r.params != params {
			return failure("62017")
		}
		return success(s.refundBody(r))
	}
	var o *order
	if req.OriginMerchantOrderNo != "" {
		if o, ok = s.orders[req.OriginMerchantOrderNo]; !ok {
			return failure("62004")
		}
	} else if o, ok = s.ordersByNo[req.OriginOrderNo]; !ok {
		return failure("62035")
	}
	if code := s.refundable(o, amount); code != "" {
		return failure(code)
	}
	r := s.newRefund(req.RefundMerchantOrderNo, o, amount)
	r.reason, r.notifyURL, r.params, r.requestTime = req.Reason, req.NotifyURL, params, rt
	return success(s.refundBody(r))
}

func (s *Sandbox) getRefund(biz json.RawMessage, _ int64) answer {
	var req struct {
		RefundMerchantOrderNo string `json:"refundMerchantOrderNo"`
		OrderNo               string `json:"orderNo"`
	}
	if err := json.Unmarshal(biz, &req); err != nil || (req.RefundMerchantOrderNo == "") == (req.OrderNo == "") {
		return failure("400", "INVALID_PARAMETER: exactly one of refundMerchantOrderNo and orderNo")
	}
	var r *refund
	var ok bool
	if req.RefundMerchantOrderNo != "" {
		if r, ok = s.refunds[req.RefundMerchantOrderNo]; !ok {
			return failure("62007")
		}
	} else if r, ok = s.refundsByNo[req.OrderNo]; !ok {
		return failure("62035")
	}
	return success(s.refundBody(r))
}
