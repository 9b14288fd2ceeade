package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/posbridgetest"
)

// TestSandbox_OfficialSDKEnvelope checks that the sandbox accepts the
// envelope as PayBy's official SDKs send it (the PHP SDK: requestTime as
// ISO-8601 text and a partnerId body field) as well as posbridge's (epoch
// milliseconds, Partner-Id header), and answers a paid order's card as
// cardInfo.brand and cardInfo.last4.
func TestSandbox_OfficialSDKEnvelope(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sb := newSandbox(t, posbridgetest.NewManualClock(now))
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	err := sb.Record(context.Background(), posbridge.AcquirerRecord{OrderNo: "ENV1", Kind: "sale", Amount: aed(1250),
		Status: posbridge.GatewayPaid, Card: posbridge.Card{Brand: "Visa", Last4: "4242"}})
	if err != nil {
		t.Fatal(err)
	}
	biz := `{"merchantOrderNo":"ENV1"}`
	for _, tt := range []struct {
		name     string
		body     string
		header   string
		wantCode string
	}{
		{"posbridge", `{"requestTime":` + ms(now) + `,"bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "0"},
		{"epoch-as-text", `{"requestTime":"` + ms(now) + `","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "0"},
		{"php-sdk", `{"requestTime":"2026-01-01T12:03:00+00:00","partnerId":"` + sandbox.DefaultPartnerID + `","bizContent":` + biz + `}`, "", "0"},
		{"iso-with-offset", `{"requestTime":"2026-01-01T16:00:00.250+04:00","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "0"},
		{"both-partner-ids", `{"requestTime":` + ms(now) + `,"partnerId":"` + sandbox.DefaultPartnerID + `","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "0"},
		{"partner-ids-differ", `{"requestTime":` + ms(now) + `,"partnerId":"200000000999","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "403"},
		{"no-partner-id", `{"requestTime":` + ms(now) + `,"bizContent":` + biz + `}`, "", "403"},
		{"iso-too-early", `{"requestTime":"2026-01-01T11:00:00Z","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "400"},
		{"not-a-time", `{"requestTime":"yesterday","bizContent":` + biz + `}`, sandbox.DefaultPartnerID, "400"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := gateway.SignSHA256(keys.Merchant, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/sgs/api/acquire2/getOrder", bytes.NewReader([]byte(tt.body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("sign", sig)
			if tt.header != "" {
				req.Header.Set("Partner-Id", tt.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var a struct {
				Head struct{ Code string } `json:"head"`
				Body struct {
					AcquireOrder struct {
						PaymentInfo struct {
							CardInfo map[string]string `json:"cardInfo"`
						} `json:"paymentInfo"`
					} `json:"acquireOrder"`
				} `json:"body"`
			}
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatalf("answer %s: %v", raw, err)
			}
			if a.Head.Code != tt.wantCode {
				t.Fatalf("code %q, want %q: %s", a.Head.Code, tt.wantCode, raw)
			}
			if tt.wantCode != "0" {
				return
			}
			ci := a.Body.AcquireOrder.PaymentInfo.CardInfo
			if ci["brand"] != "Visa" || ci["last4"] != "4242" || ci["cardNo"] != "" || ci["cardBrand"] != "" {
				t.Fatalf("cardInfo %v, want brand and last4: %s", ci, raw)
			}
		})
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
