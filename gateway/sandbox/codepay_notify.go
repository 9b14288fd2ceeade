package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second) // CodePay waits 5 s for the ack
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if text := strings.TrimSpace(string(ack)); text != "success" {
		return fmt.Sprintf("HTTP 200 %q", text)
	}
	return "ok"
}
