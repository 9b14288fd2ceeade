package codepay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/posbridge/posbridge/gateway"
)

// call sends method with the fields of p (plus the common ones), verifies
// the answer and decodes its data into out (when not nil). mutation says
// whether the call changes anything: then a code without a known meaning is
// an unknown outcome.
func (c *Client) call(ctx context.Context, method string, p Params, out any, mutation bool) error {
	op := "codepay " + method
	a, err := c.t.Call(ctx, op, func() (gateway.Request, error) {
		p.SetString("app_id", c.appID)
		p.SetString("method", method)
		p.SetString("format", "JSON")
		p.SetString("charset", "UTF-8")
		p.SetString("sign_type", "RSA2")
		p.SetString("version", "1.0")
		p.SetString("timestamp", strconv.FormatInt(c.clock.Now().UnixMilli(), 10))
		p.SetString("merchant_no", c.merchantNo)
		if err := p.Sign(c.key); err != nil {
			return gateway.Request{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "sign request", Err: err}
		}
		body, err := p.Marshal()
		if err != nil {
			return gateway.Request{}, &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "encode request", Err: err}
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Accept", "application/json")
		return gateway.Request{Method: http.MethodPost, URL: c.base + EntryPath, Header: h, Body: body}, nil
	}, "method", method)
	if err != nil {
		return err
	}
	if a.Status/100 != 2 {
		return c.unknown(method, a.Status, "HTTP status", nil)
	}
	r, err := DecodeResponse(c.gw, a.Body)
	if err != nil {
		return c.unknown(method, a.Status, "answer", err)
	}
	if r.Code == CodeOK {
		if out != nil {
			if err := DecodeData(r.Data, out); err != nil {
				return c.unknown(method, a.Status, "malformed data", err)
			}
		}
		return nil
	}
	return &gateway.Error{Class: classify(r.Code, method, mutation), Code: r.Code, Msg: r.Msg, HTTPStatus: a.Status, Op: op}
}

// Response is a verified CodePay answer.
type Response struct {
	Code string
	Msg  string
	PSN  string
	Data []byte // the data field's JSON text (a JSON string as CodePay sends it)
}

// DecodeResponse parses an answer and verifies its signature over the
// sorted k=v of its fields, data as the JSON string it is. Every answer
// must be signed: one without a signature, or with a bad one, is an error
// (gateway.ErrNoSignature, gateway.ErrBadSignature).
func DecodeResponse(key *rsa.PublicKey, body []byte) (Response, error) {
	p, err := ParseParams(body)
	if err != nil {
		return Response{}, err
	}
	if err := p.Verify(key); err != nil {
		return Response{}, fmt.Errorf("response signature: %w", err)
	}
	code := strings.TrimSpace(p.String("code"))
	if code == "" {
		return Response{}, errors.New("no code")
	}
	return Response{Code: code, Msg: p.String("msg"), PSN: p.String("psn"), Data: p["data"]}, nil
}

// classify returns the class of a code other than "0".
func classify(code, method string, mutation bool) gateway.Class {
	switch code {
	case CodeOrderNotExist, CodeRefundNotExist:
		return gateway.ClassNotFound
	case CodeBusy:
		return gateway.ClassRetryable
	case CodeSystem:
		return gateway.ClassUnknownOutcome
	}
	switch method {
	case MethodClose:
		switch code {
		case CodeOrderPaid:
			return gateway.ClassOrderPaid
		case CodeOrderClosed:
			return gateway.ClassOrderClosed
		case CodeOrderPaying:
			return gateway.ClassRetryable
		}
	case MethodRefund, MethodPay:
		switch code {
		case CodeAmountExceeded, CodeDuplicateNo, CodeOrderClosed, CodeTerminalOff, CodeParam, CodeOrderNotPaid, CodeRefundRejected:
			return gateway.ClassFinal
		}
	case MethodRevoke:
		if code == CodeOrderRefunded {
			return gateway.ClassFinal
		}
	}
	if code == CodeSignInvalid || code == CodeTimestamp {
		// Nothing was done: the request never passed the gate.
		return gateway.ClassFinal
	}
	if mutation {
		return gateway.ClassUnknownOutcome
	}
	return gateway.ClassFinal
}

func (c *Client) unknown(method string, status int, msg string, err error) error {
	return gateway.Unknown("codepay "+method, status, msg, err)
}
