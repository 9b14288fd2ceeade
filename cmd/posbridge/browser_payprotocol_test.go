package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// A payment Pay Protocol received only in part (the customer sent 6.00 of
// 10.00) is never shown as paid: the cashier page says only part arrived,
// names the amount received, and the reason is partially paid.
func TestBrowser_PartiallyPaidShowsReceived(t *testing.T) {
	r := newBrowserRig(t, rigOptions{gateway: "payprotocol", script: termsim.Script{Action: termsim.Never}})
	// The sale is entered at Pay Protocol when it starts, unpaid.
	r.w.Sim.SetReportCreated(true)
	r.payOnPage("1", "0")
	var no string
	deadline := time.Now().Add(browserWait)
	for no == "" {
		if orders := r.w.PayProtocol.Orders(); len(orders) == 1 {
			no = orders[0].OutTradeNo
		} else if time.Now().After(deadline) {
			t.Fatalf("the sale never reached the Pay Protocol sandbox: %+v", r.w.PayProtocol.Orders())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	o, _ := r.w.PayProtocol.Order(no)
	part := posbridge.Money{Minor: 600, Currency: o.Amount.Currency}
	if err := r.w.PayProtocol.Pay(no, &part); err != nil {
		t.Fatal(err)
	}
	r.waitInstruction("Only part of the payment arrived — not paid in full; do not take payment again; tell the supervisor")
	r.waitJS(`!document.getElementById("attention").hidden`)
	if got := r.text("attention"); !strings.Contains(got, "received 6.00 "+o.Amount.Currency+" of 10.00 "+o.Amount.Currency) {
		t.Errorf("attention reads %q: want the amount received", got)
	}
	if got := r.text("reason"); got != "Only part of the amount arrived; it is not paid in full." {
		t.Errorf("reason reads %q", got)
	}
	if st := eval[string](r, `document.getElementById("panel").dataset.status`); st != "pending" {
		t.Errorf("panel status %q, want pending", st)
	}
	r.screenshot("partially-paid")
}

// With Pay Protocol a refund waits for approval in the merchant back office:
// the refund dialog says so, the refund stays pending until the sandbox's
// back office approves it, then it is refunded.
func TestBrowser_PayProtocolRefundWaitsForApproval(t *testing.T) {
	r := newBrowserRig(t, rigOptions{gateway: "payprotocol", script: browserApprove})
	r.payOnPage("2", "0")
	r.waitInstruction("Payment successful")
	no := r.text("d-order")
	r.waitJS(`!document.getElementById("act-refund").disabled`)
	r.do(chromedp.Click(chromedp.ID("act-refund")))
	r.waitJS(`document.getElementById("dlg-confirm").open && document.getElementById("rf-refundable").textContent !== ""`)
	r.waitJS(`!document.getElementById("rf-approval").hidden`)
	if got := r.text("rf-approval"); !strings.Contains(got, "waits for approval") {
		t.Errorf("approval note %q", got)
	}
	r.do(chromedp.SetValue(chromedp.ID("dlg-amount"), "5.00"),
		chromedp.SendKeys(chromedp.ID("dlg-reason"), "returned item"),
		chromedp.Click(chromedp.ID("dlg-ok")))
	r.waitJS(`!document.getElementById("dlg-confirm").open`)
	ctx := context.Background()
	rs, err := r.d.Engine.Refunds(ctx, posbridge.OrderNo(no))
	if err != nil || len(rs) != 1 || rs[0].Status != posbridge.RefundPending {
		t.Fatalf("refunds %+v, %v: want one pending (waiting for the back office)", rs, err)
	}
	r.do(chromedp.Click(chromedp.ID("act-refund")))
	r.waitJS(`document.getElementById("dlg-confirm").open && document.getElementById("rf-pending").textContent === "5.00 AED"`)
	r.screenshot("payprotocol-refund-pending")
	r.do(chromedp.Click(chromedp.CSS(`#dlg-confirm button[value="close"]`)))
	r.waitJS(`!document.getElementById("dlg-confirm").open`)
	if err := r.w.PayProtocol.ApproveRefund(string(rs[0].No)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(browserWait)
	for {
		rs, _ = r.d.Engine.Refunds(ctx, posbridge.OrderNo(no))
		if len(rs) == 1 && rs[0].Status == posbridge.RefundSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund after approval: %+v", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.waitJS(`document.getElementById("d-refunded").textContent === "5.00 AED"`)
}
