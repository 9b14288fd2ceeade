package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/posbridge/posbridge"
)

// controlPrefix is where the control API lives.
const controlPrefix = "/_sandbox"

// recordJSON is the body of POST /_sandbox/payby/orders.
type recordJSON struct {
	MerchantOrderNo     string          `json:"merchantOrderNo"`
	Amount              json.RawMessage `json:"amount"`
	Currency            string          `json:"currency"`
	Status              string          `json:"status"`
	Kind                string          `json:"kind,omitempty"`
	OrigMerchantOrderNo string          `json:"origMerchantOrderNo,omitempty"`
	Card                *posbridge.Card `json:"card,omitempty"`
}

var recordStatuses = map[string]posbridge.GatewayStatus{
	StatusCreated: posbridge.GatewayCreated, StatusPaid: posbridge.GatewayPaid, StatusFailure: posbridge.GatewayFailed,
	"created": posbridge.GatewayCreated, "paid": posbridge.GatewayPaid, "failed": posbridge.GatewayFailed,
}

func (s *Sandbox) controlRoutes(mux *http.ServeMux) {
	p := controlPrefix
	mux.HandleFunc("POST "+p+"/payby/orders", s.ctlRecord)
	mux.HandleFunc("GET "+p+"/payby/orders", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Orders()) })
	mux.HandleFunc("GET "+p+"/payby/orders/{no}", func(w http.ResponseWriter, r *http.Request) {
		o, ok := s.Order(r.PathValue("no"))
		if !ok {
			writeError(w, ErrNotFound)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("POST "+p+"/payby/orders/{no}/{action}", s.ctlOrderAction)
	mux.HandleFunc("GET "+p+"/payby/refunds", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Refunds()) })
	mux.HandleFunc("POST "+p+"/payby/refunds/{no}/{action}", s.ctlRefundAction)
	mux.HandleFunc("GET "+p+"/charges", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Charges()) })
	mux.HandleFunc("POST "+p+"/faults", s.ctlFault)
	mux.HandleFunc("GET "+p+"/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	mux.HandleFunc("DELETE "+p+"/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT "+p+"/notifier", s.ctlNotifier)
	mux.HandleFunc("PUT "+p+"/codepay/customer", func(w http.ResponseWriter, r *http.Request) {
		var in CloudCustomer
		if err := decodeJSON(r, &in); err != nil {
			writeError(w, err)
			return
		}
		if err := s.SetCloudCustomer(in); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT "+p+"/codepay/terminal", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Online bool `json:"online"`
		}
		if err := decodeJSON(r, &in); err != nil {
			writeError(w, err)
			return
		}
		s.SetTerminalOnline(in.Online)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST "+p+"/notifier/flush", func(w http.ResponseWriter, r *http.Request) {
		s.FlushNotifications()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+p+"/notifications", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Notifications()) })
	mux.HandleFunc("GET "+p+"/requests", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Requests()) })
}

func (s *Sandbox) ctlRecord(w http.ResponseWriter, r *http.Request) {
	var in recordJSON
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	status, ok := recordStatuses[in.Status]
	if !ok {
		writeError(w, fmt.Errorf("%w: status %q, want CREATED, PAID_SUCCESS or FAILURE", ErrInvalid, in.Status))
		return
	}
	amount, err := posbridge.ParseMoneyJSON(in.Amount, in.Currency)
	if err != nil {
		writeError(w, fmt.Errorf("%w: %w", ErrInvalid, err))
		return
	}
	rec := posbridge.AcquirerRecord{OrderNo: posbridge.OrderNo(in.MerchantOrderNo), OrigNo: posbridge.OrderNo(in.OrigMerchantOrderNo),
		Kind: in.Kind, Amount: amount, Status: status}
	if in.Card != nil {
		rec.Card = *in.Card
	}
	if err := s.Record(r.Context(), rec); err != nil {
		writeError(w, err)
		return
	}
	if o, ok := s.Order(in.MerchantOrderNo); ok {
		writeJSON(w, http.StatusOK, o)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlOrderAction(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	var err error
	switch r.PathValue("action") {
	case "pay":
		var in struct {
			Card posbridge.Card `json:"card"`
		}
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &in); err != nil {
				writeError(w, err)
				return
			}
		}
		err = s.Pay(no, in.Card)
	case "fail":
		err = s.Fail(no)
	case "settle":
		err = s.Settle(no)
	case "paying":
		err = s.StartPaying(no)
	case "expire":
		err = s.Expire(no)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	o, _ := s.Order(no)
	writeJSON(w, http.StatusOK, o)
}

func (s *Sandbox) ctlRefundAction(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	var err error
	switch r.PathValue("action") {
	case "settle":
		err = s.SettleRefund(no)
	case "succeed":
		err = s.SucceedRefund(no)
	case "fail":
		err = s.FailRefund(no)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Path string `json:"path"`
		Fault
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	if err := s.SetFault(in.Path, in.Fault); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) ctlNotifier(w http.ResponseWriter, r *http.Request) {
	var in struct {
		NotifierOptions
		NotifyURL *string `json:"notifyUrl"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	s.SetNotifier(in.NotifierOptions)
	if in.NotifyURL != nil {
		s.SetNotifyURL(*in.NotifyURL)
	}
	w.WriteHeader(http.StatusNoContent)
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %w", ErrInvalid, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, errorStatus(err), map[string]string{"error": err.Error()})
}

// ControlClient drives a sandbox's control API over HTTP, for a simulated
// terminal or a test in another process. URL is the control URL
// ("http://127.0.0.1:PORT/_sandbox"); HTTP defaults to http.DefaultClient.
// Errors wrap ErrInvalid, ErrNotFound or ErrConflict after the answer's status.
type ControlClient struct {
	URL  string
	HTTP *http.Client
}

var _ posbridge.Acquirer = (*ControlClient)(nil)
var _ posbridge.Acquirer = (*Sandbox)(nil)

// Record tells the sandbox about an order made on a terminal; see Sandbox.Record.
func (c *ControlClient) Record(ctx context.Context, r posbridge.AcquirerRecord) error {
	status := map[posbridge.GatewayStatus]string{posbridge.GatewayCreated: StatusCreated,
		posbridge.GatewayPaid: StatusPaid, posbridge.GatewayFailed: StatusFailure}[r.Status]
	in := recordJSON{MerchantOrderNo: string(r.OrderNo), Amount: json.RawMessage(`"` + r.Amount.Decimal() + `"`),
		Currency: r.Amount.Currency, Status: status, Kind: r.Kind, OrigMerchantOrderNo: string(r.OrigNo)}
	if r.Card != (posbridge.Card{}) {
		in.Card = &r.Card
	}
	return c.do(ctx, http.MethodPost, "/payby/orders", in, nil)
}

// OrderAction runs "pay", "fail", "settle" or "expire" on an order.
func (c *ControlClient) OrderAction(ctx context.Context, merchantOrderNo, action string) error {
	return c.do(ctx, http.MethodPost, "/payby/orders/"+merchantOrderNo+"/"+action, nil, nil)
}

// RefundAction runs "settle", "succeed" or "fail" on a refund.
func (c *ControlClient) RefundAction(ctx context.Context, refundMerchantOrderNo, action string) error {
	return c.do(ctx, http.MethodPost, "/payby/refunds/"+refundMerchantOrderNo+"/"+action, nil, nil)
}

// SetFault queues a fault for path; see Sandbox.SetFault.
func (c *ControlClient) SetFault(ctx context.Context, path string, f Fault) error {
	in := struct {
		Path string `json:"path"`
		Fault
	}{path, f}
	return c.do(ctx, http.MethodPost, "/faults", in, nil)
}

// Charges returns how many times each order was charged.
func (c *ControlClient) Charges(ctx context.Context) (map[string]int, error) {
	var out map[string]int
	err := c.do(ctx, http.MethodGet, "/charges", nil, &out)
	return out, err
}

func (c *ControlClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("sandbox control %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("sandbox control %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox control %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRequestBody))
	if err != nil {
		return fmt.Errorf("sandbox control %s: read answer: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		var class error
		switch resp.StatusCode {
		case http.StatusBadRequest:
			class = ErrInvalid
		case http.StatusNotFound:
			class = ErrNotFound
		case http.StatusConflict:
			class = ErrConflict
		default:
			class = errors.New(http.StatusText(resp.StatusCode))
		}
		return fmt.Errorf("sandbox control %s %s: HTTP %d %s: %w", method, path, resp.StatusCode, e.Error, class)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("sandbox control %s: decode answer: %w", path, err)
		}
	}
	return nil
}
