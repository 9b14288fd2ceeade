package sandbox

// The CodePay front end (research/gateway-api.md §2, §4 items 13–17): one
// POST /api/entry dispatching on the body's method, over the same order
// state as the PayBy API. A CodePay order's trans_status is derived from
// that state: CREATED is 9 (0 while the customer is paying), PAID_SUCCESS
// and SETTLED are 2, FAILURE is 1, or 3 when a paid order was revoked.
//
// The signing here is written independently of gateway/codepay (sorted
// k=v of the decoded fields, numbers as their JSON text) so that the two
// check each other.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// CodePayPath is where the CodePay API lives (base URL http://HOST).
const CodePayPath = "/api/entry"

// Defaults of the CodePay front end.
const (
	DefaultCodePayAppID      = "sandbox-app-0001"
	DefaultCodePayMerchantNo = "312100000164"
)

// DefaultCodePayRetrySchedule is CodePay's notification retry schedule
// (research §2.7): 15 attempts over about 12 h.
var DefaultCodePayRetrySchedule = []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second,
	30 * time.Second, 60 * time.Second, 3 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour}

// CodePay result codes the sandbox answers (CodePay publishes none; these
// are the ones gateway/codepay gives a meaning).
const (
	cpOK             = "0"
	cpNotExist       = "ORDER_NOT_EXIST"
	cpRefundNotExist = "REFUND_NOT_EXIST"
	cpPaid           = "ORDER_PAID"
	cpClosed         = "ORDER_CLOSED"
	cpPaying         = "ORDER_PAYING"
	cpNotPaid        = "ORDER_NOT_PAID"
	cpSettled        = "ORDER_SETTLED"
	cpRefunded       = "ORDER_REFUNDED"
	cpExceeded       = "REFUND_AMOUNT_EXCEEDED"
	cpRejected       = "REFUND_REJECTED"
	cpDuplicate      = "DUPLICATE_MERCHANT_ORDER_NO"
	cpOffline        = "TERMINAL_OFFLINE"
	cpSign           = "SIGN_VERIFY_FAILED"
	cpTimestamp      = "TIMESTAMP_INVALID"
	cpParam          = "PARAM_ERROR"
	cpSystem         = "SYSTEM_ERROR"
)

// CodePay methods the sandbox serves.
var cpOps = map[string]func(s *Sandbox, req cpParams) cpAnswer{
	"wisehub.cloud.pay.order": (*Sandbox).cpPayOrder,
	"wisehub.cloud.pay.close": (*Sandbox).cpClose,
	"order.query":             (*Sandbox).cpQuery,
	"order.refund.submit":     (*Sandbox).cpRefundSubmit,
	"order.refund.query":      (*Sandbox).cpRefundQuery,
	"order.revoker":           (*Sandbox).cpRevoke,
}

// cpParams are a request's fields as plain text.
type cpParams map[string]string

type cpAnswer struct {
	code string
	msg  string
	data any // nil for none
}

func cpSuccess(data any) cpAnswer { return cpAnswer{code: cpOK, msg: "success", data: data} }

func cpFail(code, msg string) cpAnswer { return cpAnswer{code: code, msg: msg} }

// cpCanonical is CodePay's signed string: sorted k=v of every field but
// sign whose value is not empty.
func cpCanonical(p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k, v := range p {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, "&")
}

// cpDecode reads a request body, JSON or form-encoded, into plain text
// values: strings as they are, numbers as written, nulls dropped.
func cpDecode(contentType string, raw []byte) (cpParams, error) {
	if strings.HasPrefix(strings.ToLower(contentType), "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, err
		}
		p := cpParams{}
		for k, v := range q {
			p[k] = v[0]
		}
		return p, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	p := cpParams{}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
		case string:
			p[k] = x
		case json.Number:
			p[k] = x.String()
		case bool:
			p[k] = strconv.FormatBool(x)
		default:
			b, _ := json.Marshal(x)
			p[k] = string(b)
		}
	}
	return p, nil
}

func (s *Sandbox) serveCodePay(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	req, decErr := cpDecode(r.Header.Get("Content-Type"), raw)
	method := req["method"]
	rec := Request{Path: CodePayPath + "#" + method, At: s.clock.Now(), PartnerID: req["merchant_no"], Body: string(raw)}
	if decErr == nil {
		rec.SignOK = gateway.VerifySHA256(&s.keys.Merchant.PublicKey, []byte(cpCanonical(req)), req["sign"]) == nil
	}

	s.mu.Lock()
	s.advanceLocked()
	f, faulty := Fault{}, false
	if _, known := cpOps[method]; known {
		f, faulty = s.takeFault(method)
	}
	var a cpAnswer
	switch {
	case faulty && f.Kind == FaultCode:
		a = cpFail(f.Code, f.Msg)
	case faulty && f.Kind == FaultHTTP502:
	case decErr != nil:
		a = cpFail(cpParam, "body must be a JSON object or form fields")
	default:
		a = s.cpProcess(req, rec.SignOK)
	}
	rec.Code = a.code
	if faulty {
		rec.Fault = f.Kind
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if !faulty {
		s.cpWrite(w, a, "sign")
		return
	}
	switch f.Kind {
	case FaultCode:
		if f.Unsigned {
			s.cpWrite(w, a, "none")
		} else {
			s.cpWrite(w, a, "sign")
		}
	case FaultHTTP502:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	case FaultDelay:
		t := s.clock.NewTimer(f.Delay)
		select {
		case <-t.C():
		case <-r.Context().Done():
		}
		t.Stop()
		s.cpWrite(w, a, "sign")
	case FaultDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case FaultUnsigned:
		s.cpWrite(w, a, "none")
	case FaultBadSign:
		s.cpWrite(w, a, "bad")
	case FaultMalformed:
		s.cpWrite(w, a, "truncate")
	case FaultCommit500, FaultCommit504:
		s.cpWrite(w, cpFail(cpSystem, "system error"), "sign")
	}
}

// cpWrite answers {code,msg,psn,data,sign} with data a JSON string. mode is
// "sign", "none" (no sign field), "bad" (the signature of other text) or
// "truncate" (signed, then cut in half).
func (s *Sandbox) cpWrite(w http.ResponseWriter, a cpAnswer, mode string) {
	fields := map[string]string{"code": a.code, "msg": a.msg, "psn": fmt.Sprintf("%020d", s.clock.Now().UnixNano())}
	if a.data != nil {
		b, err := json.Marshal(a.data)
		if err != nil {
			http.Error(w, "encode answer", http.StatusInternalServerError)
			return
		}
		fields["data"] = string(b)
	}
	switch mode {
	case "sign", "truncate":
		sig, err := gateway.SignSHA256(s.keys.Gateway, []byte(cpCanonical(fields)))
		if err != nil {
			http.Error(w, "sign answer", http.StatusInternalServerError)
			return
		}
		fields["sign"] = sig
	case "bad":
		sig, _ := gateway.SignSHA256(s.keys.Gateway, []byte(cpCanonical(fields)+"&x=1"))
		fields["sign"] = sig
	}
	body, _ := json.Marshal(fields)
	if mode == "truncate" {
		body = body[:len(body)/2]
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Write(body)
}

// cpProcess checks the common fields and runs the method; s.mu must be held.
func (s *Sandbox) cpProcess(req cpParams, signOK bool) cpAnswer {
	op, ok := cpOps[req["method"]]
	if !ok {
		return cpFail(cpParam, "unknown method "+strconv.Quote(req["method"]))
	}
	if req["app_id"] != s.cpAppID || req["merchant_no"] != s.cpMerchant {
		return cpFail(cpParam, "unknown app_id or merchant_no")
	}
	if req["sign_type"] != "RSA2" || !signOK {
		return cpFail(cpSign, "sign verify failed")
	}
	ms, err := strconv.ParseInt(req["timestamp"], 10, 64)
	if err != nil || ms <= 0 {
		return cpFail(cpTimestamp, "timestamp must be epoch milliseconds")
	}
	if d := s.clock.Now().Sub(time.UnixMilli(ms)); d > s.window || d < -s.window {
		return cpFail(cpTimestamp, "timestamp outside 15 minutes of server time")
	}
	return op(s, req)
}

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

// postCodePay delivers a CodePay notification: the transaction's fields,
// flat, with notify_id, timestamp, app_id, sign_type and sign. Delivered
// only on HTTP 200 with the trimmed body "success".
func (n *notifier) postCodePay(d *delivery, stamp time.Time) string {
	var t map[string]any
	dec := json.NewDecoder(bytes.NewReader(d.payload))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return err.Error()
	}
	t["notify_id"] = d.NotifyID
	t["timestamp"] = strconv.FormatInt(stamp.UnixMilli(), 10)
	t["sign_type"] = "RSA2"
	t["app_id"] = n.s.cpAppID
	fields := map[string]string{}
	for k, v := range t {
		switch x := v.(type) {
		case string:
			fields[k] = x
		case json.Number:
			fields[k] = x.String()
		case nil:
		default:
			fields[k] = fmt.Sprint(x)
		}
	}
	sig, err := gateway.SignSHA256(n.s.keys.Gateway, []byte(cpCanonical(fields)))
	if err != nil {
		return err.Error()
	}
	t["sign"] = sig
	body, err := json.Marshal(t)
	if err != nil {
		return err.Error()
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second) // CodePay waits 5 s for the ack
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if text := strings.TrimSpace(string(ack)); text != "success" {
		return fmt.Sprintf("HTTP 200 %q", text)
	}
	return "ok"
}

// SetTerminalOnline says whether the CodePay terminal is online: an order
// sent while it is offline is queued (terminal_online_status 0), or refused
// with TERMINAL_OFFLINE when it asks reject_trade_when_terminal_offline.
func (s *Sandbox) SetTerminalOnline(online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cpOffline = !online
	if !online {
		return
	}
	// The terminal takes the queued cloud sales.
	for _, o := range s.orders {
		if o.terminalSN != "" && o.status == StatusCreated && !o.paying && o.cloud.at.IsZero() {
			s.planCloudLocked(o)
		}
	}
}

// CloudAction is what the simulated customer does with a cloud sale (one
// pushed to the terminal by wisehub.cloud.pay.order): the sandbox plays the
// terminal for them.
type CloudAction string

// Cloud actions.
const (
	CloudApprove CloudAction = "approve" // pays: trans_status 9 → 0 → 2
	CloudDecline CloudAction = "decline" // the card is declined: 9 → 0 → 1
	CloudCancel  CloudAction = "cancel"  // cancels on the terminal: 9 → 1
	CloudIgnore  CloudAction = "ignore"  // nobody comes: stays 9 until closed (or expired)
)

// CloudCustomer is the simulated customer of cloud sales. The zero value
// ignores them (a test moves them with StartPaying, Pay and Fail).
type CloudCustomer struct {
	Action CloudAction    `json:"action"`
	Delay  time.Duration  `json:"delay"` // from the push to the result, nanoseconds in JSON; half of it to 0
	Card   posbridge.Card `json:"card"`  // the card used to pay
}

type cloudStep struct {
	at     time.Time // when the next step is due
	paying bool      // the next step is the result (0 was reached)
	do     CloudCustomer
}

// SetCloudCustomer sets what the customer does with the next cloud sales.
func (s *Sandbox) SetCloudCustomer(c CloudCustomer) error {
	switch c.Action {
	case "", CloudApprove, CloudDecline, CloudCancel, CloudIgnore:
	default:
		return fmt.Errorf("%w: cloud action %q", ErrInvalid, c.Action)
	}
	if c.Delay < 0 {
		return fmt.Errorf("%w: negative delay", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customer = c
	return nil
}

// planCloudLocked schedules the customer's steps for a new cloud sale; s.mu
// must be held.
func (s *Sandbox) planCloudLocked(o *order) {
	c := s.customer
	if c.Action == "" || c.Action == CloudIgnore {
		return
	}
	o.cloud = cloudStep{at: s.clock.Now().Add(c.Delay / 2), do: c}
	if c.Action == CloudCancel {
		o.cloud.paying = true // straight to the result
	}
	s.poke()
}

// advanceCloudLocked takes every due step of the simulated customer and
// returns when the next is due (zero when none); s.mu must be held.
func (s *Sandbox) advanceCloudLocked() time.Time {
	now := s.clock.Now()
	var next time.Time
	for _, o := range s.orders {
		st := &o.cloud
		if st.at.IsZero() {
			continue
		}
		if o.status != StatusCreated {
			*st = cloudStep{} // closed or paid meanwhile
			continue
		}
		if st.at.After(now) {
			if next.IsZero() || st.at.Before(next) {
				next = st.at
			}
			continue
		}
		if !st.paying {
			o.paying = true
			st.paying, st.at = true, st.at.Add(st.do.Delay-st.do.Delay/2)
			if next.IsZero() || st.at.Before(next) {
				next = st.at
			}
			continue
		}
		do := st.do
		*st = cloudStep{}
		switch do.Action {
		case CloudApprove:
			s.pay(o, do.Card)
		case CloudDecline:
			s.fail(o, "DECLINED", "card declined")
		case CloudCancel:
			s.fail(o, "USER_CANCEL", "canceled on the terminal")
		}
	}
	return next
}

// StartPaying moves a CREATED order to CodePay's trans_status 0: the
// customer is paying on the terminal (it cannot be closed now). Pay or
// Fail ends it.
func (s *Sandbox) StartPaying(no string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	o, ok := s.orders[no]
	if !ok {
		return fmt.Errorf("paying %s: %w", no, ErrNotFound)
	}
	if o.status != StatusCreated {
		return fmt.Errorf("paying %s in %s: %w", no, o.status, ErrConflict)
	}
	o.paying = true
	return nil
}

// CodePayAppID returns the app id CodePay requests must carry.
func (s *Sandbox) CodePayAppID() string { return s.cpAppID }

// CodePayMerchantNo returns the merchant number CodePay requests must carry.
func (s *Sandbox) CodePayMerchantNo() string { return s.cpMerchant }
