package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge/gateway"
)

// apiPrefix is where the PayBy API lives, as in https://api.payby.com/sgs/api.
const apiPrefix = "/sgs/api"

// maxRequestBody bounds what the sandbox reads of a request.
const maxRequestBody = 1 << 20

var codeMsgs = map[string]string{
	"0":     "SUCCESS",
	"400":   "INVALID_PARAMETER",
	"402":   "RATE_LIMIT_REJECT",
	"403":   "UNAUTHORIZED",
	"404":   "SERVICE_NOT_AVAILABLE",
	"500":   "SYSTEM_ERROR",
	"504":   "SERVICE_TIMEOUT",
	"601":   "RISK_FAIL",
	"62001": "ORDER_PAID",
	"62002": "ORDER_FAILURE",
	"62003": "ORDER_SETTLED",
	"62004": "MERCHANT_ORDER_NO_NOT_EXIST",
	"62006": "REFUND_AMOUNT_EXCEEDED",
	"62007": "REFUND_MERCHANT_ORDER_NO_NOT_EXIST",
	"62008": "EXPIREDTIME_LESS_THAN_REQUESTTIME",
	"62009": "EXPIREDTIME_TOO_LATER",
	"62012": "PAYSCENECODE_ILLEGAL",
	"62015": "ORDER_NOT_PAID",
	"62016": "MERCHANT_ORDER_NO_EXIST",
	"62017": "REFUND_MERCHANT_ORDER_NO_EXIST",
	"62035": "ORDER_NO_NOT_EXIST",
	"62039": "REVOKE_FAILURE",
	"62040": "ACQUIRE_ORDER_REVOKED",
	"62041": "ACQUIRE_ORDER_REFUNDED",
	"62045": "REFUND_REJECTED",
	"62046": "REVOKE_REJECTED",
}

var paySceneCodes = map[string]bool{"PAYPAGE": true, "INAPP": true, "EWALLET": true, "DYNQR": true,
	"QRPAY": true, "JSAPI": true, "AUTODEBIT": true, "DIRECTPAY": true, "CASHTOPUP": true, "PAYANDSIGN": true}

type head struct {
	ApplyStatus string `json:"applyStatus"`
	Code        string `json:"code"`
	Msg         string `json:"msg"`
	TraceCode   string `json:"traceCode"`
}

type answer struct {
	Head head `json:"head"`
	Body any  `json:"body,omitempty"`
}

func success(body any) answer {
	return answer{Head: head{ApplyStatus: "SUCCESS", Code: "0", Msg: "SUCCESS"}, Body: body}
}

func failure(code string, detail ...string) answer {
	msg := codeMsgs[code]
	if msg == "" {
		msg = "ERROR"
	}
	if len(detail) > 0 {
		msg = detail[0]
	}
	return answer{Head: head{ApplyStatus: "FAIL", Code: code, Msg: msg}}
}

type op func(s *Sandbox, biz json.RawMessage, requestTime int64) answer

var ops = map[string]op{
	"/acquire2/placeOrder":        (*Sandbox).placeOrder,
	"/acquire2/getOrder":          (*Sandbox).getOrder,
	"/acquire2/cancelOrder":       (*Sandbox).cancelOrder,
	"/acquire2/revokeOrder":       (*Sandbox).revokeOrder,
	"/acquire2/refund/placeOrder": (*Sandbox).placeRefund,
	"/acquire2/refund/getOrder":   (*Sandbox).getRefund,

	"/acquire2Query/queryOrderPage":       (*Sandbox).queryOrderPage,
	"/acquire2Query/queryRefundOrderPage": (*Sandbox).queryRefundPage,
}

// knownPath reports whether p names a PayBy path or a CodePay method.
func knownPath(p string) bool {
	_, ok := ops[p]
	_, cp := cpOps[p]
	return ok || cp
}

func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(apiPrefix+"/", s.serveAPI)
	mux.HandleFunc(CodePayPath, s.serveCodePay)
	s.controlRoutes(mux)
	s.payPageRoutes(mux)
	return mux
}

func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	handle, ok := ops[path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	raw, ok := readPost(w, r)
	if !ok {
		return
	}
	rec := Request{Path: path, At: s.clock.Now(), PartnerID: r.Header.Get("Partner-Id"), Body: string(raw)}
	rec.SignOK = gateway.VerifySHA256(&s.keys.Merchant.PublicKey, raw, r.Header.Get("sign")) == nil

	s.mu.Lock()
	s.advanceLocked()
	f, faulty := s.takeFault(path)
	var a answer
	switch {
	case faulty && f.Kind == FaultCode:
		a = failure(f.Code)
		if f.Msg != "" {
			a.Head.Msg = f.Msg
		}
	case faulty && f.Kind == FaultHTTP502:
	default:
		a = s.process(handle, r, raw, rec.SignOK)
	}
	rec.ApplyStatus, rec.Code = a.Head.ApplyStatus, a.Head.Code
	if faulty {
		rec.Fault = f.Kind
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	if !faulty {
		s.write(w, a, true)
		return
	}
	if s.transportFault(w, r, f, func() { s.write(w, a, true) }) {
		return
	}
	switch f.Kind {
	case FaultCode:
		s.write(w, a, !f.Unsigned)
	case FaultUnsigned:
		s.write(w, a, false)
	case FaultBadSign:
		body, _ := json.Marshal(a)
		sig, _ := gateway.SignSHA256(s.keys.Gateway, append(body, ' '))
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("sign", sig)
		w.Write(body)
	case FaultMalformed:
		body, _ := json.Marshal(a)
		body = body[:len(body)/2]
		sig, _ := gateway.SignSHA256(s.keys.Gateway, body)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Header().Set("sign", sig)
		w.Write(body)
	case FaultCommit500:
		s.write(w, failure("500"), true)
	case FaultCommit504:
		s.write(w, failure("504"), true)
	}
}

// readPost reads the body of a POST (at most maxRequestBody). It answers
// any other method (405) or an unreadable body (400) itself and reports
// false.
func readPost(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return nil, false
	}
	return raw, true
}

// write sends a as the response body, signed with the gateway key when sign.
func (s *Sandbox) write(w http.ResponseWriter, a answer, sign bool) {
	body, err := json.Marshal(a)
	if err != nil {
		http.Error(w, "encode answer", http.StatusInternalServerError)
		return
	}
	if sign {
		sig, err := gateway.SignSHA256(s.keys.Gateway, body)
		if err != nil {
			http.Error(w, "sign answer", http.StatusInternalServerError)
			return
		}
		w.Header().Set("sign", sig)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Write(body)
}

// process checks the envelope and runs handle; s.mu must be held.
//
// It accepts the envelope as PayBy's official SDKs send it: requestTime as
// epoch milliseconds (number or text, as posbridge sends it) or ISO-8601
// text (the PHP SDK), and the partner id in the Partner-Id header, in a
// partnerId body field (the PHP SDK), or both when they agree.
func (s *Sandbox) process(handle op, r *http.Request, raw []byte, signOK bool) answer {
	var env struct {
		RequestTime json.RawMessage `json:"requestTime"`
		PartnerID   *string         `json:"partnerId"`
		BizContent  json.RawMessage `json:"bizContent"`
	}
	envErr := json.NewDecoder(bytes.NewReader(raw)).Decode(&env)
	partner := r.Header.Get("Partner-Id")
	if envErr == nil && env.PartnerID != nil {
		if partner != "" && partner != *env.PartnerID {
			return failure("403")
		}
		partner = *env.PartnerID
	}
	if partner != s.partnerID {
		return failure("403")
	}
	if !signOK {
		a := failure("400", "SIGN_VERIFY_FAILED")
		a.Head.ApplyStatus = "ERROR"
		return a
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return failure("400", "INVALID_PARAMETER: Content-Type must be application/json")
	}
	if envErr != nil || len(env.BizContent) == 0 || env.BizContent[0] != '{' {
		return failure("400", "INVALID_PARAMETER: body must be {requestTime, bizContent}")
	}
	rt, err := parseMillis(env.RequestTime)
	if err != nil {
		return failure("400", "INVALID_PARAMETER: requestTime")
	}
	now := s.clock.Now().UnixMilli()
	switch {
	case rt < now-s.window.Milliseconds():
		return failure("400", "REQUESTTIME_TOO_EARLY")
	case rt > now+s.window.Milliseconds():
		return failure("400", "REQUESTTIME_TOO_LATER")
	}
	return handle(s, env.BizContent, rt)
}

// parseMillis reads requestTime: epoch milliseconds as a number or text,
// or ISO-8601 (RFC 3339) text such as PHP's date('c').
func parseMillis(raw json.RawMessage) (int64, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" {
		return 0, errors.New("empty")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("requestTime %q: neither epoch milliseconds nor ISO-8601", s)
	}
	return t.UnixMilli(), nil
}

// canonical re-encodes a JSON object with sorted keys, for comparing the
// parameters of repeated creates.
func canonical(raw json.RawMessage) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// errorStatus maps the Go API's errors to control-API statuses.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
