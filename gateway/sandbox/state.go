package sandbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/posbridge/posbridge"
)

// refundWindow is how long after creation an order may be refunded (§1.6).
const refundWindow = 180 * 24 * time.Hour

type order struct {
	merchantOrderNo string
	orderNo         string
	status          string
	revoked         bool
	amount          posbridge.Money
	subject         string
	product         string
	paySceneCode    string
	notifyURL       string
	deviceID        string
	requestTime     int64 // ms; the first create's, never changed by a repeat
	expiredTime     int64 // ms; 0 for orders made on a terminal
	params          string
	paid            posbridge.Money
	paidTime        time.Time
	card            posbridge.Card
	failCode        string
	failDes         string
	refunds         []*refund
	created         time.Time
	closed          time.Time // when it first went FAILURE (cancel, expiry, decline), zero if never

	// CodePay's view (codepay_orders.go, codepay_notify.go): codepay orders are notified in
	// CodePay's form; paying is trans_status 0 (the customer is at the
	// terminal), a state PayBy does not have (it stays CREATED).
	codepay    bool
	paying     bool
	terminalSN string
	// cloud is the simulated customer's next step on a cloud sale (zero
	// when none is planned).
	cloud cloudStep
}

type refund struct {
	refundMerchantOrderNo string
	orderNo               string
	origin                *order
	status                string
	amount                posbridge.Money
	reason                string
	notifyURL             string
	failCode              string
	failDes               string
	params                string
	internal              bool
	batched               bool // counted in a CodePay batch close (batch.go)
	requestTime           int64
	created               time.Time
	codepay               bool
}

// newOrder stores a CREATED order; s.mu must be held.
func (s *Sandbox) newOrder(no string, amount posbridge.Money) *order {
	s.seq++
	now := s.clock.Now()
	o := &order{
		merchantOrderNo: no,
		orderNo:         fmt.Sprintf("13%016d", s.seq),
		status:          StatusCreated,
		amount:          amount,
		requestTime:     now.UnixMilli(),
		created:         now,
	}
	s.orders[no] = o
	s.ordersByNo[o.orderNo] = o
	s.poke()
	return o
}

// newRefund stores a CREATED refund of o; s.mu must be held.
func (s *Sandbox) newRefund(no string, o *order, amount posbridge.Money) *refund {
	s.seq++
	now := s.clock.Now()
	r := &refund{
		refundMerchantOrderNo: no,
		orderNo:               fmt.Sprintf("19%016d", s.seq),
		origin:                o,
		status:                RefundCreated,
		amount:                amount,
		requestTime:           now.UnixMilli(),
		created:               now,
	}
	s.refunds[no] = r
	s.refundsByNo[r.orderNo] = r
	o.refunds = append(o.refunds, r)
	r.codepay = o.codepay
	s.poke()
	return r
}

// pay moves a CREATED order to PAID_SUCCESS and counts the charge.
func (s *Sandbox) pay(o *order, card posbridge.Card) {
	o.status = StatusPaid
	o.paying = false
	o.paid = o.amount
	o.paidTime = s.clock.Now()
	o.card = card
	s.charges[o.merchantOrderNo]++
	s.poke()
	s.notifyOrder(o)
}

// fail moves a CREATED order to FAILURE.
func (s *Sandbox) fail(o *order, code, des string) {
	o.status = StatusFailure
	o.paying = false
	o.failCode, o.failDes = code, des
	if o.closed.IsZero() {
		o.closed = s.clock.Now()
	}
	s.notifyOrder(o)
}

// revoke reverses o (§1.7): unpaid or paid and unsettled → FAILURE with
// revoked; settled → stays SETTLED, revoked, with an internal refund of what
// is left. It returns a PayBy code when refused, "" when done.
func (s *Sandbox) revoke(o *order) string {
	for _, r := range o.refunds {
		if !r.internal {
			return "62041"
		}
	}
	if o.revoked {
		return ""
	}
	o.revoked = true
	switch o.status {
	case StatusCreated, StatusPaid:
		o.status = StatusFailure
		o.failCode, o.failDes = "REVOKED", "order revoked"
		s.notifyOrder(o)
	case StatusSettled:
		r := s.newRefund(fmt.Sprintf("REVOKE%s", o.orderNo), o, o.paid)
		r.internal = true
		r.status = RefundSuccess
	}
	return ""
}

// refundable returns the PayBy code refusing a refund of amount from o, or "".
func (s *Sandbox) refundable(o *order, amount posbridge.Money) string {
	switch {
	case o.status == StatusCreated:
		return "62015"
	case o.revoked:
		return "62040"
	case o.status == StatusFailure:
		return "62002"
	case s.clock.Now().Sub(o.created) > refundWindow:
		return "62045"
	case amount.Currency != o.paid.Currency:
		return "400"
	case amount.Minor > s.remain(o).Minor:
		return "62006"
	}
	return ""
}

// remain is paid minus refunds done or pending.
func (s *Sandbox) remain(o *order) posbridge.Money {
	left := o.paid
	for _, r := range o.refunds {
		if r.status != RefundFailure {
			left.Minor -= r.amount.Minor
		}
	}
	if left.Minor < 0 {
		left.Minor = 0
	}
	return left
}

func (s *Sandbox) notifyOrder(o *order) {
	url := o.notifyURL
	if url == "" {
		url = s.notifyURL
	}
	if url == "" {
		return
	}
	if o.codepay {
		payload, _ := json.Marshal(s.cpTrans(o))
		s.notifier.enqueueAs("codepay", "trans", o.merchantOrderNo, o.status, url, payload)
		return
	}
	payload, _ := json.Marshal(s.wireOrder(o))
	s.notifier.enqueue("acquireOrder", o.merchantOrderNo, o.status, url, payload)
}

func (s *Sandbox) notifyRefund(r *refund) {
	url := r.notifyURL
	if url == "" {
		url = s.notifyURL
	}
	if url == "" || r.internal {
		return
	}
	if r.codepay {
		payload, _ := json.Marshal(s.cpRefund(r))
		s.notifier.enqueueAs("codepay", "trans", r.refundMerchantOrderNo, r.status, url, payload)
		return
	}
	payload, _ := json.Marshal(wireRefundOf(r))
	s.notifier.enqueue("refundOrder", r.refundMerchantOrderNo, r.status, url, payload)
}

func (s *Sandbox) view(o *order) Order {
	refunded := posbridge.Money{Currency: o.amount.Currency}
	for _, r := range o.refunds {
		if r.status != RefundFailure {
			refunded.Minor += r.amount.Minor
		}
	}
	return Order{
		MerchantOrderNo: o.merchantOrderNo,
		OrderNo:         o.orderNo,
		Status:          o.status,
		Revoked:         o.revoked,
		Amount:          o.amount,
		Paid:            o.paid,
		Refunded:        refunded,
		Charges:         s.charges[o.merchantOrderNo],
		Card:            o.card,
		FailCode:        o.failCode,
		NotifyURL:       o.notifyURL,
		CreatedAt:       o.created,
		PaidAt:          o.paidTime,
		ClosedAt:        o.closed,
		PaySceneCode:    o.paySceneCode,
	}
}

func (r *refund) view() Refund {
	return Refund{
		RefundMerchantOrderNo: r.refundMerchantOrderNo,
		OrderNo:               r.orderNo,
		OriginMerchantOrderNo: r.origin.merchantOrderNo,
		Status:                r.status,
		Amount:                r.amount,
		Internal:              r.internal,
		CreatedAt:             r.created,
	}
}

// MarshalJSON writes o with decimal-string amounts.
func (o Order) MarshalJSON() ([]byte, error) {
	type plain Order
	return json.Marshal(struct {
		plain
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
		Paid     string `json:"paidAmount,omitempty"`
		Refunded string `json:"refundedAmount"`
	}{plain(o), o.Amount.Decimal(), o.Amount.Currency, paidDecimal(o.Paid), o.Refunded.Decimal()})
}

// MarshalJSON writes r with a decimal-string amount.
func (r Refund) MarshalJSON() ([]byte, error) {
	type plain Refund
	return json.Marshal(struct {
		plain
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	}{plain(r), r.Amount.Decimal(), r.Amount.Currency})
}

func paidDecimal(m posbridge.Money) string {
	if m.Currency == "" {
		return ""
	}
	return m.Decimal()
}

// Wire forms of PayBy objects (research §1.6–1.8). They are written here,
// independently of the payby client, so that the two check each other.

type wireMoney struct {
	Currency string      `json:"currency"`
	Amount   json.Number `json:"amount"`
}

func moneyOf(m posbridge.Money) wireMoney {
	return wireMoney{Currency: m.Currency, Amount: json.Number(m.Decimal())}
}

// wireCardInfo is paymentInfo.cardInfo as PayBy's official SDKs read it:
// brand and last4. CardNo is set only by SetFullCardNumbers, which sends a
// full card number instead of last4.
type wireCardInfo struct {
	Brand  string `json:"brand,omitempty"`
	Last4  string `json:"last4,omitempty"`
	CardNo string `json:"cardNo,omitempty"`
}

type wirePaymentInfo struct {
	PaidAmount wireMoney     `json:"paidAmount"`
	PaidTime   int64         `json:"paidTime"`
	PayChannel string        `json:"payChannel"`
	CardInfo   *wireCardInfo `json:"cardInfo,omitempty"`
}

type wireAcquireOrder struct {
	RequestTime     int64            `json:"requestTime"`
	MerchantOrderNo string           `json:"merchantOrderNo"`
	OrderNo         string           `json:"orderNo"`
	Status          string           `json:"status"`
	TotalAmount     wireMoney        `json:"totalAmount"`
	ExpiredTime     int64            `json:"expiredTime,omitempty"`
	NotifyURL       string           `json:"notifyUrl,omitempty"`
	Subject         string           `json:"subject,omitempty"`
	Product         string           `json:"product"`
	PaySceneCode    string           `json:"paySceneCode,omitempty"`
	DeviceID        string           `json:"deviceId,omitempty"`
	PaymentInfo     *wirePaymentInfo `json:"paymentInfo,omitempty"`
	FailCode        string           `json:"failCode,omitempty"`
	FailDes         string           `json:"failDes,omitempty"`
	Revoked         string           `json:"revoked"`
}

func (s *Sandbox) wireOrder(o *order) wireAcquireOrder {
	w := wireAcquireOrder{
		RequestTime:     o.requestTime,
		MerchantOrderNo: o.merchantOrderNo,
		OrderNo:         o.orderNo,
		Status:          o.status,
		TotalAmount:     moneyOf(o.amount),
		ExpiredTime:     o.expiredTime,
		NotifyURL:       o.notifyURL,
		Subject:         o.subject,
		Product:         o.product,
		PaySceneCode:    o.paySceneCode,
		DeviceID:        o.deviceID,
		FailCode:        o.failCode,
		FailDes:         o.failDes,
		Revoked:         fmt.Sprint(o.revoked),
	}
	if !o.paidTime.IsZero() {
		w.PaymentInfo = &wirePaymentInfo{PaidAmount: moneyOf(o.paid), PaidTime: o.paidTime.UnixMilli(), PayChannel: "BANKCARD"}
		if o.card != (posbridge.Card{}) {
			w.PaymentInfo.CardInfo = &wireCardInfo{Brand: o.card.Brand, Last4: o.card.Last4}
			if s.timed.fullCardNums {
				w.PaymentInfo.CardInfo.Last4, w.PaymentInfo.CardInfo.CardNo = "", fullCardNo(o.orderNo, o.card.Last4)
			}
		}
	}
	return w
}

type wireRefundOrder struct {
	RequestTime           int64     `json:"requestTime"`
	RefundMerchantOrderNo string    `json:"refundMerchantOrderNo"`
	OrderNo               string    `json:"orderNo"`
	OriginMerchantOrderNo string    `json:"originMerchantOrderNo"`
	OriginOrderNo         string    `json:"originOrderNo"`
	Status                string    `json:"status"`
	Amount                wireMoney `json:"amount"`
	NotifyURL             string    `json:"notifyUrl,omitempty"`
	Reason                string    `json:"reason,omitempty"`
	FailCode              string    `json:"failCode,omitempty"`
	FailDes               string    `json:"failDes,omitempty"`
}

func wireRefundOf(r *refund) wireRefundOrder {
	return wireRefundOrder{
		RequestTime:           r.requestTime,
		RefundMerchantOrderNo: r.refundMerchantOrderNo,
		OrderNo:               r.orderNo,
		OriginMerchantOrderNo: r.origin.merchantOrderNo,
		OriginOrderNo:         r.origin.orderNo,
		Status:                r.status,
		Amount:                moneyOf(r.amount),
		NotifyURL:             r.notifyURL,
		Reason:                r.reason,
		FailCode:              r.failCode,
		FailDes:               r.failDes,
	}
}

type wireRefundSummary struct {
	AcquireAmount      wireMoney `json:"acquireAmount"`
	RemainRefundAmount wireMoney `json:"remainRefundAmount"`
}

type wireRefundBody struct {
	RefundOrder   wireRefundOrder   `json:"refundOrder"`
	RefundSummary wireRefundSummary `json:"refundSummary"`
}

func (s *Sandbox) refundBody(r *refund) wireRefundBody {
	return wireRefundBody{
		RefundOrder: wireRefundOf(r),
		RefundSummary: wireRefundSummary{
			AcquireAmount:      moneyOf(r.origin.paid),
			RemainRefundAmount: moneyOf(s.remain(r.origin)),
		},
	}
}
