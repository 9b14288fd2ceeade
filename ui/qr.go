package ui

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"

	qrcode "github.com/yeqown/go-qrcode/v2"

	"github.com/posbridge/posbridge"
)

// The QR code of a payment page, drawn on the daemon: nothing leaves the
// till to make it. At qrModule pixels a module, a payment URL (a version 4
// to 6 code) is about 400 to 500 pixels square, which the page shows large
// enough to scan from the customer's side of the counter.
const (
	qrModule = 10 // pixels per module
	qrQuiet  = 4  // the quiet zone around the code, in modules (the standard's minimum)
)

// handleQR serves GET /payments/{order_no}/qr.png: the payment's page URL as
// a QR code (PNG). 404 when the payment has no page (a terminal payment, or
// a QR payment not opened at the gateway yet).
func (s *Server) handleQR(w http.ResponseWriter, r *http.Request) error {
	no, err := orderNoOf(r)
	if err != nil {
		return err
	}
	o, err := s.svc.Payment(r.Context(), no)
	if err != nil {
		return err
	}
	if o.PaymentURL == "" {
		return posbridge.Errorf(posbridge.ENOTFOUND, "Payment %s has no payment page to show as a QR code.", no)
	}
	var buf bytes.Buffer
	if err := writeQRPNG(&buf, o.PaymentURL); err != nil {
		return fmt.Errorf("draw the QR code of %s: %w", no, err)
	}
	w.Header().Set("Content-Type", "image/png")
	// The page of an order never changes: the browser may keep it.
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(buf.Bytes())
	return nil
}

// writeQRPNG writes text as a QR code (error correction M) in PNG: black
// modules on white with the quiet zone.
func writeQRPNG(w io.Writer, text string) error {
	qr, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return err
	}
	return qr.Save(&pngWriter{w: w})
}

// pngWriter draws a QR code's matrix as a PNG (qrcode.Writer).
type pngWriter struct{ w io.Writer }

func (p *pngWriter) Write(mat qrcode.Matrix) error {
	n := mat.Width()
	size := (n + 2*qrQuiet) * qrModule
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	mat.Iterate(qrcode.IterDirection_COLUMN, func(x, y int, v qrcode.QRValue) {
		if !v.IsSet() {
			return
		}
		x0, y0 := (x+qrQuiet)*qrModule, (y+qrQuiet)*qrModule
		for yy := y0; yy < y0+qrModule; yy++ {
			row := img.Pix[yy*img.Stride:]
			for xx := x0; xx < x0+qrModule; xx++ {
				row[xx] = 0
			}
		}
	})
	return png.Encode(p.w, img)
}

func (p *pngWriter) Close() error { return nil }

// checkJSON is the answer of POST /payments/{order_no}/check.
type checkJSON struct {
	Paid    bool        `json:"paid"`
	Message string      `json:"message"`
	Payment paymentJSON `json:"payment"`
}

// handleCheck serves POST /payments/{order_no}/check, the cashier's
// "Payment completed" button of a QR payment: the gateway is asked now.
// Paid: paid. Not paid: the payment stays open (the customer may still pay
// until it expires or is canceled), and the answer says not to take payment
// again. A page the customer saw say "paid" proves nothing.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) error {
	no, by, err := actionOf(r)
	if err != nil {
		return err
	}
	by.Reason = joinReason("payment completed button", by.Reason)
	o, err := s.svc.Verify(r.Context(), no, by)
	if err != nil {
		return err
	}
	res := checkJSON{Paid: o.Status == posbridge.StatusPaid, Message: posbridge.Instruction(o), Payment: toPayment(o)}
	if o.Open() {
		res.Message = posbridge.InstructionQRNotPaid
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func joinReason(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}
