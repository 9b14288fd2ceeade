package posbridgetest

import (
	"context"
	"sync"

	"github.com/posbridge/posbridge"
)

// ReversingTerminal is a FakeTerminal that also voids and refunds with the
// card present. Every void or refund answers what Answer set last
// (approved, "T1", by default) and, unless Answer said otherwise, its
// acquirer tells the gateway: a void revokes the original order, a refund
// is a succeeded refund under the refund's own number.
type ReversingTerminal struct {
	*FakeTerminal
	mu      sync.Mutex
	result  posbridge.TerminalResult // answer of the next void or refund
	err     error
	record  bool // the acquirer tells the gateway
	voids   []posbridge.OrderNo
	refunds []posbridge.OrderNo
}

var _ posbridge.CardPresentTerminal = (*ReversingTerminal)(nil)

// NewReversingTerminal returns a terminal whose acquirer tells gw and whose
// sales are all approved and charged.
func NewReversingTerminal(gw *FakeGateway) *ReversingTerminal {
	return &ReversingTerminal{FakeTerminal: NewFakeTerminal(gw), record: true,
		result: posbridge.TerminalResult{Outcome: posbridge.OutcomeApproved, Code: "000", TransStatus: "2", TransNo: "T1"}}
}

// Answer sets what the next voids and refunds answer, and whether the
// acquirer tells the gateway of them.
func (t *ReversingTerminal) Answer(res posbridge.TerminalResult, err error, record bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.result, t.err, t.record = res, err, record
}

// Void voids orig (void number no) with the set answer.
func (t *ReversingTerminal) Void(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	res, record, err := t.take(&t.voids, no)
	if record {
		t.gw.Revoke(orig)
	}
	return res, err
}

// Refund refunds amount of orig (refund number no) with the set answer.
func (t *ReversingTerminal) Refund(ctx context.Context, no, orig posbridge.OrderNo, amount posbridge.Money) (posbridge.TerminalResult, error) {
	res, record, err := t.take(&t.refunds, no)
	if record {
		t.gw.RecordRefund(no, orig, amount)
	}
	return res, err
}

// take notes no in list and returns the set answer and whether the
// acquirer tells the gateway.
func (t *ReversingTerminal) take(list *[]posbridge.OrderNo, no posbridge.OrderNo) (res posbridge.TerminalResult, record bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*list = append(*list, no)
	return t.result, t.record, t.err
}

// Voids returns the numbers of the voids that reached the terminal.
func (t *ReversingTerminal) Voids() []posbridge.OrderNo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]posbridge.OrderNo(nil), t.voids...)
}

// Refunds returns the numbers of the refunds that reached the terminal.
func (t *ReversingTerminal) Refunds() []posbridge.OrderNo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]posbridge.OrderNo(nil), t.refunds...)
}
