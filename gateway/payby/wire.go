package payby

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// Currency is the only currency PayBy supports.
const Currency = "AED"

// Money is PayBy's amount object. Amount is kept as the raw JSON, since PayBy
// writes a number and some clients a string; read it with Parse.
type Money struct {
	Currency string          `json:"currency"`
	Amount   json.RawMessage `json:"amount"`
}

// MoneyOf writes m as {"currency","amount"} with amount a JSON number with
// exactly the currency's decimals, never through a float.
func MoneyOf(m posbridge.Money) Money {
	return Money{Currency: m.Currency, Amount: json.RawMessage(m.Decimal())}
}

// Parse reads the amount, number or string, exactly.
func (m *Money) Parse() (posbridge.Money, error) {
	if m == nil || len(m.Amount) == 0 {
		return posbridge.Money{}, fmt.Errorf("amount missing")
	}
	return posbridge.ParseMoneyJSON(m.Amount, m.Currency)
}

// flexString reads a JSON string or number as its text (codes are strings
// in PayBy's docs, but a number would not surprise).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or number: %w", err)
	}
	*f = flexString(n)
	return nil
}

// parseTime reads a time given as epoch milliseconds (number or string), or
// RFC 3339. The zero time when absent.
func parseTime(f flexString) (time.Time, error) {
	s := strings.TrimSpace(string(f))
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: not epoch milliseconds or RFC 3339", s)
	}
	return t, nil
}

// CardInfo is the card part of paymentInfo. PayBy does not document its
// fields; the names below are those seen in samples and in the sandbox. Only
// the brand and the last four digits are ever kept.
type CardInfo struct {
	CardBrand    string `json:"cardBrand"`
	Brand        string `json:"brand"`
	CardOrg      string `json:"cardOrg"`
	CardNo       string `json:"cardNo"`
	MaskedCardNo string `json:"maskedCardNo"`
	Last4        string `json:"last4"`
}

func (c *CardInfo) card() posbridge.Card {
	if c == nil {
		return posbridge.Card{}
	}
	return gateway.Card(firstNonEmpty(c.CardBrand, c.Brand, c.CardOrg), firstNonEmpty(c.Last4, c.MaskedCardNo, c.CardNo))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// PaymentInfo is acquireOrder.paymentInfo.
type PaymentInfo struct {
	PaidAmount *Money     `json:"paidAmount"`
	PaidTime   flexString `json:"paidTime"`
	PayChannel string     `json:"payChannel"`
	CardInfo   *CardInfo  `json:"cardInfo"`
}

// AcquireOrder is PayBy's order object (research §1.7), as far as posbridge reads it.
type AcquireOrder struct {
	RequestTime     flexString   `json:"requestTime"`
	MerchantOrderNo string       `json:"merchantOrderNo"`
	OrderNo         flexString   `json:"orderNo"`
	Status          string       `json:"status"`
	TotalAmount     *Money       `json:"totalAmount"`
	ExpiredTime     flexString   `json:"expiredTime"`
	Subject         string       `json:"subject"`
	Product         string       `json:"product"`
	PaySceneCode    string       `json:"paySceneCode"`
	DeviceID        string       `json:"deviceId"`
	PaymentInfo     *PaymentInfo `json:"paymentInfo"`
	FailCode        flexString   `json:"failCode"`
	FailDes         string       `json:"failDes"`
	Revoked         flexString   `json:"revoked"`
}

var orderStatuses = map[string]posbridge.GatewayStatus{
	"CREATED":      posbridge.GatewayCreated,
	"PAID_SUCCESS": posbridge.GatewayPaid,
	"SETTLED":      posbridge.GatewaySettled,
	"FAILURE":      posbridge.GatewayFailed,
}

// Gateway converts a to the root package's view. It fails on an unknown
// status, a missing or unreadable amount, or a bad merchant order number.
func (a *AcquireOrder) Gateway() (posbridge.GatewayOrder, error) {
	status, ok := orderStatuses[a.Status]
	if !ok {
		return posbridge.GatewayOrder{}, fmt.Errorf("acquireOrder: unknown status %q", a.Status)
	}
	if !ValidMerchantOrderNo(a.MerchantOrderNo) {
		return posbridge.GatewayOrder{}, fmt.Errorf("acquireOrder: merchantOrderNo %q", a.MerchantOrderNo)
	}
	amount, err := a.TotalAmount.Parse()
	if err != nil {
		return posbridge.GatewayOrder{}, fmt.Errorf("acquireOrder totalAmount: %w", err)
	}
	revoked, err := parseBool(a.Revoked)
	if err != nil {
		return posbridge.GatewayOrder{}, fmt.Errorf("acquireOrder revoked: %w", err)
	}
	g := posbridge.GatewayOrder{
		OrderNo:   posbridge.OrderNo(a.MerchantOrderNo),
		GatewayNo: string(a.OrderNo),
		Status:    status,
		Revoked:   revoked,
		Amount:    amount,
		FailCode:  string(a.FailCode),
		FailMsg:   a.FailDes,
	}
	if p := a.PaymentInfo; p != nil {
		// A bad paidTime must not hide a payment; it only loses the time.
		g.PaidAt, _ = parseTime(p.PaidTime)
		g.Card = p.CardInfo.card()
	}
	return g, nil
}

func parseBool(f flexString) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(string(f))) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", string(f))
}

// RefundOrder is PayBy's refund object (research §1.8).
type RefundOrder struct {
	RefundMerchantOrderNo string     `json:"refundMerchantOrderNo"`
	OrderNo               flexString `json:"orderNo"`
	OriginMerchantOrderNo string     `json:"originMerchantOrderNo"`
	Status                string     `json:"status"`
	Amount                *Money     `json:"amount"`
	Reason                string     `json:"reason"`
	FailCode              flexString `json:"failCode"`
	FailDes               string     `json:"failDes"`
}

var refundStatuses = map[string]posbridge.GatewayRefundStatus{
	"CREATED":          posbridge.GatewayRefundCreated,
	"REFUNDED_SETTLED": posbridge.GatewayRefundCreated, // money taken from the merchant, not yet final
	"SUCCESS":          posbridge.GatewayRefundSuccess,
	"FAILURE":          posbridge.GatewayRefundFailed,
}

// Gateway converts r to the root package's view.
func (r *RefundOrder) Gateway() (posbridge.GatewayRefund, error) {
	status, ok := refundStatuses[r.Status]
	if !ok {
		return posbridge.GatewayRefund{}, fmt.Errorf("refundOrder: unknown status %q", r.Status)
	}
	if !ValidMerchantOrderNo(r.RefundMerchantOrderNo) {
		return posbridge.GatewayRefund{}, fmt.Errorf("refundOrder: refundMerchantOrderNo %q", r.RefundMerchantOrderNo)
	}
	amount, err := r.Amount.Parse()
	if err != nil {
		return posbridge.GatewayRefund{}, fmt.Errorf("refundOrder amount: %w", err)
	}
	msg := r.FailDes
	if msg == "" && r.FailCode != "" {
		msg = string(r.FailCode)
	}
	return posbridge.GatewayRefund{
		RefundNo:  posbridge.OrderNo(r.RefundMerchantOrderNo),
		OrderNo:   posbridge.OrderNo(r.OriginMerchantOrderNo),
		GatewayNo: string(r.OrderNo),
		Status:    status,
		Amount:    amount,
		FailMsg:   msg,
	}, nil
}

// TransferBankCardOrder is the object of a bank-card transfer notification
// (research §1.9a). Personal fields arrive as SHA-256 hashes.
type TransferBankCardOrder struct {
	RequestTime       flexString `json:"requestTime"`
	MerchantOrderNo   string     `json:"merchantOrderNo"`
	OrderNo           flexString `json:"orderNo"`
	Product           string     `json:"product"`
	Status            string     `json:"status"` // CREATED, SUCCESS or FAILURE
	Amount            *Money     `json:"amount"`
	AccountHolderType string     `json:"accountHolderType"`
	FirstName         string     `json:"firstName"`
	LastName          string     `json:"lastName"`
	MiddleName        string     `json:"middleName"`
	CompanyName       string     `json:"companyName"`
	CardNumber        string     `json:"cardNumber"`
	ExpiryMonth       string     `json:"expiryMonth"`
	ExpiryYear        string     `json:"expiryYear"`
	Memo              string     `json:"memo"`
	NotifyURL         string     `json:"notifyUrl"`
	FailDes           string     `json:"failDes"`
	BankReference     string     `json:"bankReference"`
	PayerFeeAmount    *Money     `json:"payerFeeAmount"`
	PayerFeeMemberID  string     `json:"payerFeeMemberId"`
	PaidTime          flexString `json:"paidTime"`
	RefundedTime      flexString `json:"refundedTime"`
}

var transferStatuses = map[string]posbridge.GatewayStatus{
	"CREATED": posbridge.GatewayCreated,
	"SUCCESS": posbridge.GatewayPaid,
	"FAILURE": posbridge.GatewayFailed,
}

// ValidMerchantOrderNo reports whether s follows PayBy's rule for merchant
// (and refund) order numbers: 1 to 64 letters, digits, "-" and "_".
func ValidMerchantOrderNo(s string) bool { return gateway.ValidMerchantNo(s, 64) }

// head is the response envelope's head (research §1.4).
type head struct {
	ApplyStatus string     `json:"applyStatus"`
	Code        flexString `json:"code"`
	Msg         string     `json:"msg"`
	TraceCode   flexString `json:"traceCode"`
}

type envelope struct {
	Head *head           `json:"head"`
	Body json.RawMessage `json:"body"`
}
