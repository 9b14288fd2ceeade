package sandbox

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
)

var ppPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pay Protocol sandbox</title>
<style>body{font-family:sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}button{font-size:1.2rem;padding:.6rem 1rem;margin:.3rem 0;width:100%}
input{font-size:1.2rem;width:100%;box-sizing:border-box;padding:.4rem}.msg{padding:.6rem;background:#eef}</style></head>
<body><h1>Pay Protocol sandbox</h1>
<p id="description">{{.Description}}</p>
<p>Amount: <strong id="amount">{{.Amount}}</strong></p>
<p>Status: <strong id="status">{{.Status}}</strong></p>
{{if .Message}}<p class="msg" id="message">{{.Message}}</p>{{end}}
{{if .Payable}}
<p>Pays until <span id="expires">{{.Expires}}</span></p>
<form method="post"><button id="pay-full" name="amount" value="{{.Full}}">Pay {{.Amount}}</button></form>
<form method="post"><label>Another amount (0.5× to 1.2×)<input id="pay-amount" name="amount" inputmode="decimal"></label>
<button id="pay-other">Pay this amount</button></form>
{{end}}
{{if .Back}}<p><a id="back" href="{{.Back}}">Back to the merchant</a></p>{{end}}
</body></html>
`))

type ppPageData struct {
	Description, Amount, Full, Status, Message, Expires string
	Payable                                             bool
	Back                                                string
}

func (p *PayProtocol) pageData(o *PPOrder, msg string) ppPageData {
	return ppPageData{Description: o.Description, Amount: o.Amount.String(), Full: o.Amount.Decimal(), Status: o.Status, Message: msg,
		Expires: o.ExpiresAt.UTC().Format(time.RFC3339), Payable: o.Status == PPUnpaid, Back: o.RedirectionURL}
}

func (p *PayProtocol) servePage(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	o, ok := p.byPayment[r.PathValue("id")]
	var d ppPageData
	if ok {
		p.expireLocked(o)
		d = p.pageData(o, "")
	}
	p.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	ppPage.Execute(w, d)
}

// servePagePay is the customer paying on the page (form field amount).
func (p *PayProtocol) servePagePay(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	o, ok := p.byPayment[r.PathValue("id")]
	p.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	msg := "Payment received. You may close this page."
	amount, err := posbridge.ParseAmount(strings.TrimSpace(r.FormValue("amount")), o.Amount.Currency)
	if err == nil {
		err = p.Pay(o.OutTradeNo, &amount)
	}
	status := http.StatusOK
	if err != nil {
		status, msg = http.StatusBadRequest, "Not paid: "+err.Error()
		if errors.Is(err, ErrConflict) {
			status = http.StatusConflict
		}
	}
	p.mu.Lock()
	d := p.pageData(o, msg)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	ppPage.Execute(w, d)
}
