package main

import "testing"

// With the CodePay gateway the cashier page takes a payment to "Payment
// successful" on the serial lane and on the cloud lane alike.
func TestBrowser_CodePaySerialAndCloudLanes(t *testing.T) {
	r := newBrowserRig(t, rigOptions{script: browserApprove, gateway: "codepay"})
	r.waitJS(`document.getElementById("lane").options.length === 2`)

	r.payOnPage("3")
	r.waitInstruction("Payment successful")
	r.screenshot("codepay-serial-paid")

	eval[bool](r, `(() => { const s = document.getElementById("lane"); s.value = "cloud"; return s.dispatchEvent(new Event("change")); })()`)
	r.waitJS(`document.getElementById("lane").value === "cloud"`)
	r.payOnPage("7")
	r.waitInstruction("Payment successful")
	r.screenshot("codepay-cloud-paid")

	for _, o := range r.w.Sandbox.Orders() {
		if o.Charges != 1 {
			t.Errorf("sandbox order %s charged %d times", o.MerchantOrderNo, o.Charges)
		}
	}
	if n := len(r.w.Sandbox.Orders()); n != 2 {
		t.Fatalf("%d orders at the gateway, want 2", n)
	}
}
