package codepay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// call sends method with the fields of p (plus the common ones), verifies
// the answer and decodes its data into out (when not nil). mutation says
// whether the call changes anything: then a code without a known meaning is
// an unknown outcome.
func (c *Client) call(ctx context.Context, method string, p Params, out any, mutation bool) error {
	op := "codepay " + method
	if err := c.limiter.Wait(ctx); err != nil {
		return &gateway.Error{Class: gateway.ClassRetryable, Op: op, Msg: "rate limiter wait", Err: err}
	}
	p.SetString("app_id", c.appID)
	p.SetString("method", method)
	p.SetString("format", "JSON")
	p.SetString("charset", "UTF-8")
	p.SetString("sign_type", "RSA2")
	p.SetString("version", "1.0")
	p.SetString("timestamp", strconv.FormatInt(c.clock.Now().UnixMilli(), 10))
	p.SetString("merchant_no", c.merchantNo)
	if err := p.Sign(c.key); err != nil {
		return &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "sign request", Err: err}
	}
	body, err := p.Marshal()
	if err != nil {
		return &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "encode request", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+EntryPath, bytes.NewReader(body))
	if err != nil {
		return &gateway.Error{Class: gateway.ClassFinal, Op: op, Msg: "build request", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	start := c.clock.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return c.unknown(method, 0, "no answer", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return c.unknown(method, resp.StatusCode, "read answer", err)
	}
	c.log.Debug("gateway call", "method", method, "http_status", resp.StatusCode, posbridge.LogKeyDuration, c.clock.Now().Sub(start))
	if resp.StatusCode/100 != 2 {
		return c.unknown(method, resp.StatusCode, "HTTP status", nil)
	}
	r, err := DecodeResponse(c.gw, raw)
	if err != nil {
		return c.unknown(method, resp.StatusCode, "answer", err)
	}
	if r.Code == CodeOK {
		if out != nil {
			if err := DecodeData(r.Data, out); err != nil {
				return c.unknown(method, resp.StatusCode, "malformed data", err)
			}
		}
		return nil
	}
	return &gateway.Error{Class: classify(r.Code, method, mutation), Code: r.Code, Msg: r.Msg, HTTPStatus: resp.StatusCode, Op: op}
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
	return &gateway.Error{Class: gateway.ClassUnknownOutcome, Op: "codepay " + method, HTTPStatus: status, Msg: msg, Err: err}
}
