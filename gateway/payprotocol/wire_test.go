package payprotocol_test

import (
	"encoding/json"
	"testing"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
)

func TestPayment_Order(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     posbridge.GatewayStatus
		received int64
		bad      bool
	}{
		{"unpaid", `{"outTradeNo":"A1","paymentStatus":"unpaid","quoteCurrencySymbol":"AED","quoteAmount":10}`, posbridge.GatewayCreated, 0, false},
		{"paid, amounts as strings", `{"outTradeNo":"A1","paymentStatus":"paid","quoteCurrencySymbol":"aed","quoteAmount":"10.00","paidAmount":"10.00"}`, posbridge.GatewayPaid, 1000, false},
		{"partially paid", `{"outTradeNo":"A1","paymentStatus":"partially paid","quoteCurrencySymbol":"AED","quoteAmount":10.00,"paidAmount":5.5}`, posbridge.GatewayPartiallyPaid, 550, false},
		{"payment failed", `{"outTradeNo":"A1","paymentStatus":"payment failed","quoteCurrencySymbol":"AED","quoteAmount":10.00}`, posbridge.GatewayFailed, 0, false},
		{"partially paid in full is a contradiction", `{"outTradeNo":"A1","paymentStatus":"partially paid","quoteCurrencySymbol":"AED","quoteAmount":10,"paidAmount":10}`, "", 0, true},
		{"unknown status", `{"outTradeNo":"A1","paymentStatus":"refunding","quoteCurrencySymbol":"AED","quoteAmount":10}`, "", 0, true},
		{"crypto quote", `{"outTradeNo":"A1","paymentStatus":"paid","quoteCurrencySymbol":"USDT","quoteAmount":10}`, "", 0, true},
		{"exponent amount", `{"outTradeNo":"A1","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":1e1}`, "", 0, true},
		{"bad number", `{"outTradeNo":"A 1","paymentStatus":"paid","quoteCurrencySymbol":"AED","quoteAmount":10}`, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p payprotocol.Payment
			if err := json.Unmarshal([]byte(tt.body), &p); err != nil {
				t.Fatal(err)
			}
			g, err := p.Order()
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted as %+v", g)
				}
				return
			}
			if err != nil || g.Status != tt.want || g.Received.Minor != tt.received || g.Amount.Minor != 1000 {
				t.Fatalf("%+v, %v; want %s received %d", g, err, tt.want, tt.received)
			}
		})
	}
}

// FuzzAnswer feeds the client's decoding of an answer (envelope, then a
// payment or a refund) arbitrary bytes: it never panics, and what it
// accepts is consistent.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(`{"code":200,"msg":"success","data":{"outTradeNo":"A1","outPaymentNo":"P1","paymentStatus":"partially paid","quoteCurrencySymbol":"AED","quoteAmount":10.00,"paidAmount":6}}`))
	f.Add([]byte(`{"code":200,"msg":"success","data":{"outRefundNo":"R1","outTradeNo":"A1","refundNo":"RF1","refundStatus":"pending","quoteCurrencySymbol":"AED","refundAmount":"1.00"}}`))
	f.Add([]byte(`{"code":404,"msg":"not found"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var env payprotocol.Envelope
		if json.Unmarshal(b, &env) != nil {
			return
		}
		var p payprotocol.Payment
		if json.Unmarshal(env.Data, &p) == nil {
			if g, err := p.Order(); err == nil {
				if g.OrderNo == "" || g.Amount.Currency == "" || g.Status == posbridge.GatewayPartiallyPaid && g.Received.Minor >= g.Amount.Minor {
					t.Fatalf("accepted %s as %+v", b, g)
				}
			}
		}
		var r payprotocol.RefundOrder
		if json.Unmarshal(env.Data, &r) == nil {
			if g, err := r.Refund(); err == nil && (g.RefundNo == "" || g.OrderNo == "" || g.Amount.Currency == "") {
				t.Fatalf("accepted %s as %+v", b, g)
			}
		}
	})
}
