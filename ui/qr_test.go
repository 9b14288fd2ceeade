package ui

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/posbridge/posbridge"
)

// decodeQR reads the QR code in a PNG.
func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	return res.GetText()
}

// The QR code of a payment page decodes to the page's URL exactly, at a
// size that scans across a counter; a payment without a page has none.
func TestQRCode(t *testing.T) {
	o := testOrder("Q1000001", "1", 1250)
	f := &fakeService{}
	f.PaymentFunc = paymentsOf(&o)
	s := mustOpenServer(t, f, Config{Lanes: []string{"1", "2"}})
	no := string(o.No)
	r := doReq(t, "GET", s.URL()+"/api/v1/payments/"+no+"/qr.png", "")
	if r.status != http.StatusNotFound || r.errCode() != posbridge.ENOTFOUND {
		t.Fatalf("QR code of a payment without a page: %d %s", r.status, r.raw)
	}
	for _, url := range []string{
		"https://sandbox.test/payby/pay/131658300517875854",
		"https://pay.payby.com/cashier?token=" + strings.Repeat("Ab9_-", 40),
	} {
		// Opened at the gateway: its page's URL and expiry are known.
		o.PaymentURL, o.PaymentExpiresAt = url, testStart.Add(5*time.Minute)
		res, err := http.Get(s.URL() + "/api/v1/payments/" + no + "/qr.png")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET qr.png: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(buf.Bytes()))
		if err != nil || cfg.Width < 290 || cfg.Width != cfg.Height {
			t.Fatalf("QR code %dx%d (%v), want a square of at least 290 px", cfg.Width, cfg.Height, err)
		}
		if got := decodeQR(t, buf.Bytes()); got != url {
			t.Fatalf("the QR code says %q, want %q", got, url)
		}
		p := doReq(t, "GET", s.URL()+"/api/v1/payments/"+no, "")
		if str(p.body, "payment_url") != url || p.body["payment_expires_at"] == nil {
			t.Fatalf("payment JSON: %s", p.raw)
		}
	}
}

// FuzzQRCode: any page URL either draws a code that decodes to it exactly
// or is refused with an error; it never panics.
func FuzzQRCode(f *testing.F) {
	f.Add("https://sandbox.test/payby/pay/131658300517875854")
	f.Add("")
	f.Add(strings.Repeat("\xff", 3000))
	f.Fuzz(func(t *testing.T, url string) {
		var buf bytes.Buffer
		if err := writeQRPNG(&buf, url); err != nil {
			return
		}
		if _, err := png.DecodeConfig(bytes.NewReader(buf.Bytes())); err != nil {
			t.Fatalf("not a PNG: %v", err)
		}
	})
}
