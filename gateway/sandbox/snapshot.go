package sandbox

import (
	"sort"
	"time"

	"github.com/posbridge/posbridge"
)

// Order is a snapshot of an order in the sandbox.
type Order struct {
	MerchantOrderNo string          `json:"merchantOrderNo"`
	OrderNo         string          `json:"orderNo"`
	Status          string          `json:"status"`
	Revoked         bool            `json:"revoked"`
	Amount          posbridge.Money `json:"-"`
	Paid            posbridge.Money `json:"-"` // zero unless it was paid
	Refunded        posbridge.Money `json:"-"` // refunds created or succeeded
	Charges         int             `json:"charges"`
	Card            posbridge.Card  `json:"card"`
	FailCode        string          `json:"failCode,omitempty"`
	NotifyURL       string          `json:"notifyUrl,omitempty"`
	CreatedAt       time.Time       `json:"createdAt"`
	PaidAt          time.Time       `json:"paidAt,omitzero"`
	// ClosedAt is when the order first failed (canceled, expired or
	// declined); a capture after it (CaptureAfterClose) pays it later.
	ClosedAt time.Time `json:"closedAt,omitzero"`
	// PaySceneCode is placeOrder's (DYNQR for a QR payment); empty for
	// orders made on a terminal.
	PaySceneCode string `json:"paySceneCode,omitempty"`
}

// Refund is a snapshot of a refund in the sandbox.
type Refund struct {
	RefundMerchantOrderNo string          `json:"refundMerchantOrderNo"`
	OrderNo               string          `json:"orderNo"`
	OriginMerchantOrderNo string          `json:"originMerchantOrderNo"`
	Status                string          `json:"status"`
	Amount                posbridge.Money `json:"-"`
	Internal              bool            `json:"internal"` // made by a revoke of a settled order
	CreatedAt             time.Time       `json:"createdAt"`
}

// Order returns the order with merchantOrderNo no.
func (s *Sandbox) Order(no string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return Order{}, false
	}
	return s.view(o), true
}

// Orders returns every order, oldest first.
func (s *Sandbox) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := make([]Order, 0, len(s.orders))
	for _, o := range s.orders {
		out = append(out, s.view(o))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderNo < out[j].OrderNo })
	return out
}

// Refunds returns every refund, oldest first.
func (s *Sandbox) Refunds() []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		out = append(out, r.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderNo < out[j].OrderNo })
	return out
}

// Charges returns how many times each merchantOrderNo went to PAID_SUCCESS.
// Anything above 1 is a double charge.
func (s *Sandbox) Charges() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.charges))
	for k, v := range s.charges {
		out[k] = v
	}
	return out
}

// Request is one PayBy API request the sandbox saw and what it answered.
type Request struct {
	Path        string    `json:"path"`
	At          time.Time `json:"at"`
	PartnerID   string    `json:"partnerId"`
	SignOK      bool      `json:"signOk"`
	Body        string    `json:"body"`
	ApplyStatus string    `json:"applyStatus"`
	Code        string    `json:"code"`
	Fault       FaultKind `json:"fault,omitempty"`
}

// Requests returns every API request seen, in order.
func (s *Sandbox) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}
