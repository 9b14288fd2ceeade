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
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

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
	raw, ok := readPost(w, r)
	if !ok {
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
	if s.transportFault(w, r, f, func() { s.cpWrite(w, a, "sign") }) {
		return
	}
	switch f.Kind {
	case FaultCode:
		if f.Unsigned {
			s.cpWrite(w, a, "none")
		} else {
			s.cpWrite(w, a, "sign")
		}
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

// CodePayAppID returns the app id CodePay requests must carry.
func (s *Sandbox) CodePayAppID() string { return s.cpAppID }

// CodePayMerchantNo returns the merchant number CodePay requests must carry.
func (s *Sandbox) CodePayMerchantNo() string { return s.cpMerchant }
