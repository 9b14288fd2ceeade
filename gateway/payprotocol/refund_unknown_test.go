package payprotocol_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/payprotocol"
)

// The gateway accepted the refund (200, code 200) but its answer cannot be
// read, and the refund is not visible yet on /refund/detail (404): the
// refund may well be made, so the outcome is unknown — never a refusal.
func TestRefund_AcceptedThenNotFoundIsUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, payprotocol.PathCreateRefund):
			w.Write([]byte(`{"code":200,"msg":"ok","data":{"outRefundNo":"R1","outTradeNo":"O1","refundNo":"RF1","refundStatus":"REFUNDING","quoteCurrencySymbol":"AED","refundAmount":"5.00"}}`))
		default:
			w.Write([]byte(`{"code":404,"msg":"refund order not found"}`))
		}
	}))
	defer srv.Close()
	c, err := payprotocol.New(payprotocol.Config{BaseURL: srv.URL + "/api/mer", APIKey: "k", Secret: []byte("s"), ChainID: 1, Timeout: 2 * time.Second, RatePerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := posbridge.ParseAmount("5.00", "AED")
	_, err = c.Refund(context.Background(), posbridge.RefundRequest{RefundNo: "R1", OrderNo: "O1", Amount: m})
	t.Logf("err = %v; unknown=%v notfound=%v", err, errors.Is(err, posbridge.ErrUnknownOutcome), errors.Is(err, posbridge.ErrGatewayNotFound))
	if !errors.Is(err, posbridge.ErrUnknownOutcome) {
		t.Fatalf("an accepted refund whose answer was unreadable is %v, want an unknown outcome (submitRefund marks anything else failed)", err)
	}
}
