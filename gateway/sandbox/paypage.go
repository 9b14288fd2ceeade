package sandbox

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

// PayPagePath is where the sandbox serves the hosted page of a DYNQR order
// (placeOrder's interActionParams.tokenUrl), followed by PayBy's order
// number: what the customer's phone opens from the cashier's QR code.
const PayPagePath = "/payby/pay/"

// defaultPayPageBase is the tokenUrl's base while none is set: a page no
// browser can open (the sandbox does not know its own address).
const defaultPayPageBase = "https://sandbox.invalid"

// QRCard is the card recorded for a payment made on the sandbox's hosted page.
var QRCard = posbridge.Card{Brand: "QR", Last4: "0000"}

// SetPayPageURL sets the base URL (scheme and host, as a browser reaches the
// sandbox) of the hosted pages named in placeOrder's tokenUrl. Orders
// placed before keep their URL's path; the base is read at each answer.
func (s *Sandbox) SetPayPageURL(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payPageBase = strings.TrimSuffix(base, "/")
}

// tokenURLLocked is o's hosted page; s.mu is held.
func (s *Sandbox) tokenURLLocked(o *order) string {
	base := s.payPageBase
	if base == "" {
		base = defaultPayPageBase
	}
	return base + PayPagePath + o.orderNo
}

// payPageRoutes serves the hosted page: GET shows the order, POST pays it
// as the acquirer would (PAID_SUCCESS, then the signed notification like
// any other paid order). The page's answer after paying is only what the
// customer sees; posbridge learns of the payment from the gateway.
func (s *Sandbox) payPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PayPagePath+"{token}", s.servePayPage)
	mux.HandleFunc("POST "+PayPagePath+"{token}", s.servePayPage)
	// POST /_sandbox/payby/orders/{no}/notifications {"mode":"lost"|"duplicated"|""}
	mux.HandleFunc("POST "+controlPrefix+"/payby/orders/{no}/notifications", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Mode OrderNotifications `json:"mode"`
		}
		if err := decodeJSON(r, &in); err != nil {
			writeError(w, err)
			return
		}
		switch in.Mode {
		case NotificationsNormal, NotificationsLost, NotificationsDuplicated:
		default:
			writeError(w, fmt.Errorf("%w: notifications mode %q, want lost, duplicated or empty", ErrInvalid, in.Mode))
			return
		}
		s.SetOrderNotifications(r.PathValue("no"), in.Mode)
		w.WriteHeader(http.StatusNoContent)
	})
}

type payPageView struct {
	OrderNo, MerchantNo, Subject, Amount, Status, Message string
	Expires                                               string
	CanPay                                                bool
}

var payPageTmpl = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>PayBy sandbox — pay</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
.amount{font-size:2rem;font-weight:bold}button{font-size:1.5rem;padding:.6rem 2rem}</style></head>
<body data-status="{{.Status}}">
<h1>PayBy sandbox</h1>
<p id="subject">{{.Subject}}</p>
<p id="amount" class="amount">{{.Amount}}</p>
<p>Order <span id="order-no">{{.MerchantNo}}</span> · expires {{.Expires}}</p>
<p id="status">{{.Status}}</p>
{{if .Message}}<p id="message" role="status">{{.Message}}</p>{{end}}
{{if .CanPay}}<form method="post"><button id="pay" type="submit">Pay</button></form>{{end}}
</body></html>
`))

func (s *Sandbox) servePayPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	s.mu.Lock()
	s.advanceLocked()
	o, ok := s.ordersByNo[token]
	if !ok || o.paySceneCode == "" {
		s.mu.Unlock()
		http.Error(w, "no such payment", http.StatusNotFound)
		return
	}
	msg := ""
	if r.Method == http.MethodPost {
		switch o.status {
		case StatusCreated:
			s.pay(o, QRCard)
			msg = "Payment successful. You can close this page."
		case StatusPaid, StatusSettled:
			msg = "This order is already paid."
		default:
			msg = "This order is closed; it cannot be paid."
		}
	}
	v := payPageView{
		OrderNo: o.orderNo, MerchantNo: o.merchantOrderNo, Subject: o.subject,
		Amount: fmt.Sprintf("%s %s", o.amount.Decimal(), o.amount.Currency),
		Status: o.status, Message: msg, CanPay: o.status == StatusCreated,
		Expires: time.UnixMilli(o.expiredTime).UTC().Format(time.RFC3339),
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := payPageTmpl.Execute(w, v); err != nil {
		s.log.Warn("write pay page", posbridge.LogKeyError, err)
	}
}

// OrderNotifications is what happens to the notifications of one order.
type OrderNotifications string

// Per-order notification behaviours.
const (
	NotificationsNormal     OrderNotifications = ""           // as NotifierOptions say
	NotificationsLost       OrderNotifications = "lost"       // never delivered (recorded as given up)
	NotificationsDuplicated OrderNotifications = "duplicated" // each sent three times, as NotifierOptions.Duplicates
)

// SetOrderNotifications sets what happens to the notifications made from now
// on for the order merchantOrderNo, whatever NotifierOptions say: a
// customer's payment whose callback is lost, or arrives twice.
func (s *Sandbox) SetOrderNotifications(merchantOrderNo string, b OrderNotifications) {
	n := s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.perOrder == nil {
		n.perOrder = map[string]OrderNotifications{}
	}
	n.perOrder[merchantOrderNo] = b
}
