package posbridge_test

import (
	"fmt"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway/codepay"
	"github.com/posbridge/posbridge/gateway/payby"
	"github.com/posbridge/posbridge/gateway/sandbox"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// The gateway-specific parts of the simulation: each scenario runs against
// PayBy and against CodePay over the same sandbox orders (and against Pay
// Protocol: simulation_payprotocol_test.go).

// gatewayClient returns the world's gateway client, talking to the sandbox
// over the in-memory network.
func (w *world) gatewayClient() posbridge.Gateway {
	keys := w.sb.Keys()
	if w.pp != nil {
		return w.ppClient()
	}
	if w.gw == "codepay" {
		c, err := codepay.New(codepay.Config{
			BaseURL: "http://gateway", AppID: w.sb.CodePayAppID(), MerchantNo: w.sb.CodePayMerchantNo(), StoreNo: "S1",
			AppKey: keys.Merchant, GatewayKey: &keys.Gateway.PublicKey,
			HTTPClient: w.net.Client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: w.log,
		})
		if err != nil {
			w.t.Fatalf("codepay client: %v", err)
		}
		return c
	}
	c, err := payby.New(payby.Config{
		BaseURL: "http://gateway/sgs/api", PartnerID: w.sb.PartnerID(),
		MerchantKey: keys.Merchant, GatewayKey: &keys.Gateway.PublicKey,
		HTTPClient: w.net.Client(), Timeout: 5 * time.Second, RatePerSecond: -1, Logger: w.log,
	})
	if err != nil {
		w.t.Fatalf("payby client: %v", err)
	}
	return c
}

// notifyHandler returns the world's gateway notification handler.
func (w *world) notifyHandler(svc posbridge.NotificationService) http.Handler {
	keys := w.sb.Keys()
	if w.pp != nil {
		return w.ppNotifyHandler(svc)
	}
	if w.gw == "codepay" {
		h, err := codepay.NewNotifyHandler(codepay.NotifyConfig{GatewayKey: &keys.Gateway.PublicKey,
			MerchantNo: w.sb.CodePayMerchantNo(), Logger: w.log}, svc)
		if err != nil {
			w.t.Fatalf("notify handler: %v", err)
		}
		return h
	}
	h, err := payby.NewNotifyHandler(payby.NotifyConfig{GatewayKey: &keys.Gateway.PublicKey, Logger: w.log}, svc)
	if err != nil {
		w.t.Fatalf("notify handler: %v", err)
	}
	return h
}

// currency is what the world's customers pay in: PayBy takes only AED.
func (w *world) currency() string {
	if w.gw == "codepay" || w.gw == "payprotocol" {
		return "USD"
	}
	return "AED"
}

// outageFault is the gateway's "down" answer: PayBy's unsigned 504, or
// CodePay's SYSTEM_ERROR (a mutation's outcome unknown).
func (w *world) outageFault() sandbox.Fault {
	if w.gw == "codepay" {
		return sandbox.Fault{Kind: sandbox.FaultCode, Code: codepay.CodeSystem, Msg: "system error"}
	}
	return sandbox.Fault{Kind: sandbox.FaultCode, Code: "504", Msg: "SERVICE_TIMEOUT", Unsigned: true}
}

// forgeCodePay posts a CodePay notification saying no is paid: signed with
// another key (forged), or correctly signed with the wrong amount.
func (w *world) forgeCodePay(no posbridge.OrderNo, signedWrongAmount bool) {
	n := w.forgedSent.Add(1)
	p := codepay.Params{}
	p.SetString("notify_id", fmt.Sprintf("F%d", n))
	p.SetString("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	p.SetString("sign_type", "RSA2")
	p.SetString("merchant_no", w.sb.CodePayMerchantNo())
	p.SetString("merchant_order_no", string(no))
	p.SetString("trans_no", "999")
	p.SetNumber("trans_type", "1")
	p.SetNumber("trans_status", "2")
	p.SetString("price_currency", w.currency())
	p.SetNumber("order_amount", "0.01")
	key := w.sb.Keys().Gateway
	if !signedWrongAmount {
		key = simForgerKey(w.t)
	}
	if err := p.Sign(key); err != nil {
		w.t.Error(err)
		return
	}
	body, err := p.Marshal()
	if err != nil {
		w.t.Error(err)
		return
	}
	req, _ := http.NewRequest(http.MethodPost, "http://notify/notify/codepay", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	w.sendForged(req, no, signedWrongAmount)
}

// cables returns the lanes with a cable (and a simulated terminal on it).
func (w *world) cables() []*simLane {
	var out []*simLane
	for _, l := range w.lanes {
		if !l.cloud {
			out = append(out, l)
		}
	}
	return out
}

// cloudTerminal returns a cloud lane's terminal: CodePay's cloud API on the
// sandbox, polled every 2 s for 60 s.
func (w *world) cloudTerminal() posbridge.Terminal {
	c, ok := w.gatewayClient().(*codepay.Client)
	if !ok {
		w.t.Fatalf("a cloud lane needs the CodePay gateway, not %s", w.gw)
	}
	t, err := codepay.NewCloudTerminal(c, codepay.CloudConfig{TerminalSN: "SIMCLOUD1", RejectOffline: true, Logger: w.log})
	if err != nil {
		w.t.Fatalf("cloud terminal: %v", err)
	}
	return t
}

// setCustomer makes the lane's next customer follow script: on the
// simulated terminal, or (a cloud lane) as the sandbox's cloud customer.
// A script that approves pays, one that declines or cancels does so; the
// serial link's own troubles have no cloud counterpart.
func (w *world) setCustomer(l *simLane, script termsim.Script) {
	if !l.cloud {
		l.sim.SetDefault(script)
		return
	}
	c := sandbox.CloudCustomer{Action: sandbox.CloudApprove, Delay: script.Delay, Card: posbridge.Card{Brand: "VISA", Last4: "4242"}}
	switch script.Action {
	case termsim.Decline:
		c.Action = sandbox.CloudDecline
	case termsim.Cancel, termsim.ReadTimeout:
		c.Action = sandbox.CloudCancel
	case termsim.Never:
		c.Action = sandbox.CloudIgnore
	}
	if err := w.sb.SetCloudCustomer(c); err != nil {
		w.t.Errorf("cloud customer: %v", err)
	}
}

// saleRequests counts the sales the lane's terminal got for o: the serial
// terminal's, or the cloud pushes that named the order.
func (w *world) saleRequests(o posbridge.Order) int {
	if o.Lane == simQRLane {
		return 0 // no terminal: the customer pays on the gateway's page
	}
	l := w.laneOf(o)
	if !l.cloud {
		return l.sim.SaleRequests(o.No)
	}
	n := 0
	for _, r := range w.sb.Requests() {
		if r.Path == sandbox.CodePayPath+"#"+codepay.MethodPay && strings.Contains(r.Body, `"`+string(o.No)+`"`) {
			n++
		}
	}
	return n
}

// reconcileConfig is the engine's reconcile schedule. Half of the CodePay
// scenarios (chosen apart from the scenario's own random stream, so PayBy's
// seeds replay as before) use the other option of CodePay's guide (seed 002
// §4.2): the sweep of the last 10 minutes every 30 s, at most 10 checks.
func (w *world) reconcileConfig() posbridge.ReconcileConfig {
	c := posbridge.DefaultReconcileConfig()
	if w.gw == "codepay" && rand.New(rand.NewSource(w.seed^0x5eeb)).Intn(2) == 0 {
		c.Mode = posbridge.ReconcileSweep
	}
	return c
}
