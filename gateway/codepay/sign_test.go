package codepay_test

import (
	"crypto/rsa"
	"errors"
	"path/filepath"
	"testing"

	"github.com/posbridge/posbridge/gateway"
	"github.com/posbridge/posbridge/gateway/codepay"
)

// The vectors below were computed outside Go, with
//
//	printf %s "$canonical" | openssl dgst -sha256 -sign testdata/fixture-app-private.pem | base64 -w0
//
// so the test checks the canonical string and the signature bytes against
// an independent implementation of SHA256withRSA, not against itself.
const (
	vectorRequestBody = `{"app_id":"wz6012822ca2f1as78","method":"order.refund.submit","format":"JSON",` +
		`"charset":"UTF-8","sign_type":"RSA2","version":"1.0","timestamp":"1700000000000",` +
		`"merchant_no":"312100000164","merchant_order_no":"R1B2C3D4E5F6G7H8",` +
		`"orig_merchant_order_no":"A1B2C3D4E5F6G7H8","price_currency":"USD","trans_amount":34.50,` +
		`"description":"","notify_url":null}`
	vectorRequestCanonical = "app_id=wz6012822ca2f1as78&charset=UTF-8&format=JSON&merchant_no=312100000164" +
		"&merchant_order_no=R1B2C3D4E5F6G7H8&method=order.refund.submit&orig_merchant_order_no=A1B2C3D4E5F6G7H8" +
		"&price_currency=USD&sign_type=RSA2&timestamp=1700000000000&trans_amount=34.50&version=1.0"
	vectorRequestSign = "T3GNZeTXFArV/eWwP97F42K1Zolpc6C28MeLy3/xZy7zBd0ypOFpHTIYF3iIqKcRl29/Sle/fqMxTQT8s1NJg9u5BbSRaVHy919yObTVdWXwgkap9F49nKU+T1xsikmKcjUxTDkgAzoMWZEYByJMzGm/GhasrLorPR0AEtLTwdw+0Cni0Tv+XdgkjQaIq43aF+yABvO8+rzObUK7OcRR4tH6eJoSxu3aLq+RfuvLFtoUD45SEcfD1r1pjQoawepO//U9wHLuI+u6jXzgibwW43lNcB9a2EOPEwWrlS/4tjciz/jz0z90YUNRmQMJaa/RH0N5UXiIU3w5CJDRGqSjzw=="

	vectorResponseData      = `{"trans_no":"202311140000000001","trans_status":2,"merchant_order_no":"A1B2C3D4E5F6G7H8","price_currency":"USD","order_amount":34.50}`
	vectorResponseCanonical = `code=0&data=` + vectorResponseData + `&msg=success&psn=11142300000001`
	vectorResponseSign      = "N5kmX8rxIXpoWenzd2B0W3Ck2SrZ4gwlCvgZ0CPq9d/SUjgIrP5PKItOvsDsJka5ub+NMsGX5p21cAYLyBKCMcsz4eSz5ldxgMSmky8h/0kEgeo68cabplSOxscBBHLfuHPwGS7/Ghx1ceo/URCaXUI8XlMwssFi0ikWVXC/y2olw8DK5FFz4atGvc/h/JRR19ulSiA6LQf8dK4H5/h2P9V7uH15EjkDvHenweiU73+gp3R/8Hjc4999Z4QQGvCXpebrtOxQ1xthYPJuxouRQG/+niwB1zjKruOY9bEmnUjpxenSwZEV2RBmyteNXOAoj3Ik9SIRZ6rdOjs0ZNWp1g=="
)

func fixtureKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	k, err := gateway.LoadPrivateKey(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSign_FixedRequestVector(t *testing.T) {
	key := fixtureKey(t, "fixture-app-private.pem")
	p, err := codepay.ParseParams([]byte(vectorRequestBody))
	if err != nil {
		t.Fatal(err)
	}
	// 34.50 is signed as written (not 34.5), the empty description and
	// the null notify_url are left out.
	if got := p.Canonical(); got != vectorRequestCanonical {
		t.Fatalf("canonical\n got %s\nwant %s", got, vectorRequestCanonical)
	}
	if err := p.Sign(key); err != nil {
		t.Fatal(err)
	}
	if got := p.String("sign"); got != vectorRequestSign {
		t.Fatalf("sign\n got %s\nwant %s", got, vectorRequestSign)
	}
	// The sign field itself is never part of what is signed.
	if got := p.Canonical(); got != vectorRequestCanonical {
		t.Fatalf("canonical with sign = %s", got)
	}
	if err := p.Verify(&key.PublicKey); err != nil {
		t.Fatalf("verify own signature: %v", err)
	}
	// The body as sent keeps the amount's text.
	body, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := codepay.ParseParams(body)
	if err != nil {
		t.Fatal(err)
	}
	if string(back["trans_amount"]) != "34.50" || back.Canonical() != vectorRequestCanonical {
		t.Fatalf("sent body changed the signed text: %s", body)
	}
}

func TestSign_CanonicalRules(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"sorted by byte order", `{"b":"2","a":"1","B":"0","a_b":"3"}`, "B=0&a=1&a_b=3&b=2"},
		{"empty and null dropped", `{"a":"","b":null,"c":"x"}`, "c=x"},
		{"sign excluded", `{"sign":"abc","a":"1"}`, "a=1"},
		{"numbers as written", `{"amount":34.50,"n":7,"z":0}`, "amount=34.50&n=7&z=0"},
		{"booleans", `{"f":false,"t":true}`, "f=false&t=true"},
		{"strings unescaped, not URL-encoded", `{"d":"a&b=c \u00e9\"q\""}`, `d=a&b=c é"q"`},
		{"objects compact", `{"o":{"x": 1, "y": [1, 2]}}`, `o={"x":1,"y":[1,2]}`},
		{"zero as text is kept", `{"s":"0"}`, "s=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := codepay.ParseParams([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Canonical(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeResponse_FixedVector(t *testing.T) {
	gw := fixtureKey(t, "fixture-gateway-private.pem")
	p := codepay.Params{}
	p.SetString("code", "0")
	p.SetString("msg", "success")
	p.SetString("psn", "11142300000001")
	p.SetString("data", vectorResponseData)
	if got := p.Canonical(); got != vectorResponseCanonical {
		t.Fatalf("canonical\n got %s\nwant %s", got, vectorResponseCanonical)
	}
	p.SetString("sign", vectorResponseSign)
	body, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := codepay.DecodeResponse(&gw.PublicKey, body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var tr codepay.Trans
	if err := codepay.DecodeData(r.Data, &tr); err != nil {
		t.Fatal(err)
	}
	g, err := tr.Order()
	if err != nil {
		t.Fatal(err)
	}
	if g.Amount.Minor != 3450 || g.Amount.Currency != "USD" || !g.Status.Paid() {
		t.Fatalf("order = %+v", g)
	}

	tests := []struct {
		name   string
		mutate func(codepay.Params)
		want   error
	}{
		{"one digit of data changed", func(p codepay.Params) {
			p.SetString("data", `{"trans_no":"202311140000000001","trans_status":2,"merchant_order_no":"A1B2C3D4E5F6G7H8","price_currency":"USD","order_amount":34.59}`)
		}, gateway.ErrBadSignature},
		{"data re-encoded (34.5 for 34.50)", func(p codepay.Params) {
			p.SetString("data", `{"trans_no":"202311140000000001","trans_status":2,"merchant_order_no":"A1B2C3D4E5F6G7H8","price_currency":"USD","order_amount":34.5}`)
		}, gateway.ErrBadSignature},
		{"no sign", func(p codepay.Params) { delete(p, "sign") }, gateway.ErrNoSignature},
		{"code changed", func(p codepay.Params) { p.SetString("code", "1") }, gateway.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := codepay.ParseParams(body)
			tt.mutate(q)
			b, err := q.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := codepay.DecodeResponse(&gw.PublicKey, b); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestTrans_StatusIntegerOrString(t *testing.T) {
	tests := []struct {
		status  string
		want    string
		revoked bool
		bad     bool
	}{
		{`9`, "created", false, false},
		{`"9"`, "created", false, false},
		{`0`, "created", false, false},
		{`1`, "failed", false, false},
		{`"2"`, "paid", false, false},
		{`2`, "paid", false, false},
		{`3`, "failed", true, false},
		{`4`, "", false, true},
		{`"x"`, "", false, true},
		{`2.0`, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			var tr codepay.Trans
			err := codepay.DecodeData([]byte(`{"merchant_order_no":"A1","price_currency":"USD","order_amount":"1.00","trans_status":`+tt.status+`}`), &tr)
			if err != nil {
				t.Fatal(err)
			}
			g, err := tr.Order()
			if tt.bad {
				if err == nil {
					t.Fatalf("status %s accepted: %+v", tt.status, g)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(g.Status) != tt.want || g.Revoked != tt.revoked {
				t.Fatalf("got %s revoked=%v", g.Status, g.Revoked)
			}
		})
	}
}

func FuzzDecodeResponse(f *testing.F) {
	gw := fixtureKey(f, "fixture-gateway-private.pem")
	f.Add([]byte(`{"code":"0","msg":"success","psn":"1","data":"{\"trans_status\":2}","sign":"` + vectorResponseSign + `"}`))
	f.Add([]byte(`{"code":"0","data":{"a":1}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := codepay.DecodeResponse(&gw.PublicKey, body)
		if err == nil {
			// Only a correctly signed answer is ever accepted; no random
			// input can be.
			t.Fatalf("accepted unsigned fuzz input: %+v", r)
		}
		p, err := codepay.ParseParams(body)
		if err != nil {
			return
		}
		_ = p.Canonical()
		var tr codepay.Trans
		if codepay.DecodeData(p["data"], &tr) == nil {
			if g, err := tr.Order(); err == nil && g.Amount.Minor < 0 {
				t.Fatalf("negative amount %v", g.Amount)
			}
			_, _ = tr.Refund()
		}
	})
}
