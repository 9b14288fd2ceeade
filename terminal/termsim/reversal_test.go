package termsim_test

import (
	"testing"
	"testing/synctest"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

func refund(no, orig, amount string) terminal.Message {
	return terminal.Message{Topic: terminal.TopicOrder, RequestID: "r" + no, Biz: terminal.BizData{
		TransType: terminal.TransRefund, MerchantOrderNo: no, OrigMerchantNo: orig, OrderAmount: amount, PriceCurrency: "AED"}}
}

// A refund with the card present: recorded with the acquirer as Kind
// "refund" of the original (the sandbox's refund order), answered 000 with
// trans_status 2; the sale stays paid. A refund of an unknown or unpaid
// sale is 119 and recorded nowhere. With LoseResponse the refund is done
// and recorded, but only a query tells.
func TestSim_Refund(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		acq := &recorder{}
		sim, e := startSim(t, termsim.Config{Acquirer: acq})
		e.send(sale("P1", "10.00"), false)
		if r, _ := e.send(refund("R1", "P1", "4.00"), false); r.ResponseCode != "000" || r.Biz.TransStatus != "2" || r.Biz.TransType != terminal.TransRefund {
			t.Fatalf("refund: %+v", r)
		}
		if txn, _ := sim.Txn("P1"); txn.Status != "2" {
			t.Fatalf("refunded sale status %q, want 2 (still paid)", txn.Status)
		}
		if r, _ := e.send(refund("R2", "NOPE", "1.00"), false); r.ResponseCode != "119" {
			t.Fatalf("refund of an unknown sale: %+v", r)
		}
		sim.SetScript("R3", termsim.Script{Action: termsim.Approve, LoseResponse: true})
		e.id++
		p, err := terminal.EncodeMessage(refund("R3", "P1", "1.00"))
		if err != nil {
			t.Fatal(err)
		}
		e.write(terminal.Frame{ID: e.id, Payload: p})
		q := terminal.Message{Topic: terminal.TopicQuery, RequestID: "q3", Biz: terminal.BizData{MerchantOrderNo: "R3"}}
		if r, _ := e.send(q, false); r.Topic != terminal.TopicQuery || r.Biz.TransStatus != "2" {
			t.Fatalf("query of a refund whose answer was lost: %+v", r)
		}
		recs := acq.list()
		if len(recs) != 3 {
			t.Fatalf("acquirer records %+v, want the sale and two refunds", recs)
		}
		for i, w := range []struct {
			no     string
			amount int64
		}{{"R1", 400}, {"R3", 100}} {
			got := recs[i+1]
			if string(got.OrderNo) != w.no || got.Kind != "refund" || got.OrigNo != "P1" || got.Status != posbridge.GatewayPaid || got.Amount.Minor != w.amount {
				t.Fatalf("record %d = %+v", i+1, got)
			}
		}
	})
}
