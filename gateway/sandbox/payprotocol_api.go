package sandbox

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// ppAnswer is an API answer: Pay Protocol's {code, msg, data}.
type ppAnswer struct {
	http int
	code int
	msg  string
	data any
}

func ppOK(data any) ppAnswer {
	return ppAnswer{http: http.StatusOK, code: 200, msg: "success", data: data}
}

func ppFail(code int, msg string) ppAnswer {
	status := code
	if code == 409 || code == 422 || code == 400 {
		status = http.StatusOK // refusals of the request's content come with 200
	}
	return ppAnswer{http: status, code: code, msg: msg}
}

var ppOps = map[string]struct {
	method string
	handle func(p *PayProtocol, r *http.Request, body []byte) ppAnswer
}{
	"/payment/createPaymentOrder": {http.MethodPost, (*PayProtocol).apiCreate},
	"/payment/detail":             {http.MethodGet, (*PayProtocol).apiDetail},
	"/payment/notify":             {http.MethodGet, (*PayProtocol).apiNotify},
	"/refund/createRefundOrder":   {http.MethodPost, (*PayProtocol).apiRefund},
	"/refund/detail":              {http.MethodGet, (*PayProtocol).apiRefundDetail},
	"/refund/notify":              {http.MethodGet, (*PayProtocol).apiRefundNotify},
}

func (p *PayProtocol) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PayProtocolAPIPath+"/", p.serveAPI)
	mux.HandleFunc("GET /pay/{id}", p.servePage)
	mux.HandleFunc("POST /pay/{id}", p.servePagePay)
	c := controlPrefix + "/payprotocol"
	mux.HandleFunc("GET "+c+"/orders", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Orders()) })
	mux.HandleFunc("POST "+c+"/orders/{no}/{action}", p.ctlOrder)
	mux.HandleFunc("GET "+c+"/refunds", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Refunds()) })
	mux.HandleFunc("POST "+c+"/refunds/{no}/{action}", p.ctlRefund)
	mux.HandleFunc("PUT "+c+"/notifier", func(w http.ResponseWriter, r *http.Request) {
		var o PPNotifierOptions
		if err := decodeJSON(r, &o); err != nil {
			writeError(w, err)
			return
		}
		p.SetNotifier(o)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+c+"/notifications", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, p.Deliveries()) })
	mux.HandleFunc("POST "+c+"/faults", func(w http.ResponseWriter, r *http.Request) {
		var f PPFault
		if err := decodeJSON(r, &f); err != nil {
			writeError(w, err)
			return
		}
		p.SetFault(f)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (p *PayProtocol) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, PayProtocolAPIPath)
	op, ok := ppOps[path]
	if !ok {
		p.answer(w, ppFail(404, "no such API "+r.URL.Path))
		return
	}
	if r.Method != op.method {
		p.answer(w, ppAnswer{http: http.StatusMethodNotAllowed, code: 405, msg: "use " + op.method})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, ppMaxBody))
	if err != nil {
		p.answer(w, ppFail(400, "read body"))
		return
	}
	if err := p.checkSign(r, body); err != nil {
		p.answer(w, ppAnswer{http: http.StatusUnauthorized, code: 401, msg: err.Error()})
		return
	}
	if f, ok := p.takeFault(path); ok {
		if f.HTTP == http.StatusBadGateway {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
			return
		}
		status := f.HTTP
		if status == 0 {
			status = http.StatusOK
		}
		p.answer(w, ppAnswer{http: status, code: f.Code, msg: "injected fault"})
		return
	}
	p.answer(w, op.handle(p, r, body))
}

// checkSign verifies the three headers over the exact bytes received, the
// query string included in requestPath.
func (p *PayProtocol) checkSign(r *http.Request, body []byte) error {
	key, ts, sig := r.Header.Get("X-PAY-KEY"), r.Header.Get("X-PAY-TIMESTAMP"), r.Header.Get("X-PAY-SIGN")
	if key == "" || ts == "" || sig == "" {
		return fmt.Errorf("%w: X-PAY-KEY, X-PAY-TIMESTAMP and X-PAY-SIGN are required", errPPAuth)
	}
	if key != p.key {
		return fmt.Errorf("%w: unknown X-PAY-KEY", errPPAuth)
	}
	if want := ppSign(p.secret, ts, r.Method, r.URL.RequestURI(), body); !hmacEqual(sig, want) {
		return fmt.Errorf("%w: X-PAY-SIGN does not match", errPPAuth)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: X-PAY-TIMESTAMP %q is not Unix seconds", errPPAuth, ts)
	}
	if d := p.clock.Now().Sub(time.Unix(sec, 0)); d > ppWindow || d < -ppWindow {
		return fmt.Errorf("%w: X-PAY-TIMESTAMP is %s away from now", errPPAuth, d.Round(time.Second))
	}
	return nil
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

func (p *PayProtocol) takeFault(path string) (PPFault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.faults {
		if f.Path == path || f.Path == "*" {
			p.faults[i].Times--
			if p.faults[i].Times <= 0 {
				p.faults = append(p.faults[:i], p.faults[i+1:]...)
			}
			return f, true
		}
	}
	return PPFault{}, false
}

func (p *PayProtocol) answer(w http.ResponseWriter, a ppAnswer) {
	env := map[string]any{"code": a.code, "msg": a.msg}
	if a.data != nil {
		env["data"] = a.data
	}
	writeJSON(w, a.http, env)
}

// ppCreate is createPaymentOrder's body as the sandbox reads it.
type ppCreate struct {
	ChainID             int64           `json:"chainId"`
	Description         string          `json:"description"`
	OutTradeNo          string          `json:"outTradeNo"`
	IsLegalTender       *int            `json:"isLegalTender"`
	QuoteCurrencySymbol string          `json:"quoteCurrencySymbol"`
	QuoteAmount         json.RawMessage `json:"quoteAmount"`
	NotifyURL           string          `json:"notifyUrl"`
	RedirectionURL      string          `json:"redirectionUrl"`
	ExpireTime          int64           `json:"expireTime"`
}

func ppValidNo(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func ppDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (p *PayProtocol) apiCreate(_ *http.Request, body []byte) ppAnswer {
	var in ppCreate
	if err := ppDecode(body, &in); err != nil {
		return ppFail(400, "body: "+err.Error())
	}
	switch {
	case in.ChainID <= 0:
		return ppFail(400, "chainId is required")
	case in.Description == "":
		return ppFail(400, "description is required")
	case !ppValidNo(in.OutTradeNo):
		return ppFail(400, "outTradeNo must be 1 to 64 of [A-Za-z0-9_-]")
	case in.IsLegalTender == nil || *in.IsLegalTender != 1:
		return ppFail(400, "the sandbox quotes fiat only: isLegalTender must be 1")
	case in.QuoteCurrencySymbol != strings.ToUpper(in.QuoteCurrencySymbol):
		return ppFail(400, "quoteCurrencySymbol must be upper case")
	}
	amount, err := posbridge.ParseMoneyJSON(in.QuoteAmount, in.QuoteCurrencySymbol)
	if err != nil || amount.Minor <= 0 {
		return ppFail(400, fmt.Sprintf("quoteAmount %s must be a positive amount of %s", in.QuoteAmount, in.QuoteCurrencySymbol))
	}
	now := p.clock.Now()
	expires := now.Add(p.expiry)
	if in.ExpireTime > 0 {
		if at := time.Unix(in.ExpireTime, 0); at.Before(expires) {
			expires = at
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if o, ok := p.orders[in.OutTradeNo]; ok {
		if o.Amount != amount || o.ChainID != in.ChainID {
			return ppFail(409, "outTradeNo "+in.OutTradeNo+" exists with other parameters")
		}
		return ppOK(ppCreated(o))
	}
	p.seq++
	o := &PPOrder{OutTradeNo: in.OutTradeNo, OutPaymentNo: fmt.Sprintf("PP%s%06d", now.UTC().Format("20060102150405"), p.seq),
		Status: PPUnpaid, Amount: amount, Paid: posbridge.Money{Currency: amount.Currency}, Refunded: posbridge.Money{Currency: amount.Currency},
		Description: in.Description, NotifyURL: in.NotifyURL, RedirectionURL: in.RedirectionURL, ChainID: in.ChainID,
		CreatedAt: now, ExpiresAt: expires}
	p.orders[o.OutTradeNo], p.byPayment[o.OutPaymentNo] = o, o
	return ppOK(ppCreated(o))
}

func ppCreated(o *PPOrder) map[string]any {
	return map[string]any{"outPaymentNo": o.OutPaymentNo, "paymentUrl": "/pay/" + o.OutPaymentNo,
		"userWalletAddress": "TSandbox" + o.OutPaymentNo, "saltHash": "0x" + o.OutPaymentNo, "expireTime": o.ExpiresAt.Unix()}
}

func (p *PayProtocol) apiDetail(r *http.Request, _ []byte) ppAnswer {
	return p.withPayment(r, func(o *PPOrder) ppAnswer { return ppOK(p.ppPayment(o)) })
}

// withPayment answers with f of the payment order the request names, under
// the lock and after its page's expiry, or 404 when there is none.
func (p *PayProtocol) withPayment(r *http.Request, f func(o *PPOrder) ppAnswer) ppAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.findLocked(r)
	if o == nil {
		return ppFail(404, "payment order not found")
	}
	p.expireLocked(o)
	return f(o)
}

func (p *PayProtocol) findLocked(r *http.Request) *PPOrder {
	if no := r.URL.Query().Get("outTradeNo"); no != "" {
		return p.orders[no]
	}
	return p.byPayment[r.URL.Query().Get("outPaymentNo")]
}

// apiNotify sends the order's callback again when it has a final status;
// for an unpaid order there is nothing to send (assumed: success, no data).
func (p *PayProtocol) apiNotify(r *http.Request, _ []byte) ppAnswer {
	return p.withPayment(r, func(o *PPOrder) ppAnswer {
		if o.Status != PPUnpaid {
			p.notifyPaymentLocked(o)
		}
		return ppOK(nil)
	})
}

type ppRefundIn struct {
	OutTradeNo   string          `json:"outTradeNo"`
	OutRefundNo  string          `json:"outRefundNo"`
	RefundAmount json.RawMessage `json:"refundAmount"`
	Reason       string          `json:"reason"`
	NotifyURL    string          `json:"notifyUrl"`
}

func (p *PayProtocol) apiRefund(_ *http.Request, body []byte) ppAnswer {
	var in ppRefundIn
	if err := ppDecode(body, &in); err != nil {
		return ppFail(400, "body: "+err.Error())
	}
	if !ppValidNo(in.OutTradeNo) || !ppValidNo(in.OutRefundNo) {
		return ppFail(400, "outTradeNo and outRefundNo must be 1 to 64 of [A-Za-z0-9_-]")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.orders[in.OutTradeNo]
	if !ok {
		return ppFail(404, "payment order not found")
	}
	amount, err := posbridge.ParseMoneyJSON(in.RefundAmount, o.Amount.Currency)
	if err != nil || amount.Minor <= 0 {
		return ppFail(400, "refundAmount must be a positive amount")
	}
	if r, ok := p.refunds[in.OutRefundNo]; ok {
		if r.OutTradeNo != in.OutTradeNo || r.Amount != amount {
			return ppFail(409, "outRefundNo "+in.OutRefundNo+" exists with other parameters")
		}
		return ppOK(ppRefundJSON(r))
	}
	p.expireLocked(o)
	if o.Status != PPPaid && o.Status != PPPartiallyPaid {
		return ppFail(422, "order is "+o.Status+": nothing to refund")
	}
	if o.Refunded.Minor+amount.Minor > o.Paid.Minor {
		return ppFail(422, fmt.Sprintf("refund %s is over what is left of %s paid", amount, o.Paid))
	}
	p.seq++
	r := &PPRefund{OutRefundNo: in.OutRefundNo, RefundNo: fmt.Sprintf("RF%06d", p.seq), OutTradeNo: in.OutTradeNo,
		Status: PPRefundPending, Amount: amount, Reason: in.Reason, NotifyURL: in.NotifyURL}
	if r.NotifyURL == "" {
		r.NotifyURL = o.NotifyURL
	}
	o.Refunded.Minor += amount.Minor
	p.refunds[r.OutRefundNo] = r
	return ppOK(ppRefundJSON(r))
}

func (p *PayProtocol) apiRefundDetail(r *http.Request, _ []byte) ppAnswer {
	return p.withRefund(r, func(rf *PPRefund) ppAnswer { return ppOK(ppRefundJSON(rf)) })
}

// withRefund answers with f of the refund the request names (outRefundNo),
// under the lock, or 404 when there is none.
func (p *PayProtocol) withRefund(r *http.Request, f func(rf *PPRefund) ppAnswer) ppAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	rf, ok := p.refunds[r.URL.Query().Get("outRefundNo")]
	if !ok {
		return ppFail(404, "refund order not found")
	}
	return f(rf)
}

func (p *PayProtocol) apiRefundNotify(r *http.Request, _ []byte) ppAnswer {
	return p.withRefund(r, func(rf *PPRefund) ppAnswer {
		if rf.Status != PPRefundPending {
			p.notifyRefundLocked(rf)
		}
		return ppOK(nil)
	})
}
