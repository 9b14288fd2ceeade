package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/posbridge/posbridge"
)

func (p *PayProtocol) ctlOrder(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	var err error
	switch r.PathValue("action") {
	case "pay":
		var in struct {
			Amount json.RawMessage `json:"amount,omitempty"`
		}
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &in); err != nil {
				writeError(w, err)
				return
			}
		}
		var amount *posbridge.Money
		if len(in.Amount) > 0 {
			o, ok := p.Order(no)
			if !ok {
				writeError(w, fmt.Errorf("pay %s: %w", no, ErrNotFound))
				return
			}
			m, perr := posbridge.ParseMoneyJSON(in.Amount, o.Amount.Currency)
			if perr != nil {
				writeError(w, fmt.Errorf("%w: amount: %w", ErrInvalid, perr))
				return
			}
			amount = &m
		}
		err = p.Pay(no, amount)
	case "fail":
		err = p.FailPayment(no)
	case "expire":
		err = p.Expire(no)
	default:
		writeError(w, fmt.Errorf("%w: action %q", ErrNotFound, r.PathValue("action")))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	o, _ := p.Order(no)
	writeJSON(w, http.StatusOK, o)
}

func (p *PayProtocol) ctlRefund(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	var err error
	switch r.PathValue("action") {
	case "approve":
		err = p.ApproveRefund(no)
	case "reject":
		err = p.RejectRefund(no)
	case "fail":
		err = p.FailRefund(no)
	default:
		err = fmt.Errorf("%w: action %q", ErrNotFound, r.PathValue("action"))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
