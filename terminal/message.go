package terminal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/posbridge/posbridge"
)

// ECRHub topics used over USB (research §3.2).
const (
	TopicOrder = "ecrhub.pay.order"
	TopicQuery = "ecrhub.pay.query"
	TopicClose = "ecrhub.pay.close"
)

// Transaction types of ecrhub.pay.order (research §3.3).
const (
	TransSale   = "1"
	TransVoid   = "2"
	TransRefund = "3"
)

// Response codes with a meaning the driver acts on (research §3.6).
const (
	CodeSuccess     = "000"
	CodeBusy        = "101"
	CodeCanceled    = "102"
	CodeAlready     = "103"
	CodeNotExist    = "104"
	CodeUserCancel  = "110"
	CodeDuplicateNo = "113"
	CodeDeclined    = "115"
	CodeReadTimeout = "111"
	CodeCloseFailed = "201"
	CodeBadParam    = "202"
	CodeUnknown     = "999"
)

// ErrNotJSON is returned for a data payload that is not a JSON object, such
// as the protobuf payloads of 2023-era firmware.
var ErrNotJSON = errors.New("payload is not a json object")

// Message is an ECRHub JSON message: a request from the ECR or a response
// from the terminal. Decoding is lenient: numbers may be strings or numbers,
// unknown fields are ignored, and biz_data may be absent, empty or "".
type Message struct {
	Topic        string  `json:"topic"`
	RequestID    string  `json:"request_id"`
	AppID        string  `json:"app_id,omitempty"`
	Timestamp    string  `json:"timestamp,omitempty"`
	Version      string  `json:"version,omitempty"`
	ResponseCode string  `json:"response_code,omitempty"`
	ResponseMsg  string  `json:"response_msg,omitempty"`
	Biz          BizData `json:"biz_data"`
}

// BizData is the union of the biz_data fields the driver and the simulator
// use, for requests and responses.
type BizData struct {
	TransType       string `json:"trans_type,omitempty"`
	MerchantOrderNo string `json:"merchant_order_no,omitempty"`
	// MerchantOrderNoCamel is the order number under the key CodePay's Java
	// SDK sends in ecrhub.pay.close (merchantOrderNo). The driver sends both
	// keys in close and query; see BizData.OrderNo for reading.
	MerchantOrderNoCamel string `json:"merchantOrderNo,omitempty"`
	OrigMerchantNo       string `json:"orig_merchant_order_no,omitempty"`
	OrderAmount          string `json:"order_amount,omitempty"`
	PriceCurrency        string `json:"price_currency,omitempty"`
	PayScenario          string `json:"pay_scenario,omitempty"`
	ConfirmOnTerminal    *bool  `json:"confirm_on_terminal,omitempty"`
	Expires              int    `json:"expires,omitempty"`
	TransStatus          string `json:"trans_status,omitempty"`
	TransNo              string `json:"trans_no,omitempty"`
	PayMethodID          string `json:"pay_method_id,omitempty"`
	CardNo               string `json:"card_no,omitempty"`
	TransEndTime         string `json:"trans_end_time,omitempty"`
	// Padding is never set by the driver; the simulator uses it to build
	// oversize frames.
	Padding string `json:"padding,omitempty"`
}

// OrderNo returns the order number under either key: merchant_order_no
// (the protocol document, the Windows and Android SDKs), else
// merchantOrderNo (the Java SDK's close).
func (b BizData) OrderNo() string {
	if b.MerchantOrderNo != "" {
		return b.MerchantOrderNo
	}
	return b.MerchantOrderNoCamel
}

// wireMessage mirrors Message with lenient field types.
type wireMessage struct {
	Topic        lenient         `json:"topic"`
	RequestID    lenient         `json:"request_id"`
	AppID        lenient         `json:"app_id"`
	Timestamp    lenient         `json:"timestamp"`
	Version      lenient         `json:"version"`
	ResponseCode lenient         `json:"response_code"`
	ResponseMsg  lenient         `json:"response_msg"`
	Biz          json.RawMessage `json:"biz_data"`
}

type wireBiz struct {
	TransType       lenient `json:"trans_type"`
	MerchantOrderNo lenient `json:"merchant_order_no"`
	MerchantCamel   lenient `json:"merchantOrderNo"`
	OrigMerchantNo  lenient `json:"orig_merchant_order_no"`
	OrderAmount     lenient `json:"order_amount"`
	PriceCurrency   lenient `json:"price_currency"`
	PayScenario     lenient `json:"pay_scenario"`
	Expires         lenient `json:"expires"`
	TransStatus     lenient `json:"trans_status"`
	TransNo         lenient `json:"trans_no"`
	PayMethodID     lenient `json:"pay_method_id"`
	CardNo          lenient `json:"card_no"`
	TransEndTime    lenient `json:"trans_end_time"`
}

// lenient is a JSON scalar read as text: strings as they are, numbers as
// written, booleans as "true"/"false", null and objects as "".
type lenient string

func (l *lenient) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = lenient(s)
	case '{', '[', 'n':
		*l = ""
	default:
		*l = lenient(b)
	}
	return nil
}

// DecodeMessage decodes an ECRHub JSON payload leniently. It fails only when
// the payload is not a JSON object.
func DecodeMessage(p []byte) (Message, error) {
	p = bytes.TrimSpace(p)
	if len(p) == 0 || p[0] != '{' {
		return Message{}, fmt.Errorf("decode message: %w", ErrNotJSON)
	}
	var w wireMessage
	if err := json.Unmarshal(p, &w); err != nil {
		return Message{}, fmt.Errorf("decode message: %w", err)
	}
	m := Message{
		Topic: string(w.Topic), RequestID: string(w.RequestID), AppID: string(w.AppID),
		Timestamp: string(w.Timestamp), Version: string(w.Version),
		ResponseCode: string(w.ResponseCode), ResponseMsg: string(w.ResponseMsg),
	}
	if b := bytes.TrimSpace(w.Biz); len(b) > 0 && b[0] == '{' {
		var wb wireBiz
		// A malformed biz_data loses only the biz_data: the envelope (and
		// with it the response code) is still worth matching.
		if err := json.Unmarshal(b, &wb); err == nil {
			m.Biz = BizData{
				TransType: string(wb.TransType), MerchantOrderNo: string(wb.MerchantOrderNo),
				MerchantOrderNoCamel: string(wb.MerchantCamel),
				OrigMerchantNo:       string(wb.OrigMerchantNo), OrderAmount: string(wb.OrderAmount),
				PriceCurrency: string(wb.PriceCurrency), PayScenario: string(wb.PayScenario),
				TransStatus: string(wb.TransStatus), TransNo: string(wb.TransNo),
				PayMethodID: string(wb.PayMethodID), CardNo: string(wb.CardNo),
				TransEndTime: string(wb.TransEndTime),
			}
			if n, err := strconv.Atoi(string(wb.Expires)); err == nil {
				m.Biz.Expires = n
			}
		}
	}
	return m, nil
}

// EncodeMessage encodes m as compact JSON.
func EncodeMessage(m Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return b, nil
}

// NormalizeCode returns the response code with "0" (seen live) as "000".
// Numeric codes are compared as numbers, so "0110" and 110 become "110".
func NormalizeCode(code string) string {
	if n, err := strconv.Atoi(code); err == nil && n >= 0 {
		if n == 0 {
			return CodeSuccess
		}
		return fmt.Sprintf("%03d", n)
	}
	return code
}

// notChargedCodes are the codes that say clearly that no money moved for
// the transaction asked for (research §3.6).
var notChargedCodes = map[string]bool{
	"102": true, "104": true, "106": true, "111": true, "114": true, "115": true,
	"116": true, "117": true, "118": true, "119": true, "120": true, "121": true,
	"202": true,
}

// SaleOutcome maps a response to ecrhub.pay.order to an Outcome (docs/architecture.md
// §2): 110 → canceled by user; clear not-charged codes or trans_status 1 →
// declined; 000 with trans_status 2, 4 or absent, or 103 → approved;
// everything else (000 with 0/9/3, 101, 107, 108, 109, 112, 113, 201, 999,
// unknown codes) → unknown.
func SaleOutcome(m Message) posbridge.Outcome {
	code := NormalizeCode(m.ResponseCode)
	switch {
	case code == CodeUserCancel:
		return posbridge.OutcomeCanceledByUser
	case notChargedCodes[code]:
		return posbridge.OutcomeDeclined
	case code == CodeAlready:
		return posbridge.OutcomeApproved
	case code == CodeSuccess:
		switch m.Biz.TransStatus {
		case "2", "4", "":
			return posbridge.OutcomeApproved
		case "1":
			return posbridge.OutcomeDeclined
		}
		return posbridge.OutcomeUnknown
	}
	return posbridge.OutcomeUnknown
}

// QueryOutcome maps a response to ecrhub.pay.query (Terminal.Query):
// approved for trans_status 2/4 or code 103, declined for trans_status 1/3
// or code 104, unknown otherwise.
func QueryOutcome(m Message) posbridge.Outcome {
	code := NormalizeCode(m.ResponseCode)
	switch code {
	case CodeAlready:
		return posbridge.OutcomeApproved
	case CodeNotExist:
		return posbridge.OutcomeDeclined
	case CodeSuccess:
		switch m.Biz.TransStatus {
		case "2", "4":
			return posbridge.OutcomeApproved
		case "1", "3":
			return posbridge.OutcomeDeclined
		}
	}
	return posbridge.OutcomeUnknown
}

// resultOf builds a TerminalResult from a response.
func resultOf(m Message, o posbridge.Outcome) posbridge.TerminalResult {
	r := posbridge.TerminalResult{
		Outcome:     o,
		Code:        NormalizeCode(m.ResponseCode),
		Message:     m.ResponseMsg,
		TransStatus: m.Biz.TransStatus,
		TransNo:     m.Biz.TransNo,
		NoRecord:    NormalizeCode(m.ResponseCode) == CodeNotExist,
	}
	r.Card.Brand = m.Biz.PayMethodID
	if n := m.Biz.CardNo; len(n) >= 4 && allDigits(n[len(n)-4:]) {
		r.Card.Last4 = n[len(n)-4:]
	}
	return r
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
