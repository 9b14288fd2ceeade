package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posbridge/posbridge/gateway"
)

// postCodePay delivers a CodePay notification: the transaction's fields,
// flat, with notify_id, timestamp, app_id, sign_type and sign. Delivered
// only on HTTP 200 with the trimmed body "success".
func (n *notifier) postCodePay(d *delivery, stamp time.Time) string {
	var t map[string]any
	dec := json.NewDecoder(bytes.NewReader(d.payload))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return err.Error()
	}
	t["notify_id"] = d.NotifyID
	t["timestamp"] = strconv.FormatInt(stamp.UnixMilli(), 10)
	t["sign_type"] = "RSA2"
	t["app_id"] = n.s.cpAppID
	fields := map[string]string{}
	for k, v := range t {
		switch x := v.(type) {
		case string:
			fields[k] = x
		case json.Number:
			fields[k] = x.String()
		case nil:
		default:
			fields[k] = fmt.Sprint(x)
		}
	}
	sig, err := gateway.SignSHA256(n.s.keys.Gateway, []byte(cpCanonical(fields)))
	if err != nil {
		return err.Error()
	}
	t["sign"] = sig
	body, err := json.Marshal(t)
	if err != nil {
		return err.Error()
	}
	// CodePay waits 5 s for the ack.
	ack, failed := postCallback(n.ctx, n.client, 5*time.Second, d.URL, body, func(req *http.Request) {
		req.Header.Set("Content-Type", "application/json")
	})
	if failed != "" {
		return failed
	}
	if text := strings.TrimSpace(string(ack)); text != "success" {
		return fmt.Sprintf("HTTP 200 %q", text)
	}
	return "ok"
}
