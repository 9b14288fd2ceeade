package payby_test

import (
	"testing"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/payby"
)

// TestCardInfo_BothConventions: the card of a paid order is read as PayBy's
// official SDKs name it (cardInfo.brand, cardInfo.last4) and as samples
// and older sandboxes did (cardBrand, a masked cardNo).
func TestCardInfo_BothConventions(t *testing.T) {
	k := testKeys(t)
	for _, tt := range []struct {
		name, cardInfo string
		want           posbridge.Card
	}{
		{"official-sdk", `{"brand":"VISA","last4":"4242"}`, posbridge.Card{Brand: "VISA", Last4: "4242"}},
		{"samples", `{"cardBrand":"VISA","cardNo":"411111******4242"}`, posbridge.Card{Brand: "VISA", Last4: "4242"}},
		{"full-number-kept-to-last4", `{"brand":"MASTERCARD","cardNo":"5555555555554444"}`, posbridge.Card{Brand: "MASTERCARD", Last4: "4444"}},
		{"no-digits", `{"brand":"VISA","last4":"x"}`, posbridge.Card{Brand: "VISA"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(order("PAID_SUCCESS", `,"paymentInfo":{"paidAmount":{"currency":"AED","amount":12.5},"paidTime":1767225590000,"payChannel":"BANKCARD","cardInfo":`+tt.cardInfo+`}`))
			sig, err := gateway.SignSHA256(k.Gateway, body)
			if err != nil {
				t.Fatal(err)
			}
			n, err := payby.VerifyNotification(&k.Gateway.PublicKey, body, sig, time.UnixMilli(fixtureTime), 15*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if n.Card != tt.want {
				t.Fatalf("card %+v, want %+v", n.Card, tt.want)
			}
		})
	}
}
