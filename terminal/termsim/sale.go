package termsim

import (
	"context"
	"fmt"
	"strconv"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
)

func (s *Sim) scriptLocked(no string) Script {
	sc, ok := s.scripts[no]
	if !ok {
		sc = s.def
	}
	if sc.Action == "" {
		sc.Action = Approve
	}
	return sc
}

func successCode(sc Script) string {
	if sc.SuccessCode != "" {
		return sc.SuccessCode
	}
	return terminal.CodeSuccess
}

func reply(req terminal.Message, code, msg string, biz terminal.BizData) terminal.Message {
	return terminal.Message{
		Topic: req.Topic, RequestID: req.RequestID, AppID: req.AppID,
		ResponseCode: code, ResponseMsg: msg, Biz: biz,
	}
}

func (t *Txn) biz() terminal.BizData {
	b := terminal.BizData{
		TransType: t.TransType, MerchantOrderNo: t.OrderNo, OrigMerchantNo: t.OrigNo,
		OrderAmount: t.Amount.Decimal(), PriceCurrency: t.Amount.Currency,
		TransStatus: t.Status, TransNo: t.TransNo,
	}
	if t.Status == "2" || t.Status == "3" {
		b.PayMethodID = "Visa"
		b.CardNo = "411111******1111"
	}
	if !t.CompletedAt.IsZero() {
		b.TransEndTime = t.CompletedAt.UTC().Format("2006-01-02 15:04:05")
	}
	return b
}

// request handles one business message and returns the responses to send
// and whether the CloseMidSale fault wants the link closed.
func (s *Sim) request(ctx context.Context, m terminal.Message) ([]terminal.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.completeDueLocked(ctx)
	switch m.Topic {
	case terminal.TopicOrder:
		s.sales[m.Biz.MerchantOrderNo]++
		r, closeLink := s.orderLocked(ctx, m)
		return append(out, r...), closeLink
	case terminal.TopicQuery:
		no := s.keyedNoLocked(m.Biz)
		t, ok := s.txns[no]
		if !ok || no == "" {
			return append(out, reply(m, terminal.CodeNotExist, "Transaction does not exist", s.keyedLocked(terminal.BizData{MerchantOrderNo: no}))), false
		}
		return append(out, reply(m, terminal.CodeSuccess, "", s.keyedLocked(t.biz()))), false
	case terminal.TopicClose:
		no := s.keyedNoLocked(m.Biz)
		t, ok := s.txns[no]
		bizNo := s.keyedLocked(terminal.BizData{MerchantOrderNo: no})
		switch {
		case !ok || no == "":
			return append(out, reply(m, terminal.CodeNotExist, "Transaction does not exist", bizNo)), false
		case s.pending != nil && s.pending.txn == t:
			t.Status, t.Code, t.CompletedAt = "1", terminal.CodeCanceled, s.clock.Now()
			s.pending = nil
			if !s.pers.SilentClose {
				orig := terminal.Message{Topic: terminal.TopicOrder, RequestID: t.RequestID, AppID: s.appIDLocked(t)}
				out = append(out, reply(orig, terminal.CodeCanceled, "Transaction cancellation", t.biz()))
			}
			return append(out, reply(m, terminal.CodeSuccess, "", bizNo)), false
		case t.Status == "1":
			return append(out, reply(m, terminal.CodeSuccess, "", bizNo)), false
		default:
			return append(out, reply(m, terminal.CodeCloseFailed, "Failed to close the transaction", bizNo)), false
		}
	}
	s.log.Info("unknown topic ignored", "topic", m.Topic)
	return out, false
}

// keyedNoLocked reads the order number of a close or query under the
// key(s) the personality reads.
func (s *Sim) keyedNoLocked(b terminal.BizData) string {
	switch s.pers.Keys {
	case KeysSnake:
		return b.MerchantOrderNo
	case KeysCamel:
		return b.MerchantOrderNoCamel
	}
	return b.OrderNo()
}

// keyedLocked moves the order number of a close or query answer to the
// camelCase key for a terminal that reads only that one.
func (s *Sim) keyedLocked(b terminal.BizData) terminal.BizData {
	if s.pers.Keys == KeysCamel {
		b.MerchantOrderNoCamel, b.MerchantOrderNo = b.MerchantOrderNo, ""
	}
	return b
}

// appIDLocked is the app_id echoed in the answer to t's request.
func (s *Sim) appIDLocked(t *Txn) string {
	if s.pers.NoAppID {
		return ""
	}
	return t.AppID
}

func (s *Sim) orderLocked(ctx context.Context, m terminal.Message) ([]terminal.Message, bool) {
	no := m.Biz.MerchantOrderNo
	bizNo := terminal.BizData{MerchantOrderNo: no, TransStatus: "1"}
	if s.pending != nil {
		return []terminal.Message{reply(m, terminal.CodeBusy, "Transaction in progress, try later", terminal.BizData{MerchantOrderNo: no})}, false
	}
	if _, ok := s.txns[no]; ok {
		return []terminal.Message{reply(m, terminal.CodeDuplicateNo, "Duplicate merchant order number", terminal.BizData{MerchantOrderNo: no})}, false
	}
	if _, err := posbridge.ParseOrderNo(no); err != nil {
		return []terminal.Message{reply(m, terminal.CodeBadParam, "Transaction parameter error[[M001]Invalid order number]", bizNo)}, false
	}
	cur := m.Biz.PriceCurrency
	if cur == "" {
		cur = s.cfg.Currency
	}
	amount, err := posbridge.ParseAmount(m.Biz.OrderAmount, cur)
	if m.Biz.TransType == terminal.TransVoid && m.Biz.OrderAmount == "" && !s.pers.VoidNeedsAmount {
		// CodePay's SDK sends a void without an amount: it voids the
		// original sale's amount (a missing original is refused below).
		amount, err = posbridge.Money{Currency: cur}, nil
		if o, ok := s.txns[m.Biz.OrigMerchantNo]; ok {
			amount = o.Amount
		}
	}
	if err != nil {
		return []terminal.Message{reply(m, terminal.CodeBadParam, "Transaction parameter error[[M003]Invalid Amount]", bizNo)}, false
	}
	s.seq++
	t := &Txn{
		OrderNo: no, OrigNo: m.Biz.OrigMerchantNo, TransType: m.Biz.TransType, Amount: amount,
		Status: "0", RequestID: m.RequestID, AppID: m.AppID,
		TransNo: fmt.Sprintf("50210000%014d", s.seq),
	}
	if t.TransType == "" {
		t.TransType = terminal.TransSale
	}
	switch t.TransType {
	case terminal.TransSale:
	case terminal.TransVoid, terminal.TransRefund:
		r := s.reverseLocked(ctx, m, t)
		if s.scriptLocked(no).LoseResponse {
			return nil, false // done (and recorded), answer lost
		}
		return []terminal.Message{r}, false
	default:
		return []terminal.Message{reply(m, "114", "Unsupported transaction type", bizNo)}, false
	}
	s.txns[no] = t
	sc := s.scriptLocked(no)
	if s.reportNew && s.cfg.Acquirer != nil {
		err := s.cfg.Acquirer.Record(ctx, posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(no), Kind: "sale", Amount: amount, Status: posbridge.GatewayCreated})
		if err != nil {
			s.log.Warn("acquirer created record", posbridge.LogKeyOrder, no, posbridge.LogKeyError, err)
		}
	}
	p := &pendingSale{txn: t, script: sc}
	if sc.Action != Never {
		p.completeAt = s.clock.Now().Add(sc.Delay)
	}
	s.pending = p
	closeLink := s.faults.CloseMidSale
	s.faults.CloseMidSale = false
	var out []terminal.Message
	if sc.Delay == 0 && !closeLink {
		out = s.completeDueLocked(ctx)
	}
	return out, closeLink
}

func (s *Sim) reverseLocked(ctx context.Context, m terminal.Message, t *Txn) terminal.Message {
	orig, ok := s.txns[t.OrigNo]
	if !ok || orig.Status != "2" || orig.TransType != terminal.TransSale {
		t.Status, t.Code = "1", "119"
		s.txns[t.OrderNo] = t
		return reply(m, "119", "Cannot void", t.biz())
	}
	kind := "refund"
	if t.TransType == terminal.TransVoid {
		kind = "void"
	}
	if s.cfg.Acquirer != nil {
		err := s.cfg.Acquirer.Record(ctx, posbridge.AcquirerRecord{
			OrderNo: posbridge.OrderNo(t.OrderNo), OrigNo: posbridge.OrderNo(orig.OrderNo),
			Kind: kind, Amount: t.Amount, Status: posbridge.GatewayPaid,
		})
		if err != nil {
			t.Status, t.Code = "1", "109"
			s.txns[t.OrderNo] = t
			return reply(m, "109", "Network anomaly", t.biz())
		}
	}
	t.Status, t.Code, t.CompletedAt = "2", terminal.CodeSuccess, s.clock.Now()
	if kind == "void" {
		orig.Status = "3"
	}
	s.txns[t.OrderNo] = t
	return reply(m, successCode(s.scriptLocked(t.OrderNo)), "SUCCESS", t.biz())
}

// completeDueLocked finishes the open sale when its time has come and
// returns the responses to send now.
func (s *Sim) completeDueLocked(ctx context.Context) []terminal.Message {
	p := s.pending
	if p == nil || p.completeAt.IsZero() || s.clock.Now().Before(p.completeAt) {
		return nil
	}
	s.pending = nil
	t, sc := p.txn, p.script
	t.CompletedAt = s.clock.Now()
	rec := posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(t.OrderNo), Kind: "sale", Amount: t.Amount}
	code, msg := "", ""
	switch sc.Action {
	case Approve:
		t.Status, code, msg = "2", successCode(sc), "SUCCESS"
		rec.Status = posbridge.GatewayPaid
		rec.Card = posbridge.Card{Brand: "Visa", Last4: "1111"}
	case Decline:
		t.Status, code, msg = "1", terminal.CodeDeclined, "Transaction reject"
		rec.Status = posbridge.GatewayFailed
	case Cancel:
		// Never reached the acquirer: nothing to report.
		t.Status, code, msg = "1", terminal.CodeUserCancel, "Operator cancellation[[K026]Manual cancelation by operator]"
	case ReadTimeout:
		t.Status, code, msg = "1", terminal.CodeReadTimeout, "Read card timeout"
	case DeclineCharged:
		// The terminal believes the sale failed; the acquirer took the money.
		t.Status, code, msg = "1", "106", "Transaction failed"
		rec.Status = posbridge.GatewayPaid
		rec.Card = posbridge.Card{Brand: "Visa", Last4: "1111"}
		if sc.AcquirerDelay == 0 {
			sc.AcquirerDelay = DefaultChargedDelay
		}
	}
	if sc.Code != "" {
		code = sc.Code
	}
	if rec.Status == posbridge.GatewayPaid {
		s.charges[t.OrderNo]++
	}
	switch {
	case rec.Status == "" || s.cfg.Acquirer == nil:
	case sc.AcquirerDelay > 0:
		// The terminal answers now; the acquirer reports later.
		s.recordLater(rec, sc.AcquirerDelay)
	default:
		// The acquirer learns of the money before the ECR does, so a lost
		// response still leaves the payment on record.
		if err := s.cfg.Acquirer.Record(ctx, rec); err != nil {
			s.log.Warn("acquirer record", posbridge.LogKeyOrder, t.OrderNo, posbridge.LogKeyError, err)
			t.Status, code, msg = "1", "109", "Network anomaly"
			if rec.Status == posbridge.GatewayPaid {
				s.charges[t.OrderNo]--
			}
		}
	}
	t.Code = code
	req := terminal.Message{Topic: terminal.TopicOrder, RequestID: t.RequestID, AppID: s.appIDLocked(t)}
	r := reply(req, code, msg, t.biz())
	n := 1
	if sc.Twice {
		n = 2
	}
	var out []terminal.Message
	for range n {
		out = append(out, r)
	}
	switch {
	case sc.LoseResponse:
		return nil
	case sc.AfterReconnect:
		s.held = append(s.held, out...)
		return nil
	}
	return out
}

// String describes a txn for logs and test failures.
func (t Txn) String() string {
	return "txn " + t.OrderNo + " type " + t.TransType + " status " + t.Status + " code " + t.Code + " amount " + t.Amount.String() + " no " + strconv.Quote(t.TransNo)
}
