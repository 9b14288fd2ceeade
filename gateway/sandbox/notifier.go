package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/gateway"
)

// deliveryTimeout bounds one POST of a notification.
const deliveryTimeout = 10 * time.Second

// Delivery is one notification and how its delivery went.
type Delivery struct {
	NotifyID        string    `json:"notifyId"`
	URL             string    `json:"url"`
	Kind            string    `json:"kind"` // "acquireOrder" or "refundOrder"
	MerchantOrderNo string    `json:"merchantOrderNo"`
	Status          string    `json:"status"`
	Attempts        int       `json:"attempts"`
	Delivered       bool      `json:"delivered"`
	GaveUp          bool      `json:"gaveUp"`
	Held            bool      `json:"held"`
	NextAt          time.Time `json:"nextAt,omitzero"`
	LastResult      string    `json:"lastResult,omitempty"`
	// Timestamp is the notify_timestamp of the first attempt.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Replay marks a delivered notification sent again by Replay.
	Replay bool `json:"replay,omitempty"`
	// Gateway is the form of the notification: "payby" (signed JSON body,
	// sign header, PayBy's schedule) or "codepay" (flat signed fields,
	// CodePay's schedule).
	Gateway string `json:"gateway"`
}

type delivery struct {
	Delivery
	payload json.RawMessage
	seq     int64
}

// notifier POSTs signed notifications and retries them on the schedule. One
// goroutine, owned by the Sandbox, delivers in (due time, sequence) order.
type notifier struct {
	s        *Sandbox
	client   *http.Client
	schedule []time.Duration
	// cpSchedule is CodePay's retry schedule, for codepay deliveries.
	cpSchedule []time.Duration
	kick       chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu         sync.Mutex
	all        []*delivery
	seq        int64
	ids        int64
	duplicates bool
	outOfOrder bool
	keepStamp  bool
	perOrder   map[string]OrderNotifications // SetOrderNotifications
}

func newNotifier(s *Sandbox, client *http.Client, schedule, cpSchedule []time.Duration) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{s: s, client: client, schedule: schedule, cpSchedule: cpSchedule, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

func (n *notifier) open() { n.wg.Go(n.run) }

func (n *notifier) close() {
	n.cancel()
	n.wg.Wait()
}

func (n *notifier) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// enqueue adds a notification whose object (payload) is a snapshot taken at
// the transition.
func (n *notifier) enqueue(kind, ref, status, url string, payload json.RawMessage) {
	n.enqueueAs("payby", kind, ref, status, url, payload)
}

// enqueueAs adds a notification in the form of gw ("payby" or "codepay").
func (n *notifier) enqueueAs(gw, kind, ref, status, url string, payload json.RawMessage) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.s.clock.Now()
	add := func(id string) {
		n.seq++
		n.all = append(n.all, &delivery{
			Delivery: Delivery{NotifyID: id, URL: url, Kind: kind, MerchantOrderNo: ref, Status: status, NextAt: now, Held: n.outOfOrder, Gateway: gw},
			payload:  payload,
			seq:      n.seq,
		})
	}
	id := n.newID(now)
	switch n.perOrder[ref] {
	case NotificationsLost:
		n.seq++
		n.all = append(n.all, &delivery{
			Delivery: Delivery{NotifyID: id, URL: url, Kind: kind, MerchantOrderNo: ref, Status: status, GaveUp: true, LastResult: "lost in transit", Gateway: gw},
			payload:  payload, seq: n.seq,
		})
		return
	case NotificationsDuplicated:
		add(id)
		add(id)
		add(n.newID(now))
		n.poke()
		return
	}
	add(id)
	if n.duplicates {
		add(id)
		add(n.newID(now))
	}
	n.poke()
}

func (n *notifier) newID(now time.Time) string {
	n.ids++
	return fmt.Sprintf("%d%06d", now.UnixMilli(), n.ids)
}

func (n *notifier) set(o NotifierOptions) {
	n.mu.Lock()
	n.duplicates = o.Duplicates
	n.keepStamp = o.KeepTimestamp
	wasHolding := n.outOfOrder
	n.outOfOrder = o.OutOfOrder
	n.mu.Unlock()
	if wasHolding && !o.OutOfOrder {
		n.flush()
	}
}

// flush releases held deliveries, newest first.
func (n *notifier) flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	var held []*delivery
	for _, d := range n.all {
		if d.Held {
			held = append(held, d)
		}
	}
	now := n.s.clock.Now()
	for i := len(held) - 1; i >= 0; i-- {
		n.seq++
		held[i].Held, held[i].NextAt, held[i].seq = false, now, n.seq
	}
	n.poke()
}

func (n *notifier) list() []Delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Delivery, len(n.all))
	for i, d := range n.all {
		out[i] = d.Delivery
	}
	return out
}

// next returns the first delivery due at now, or else the earliest time one
// will be due.
func (n *notifier) next(now time.Time) (*delivery, time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var pending []*delivery
	for _, d := range n.all {
		if !d.Delivered && !d.GaveUp && !d.Held {
			pending = append(pending, d)
		}
	}
	sort.Slice(pending, func(i, j int) bool {
		if !pending[i].NextAt.Equal(pending[j].NextAt) {
			return pending[i].NextAt.Before(pending[j].NextAt)
		}
		return pending[i].seq < pending[j].seq
	})
	if len(pending) == 0 {
		return nil, time.Time{}
	}
	if !pending[0].NextAt.After(now) {
		return pending[0], time.Time{}
	}
	return nil, pending[0].NextAt
}

func (n *notifier) run() {
	clock := n.s.clock
	sendLoop(n.ctx, clock, n.kick, func() (*delivery, time.Time) { return n.next(clock.Now()) }, n.deliver)
}

// sendLoop makes deliveries until ctx ends, for the notifier and the Pay
// Protocol callback sender: next returns a due delivery, or else when the
// next one is due (zero when none waits); it sleeps until then or a kick
// (something new was queued).
func sendLoop[D any](ctx context.Context, clock posbridge.Clock, kick <-chan struct{}, next func() (*D, time.Time), deliver func(*D)) {
	for {
		if ctx.Err() != nil {
			return
		}
		d, at := next()
		if d != nil {
			deliver(d)
			continue
		}
		var t posbridge.Timer
		var fire <-chan time.Time
		if !at.IsZero() {
			t = clock.NewTimer(at.Sub(clock.Now()))
			fire = t.C()
		}
		select {
		case <-ctx.Done():
		case <-kick:
		case <-fire:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// replay queues a copy of the delivered notification id, keeping its first
// timestamp, for one attempt now.
func (n *notifier) replay(id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range n.all {
		if d.NotifyID != id || !d.Delivered || d.Replay {
			continue
		}
		n.seq++
		c := &delivery{Delivery: Delivery{NotifyID: d.NotifyID, URL: d.URL, Kind: d.Kind, MerchantOrderNo: d.MerchantOrderNo,
			Status: d.Status, NextAt: n.s.clock.Now(), Timestamp: d.Timestamp, Replay: true, Gateway: d.Gateway}, payload: d.payload, seq: n.seq}
		n.all = append(n.all, c)
		n.poke()
		return nil
	}
	return fmt.Errorf("replay notification %s: %w", id, ErrNotFound)
}

// deliver makes one attempt. By default each attempt carries the current
// notify_timestamp and a fresh signature (an assumption: research §1.9 does
// not say; a receiver's timestamp window would refuse retries otherwise);
// with KeepTimestamp, and for a replay, the first attempt's.
func (n *notifier) deliver(d *delivery) {
	at := n.s.clock.Now()
	n.mu.Lock()
	if d.Timestamp.IsZero() {
		d.Timestamp = at
	}
	stamp := at
	if n.keepStamp || d.Replay {
		stamp = d.Timestamp
	}
	n.mu.Unlock()
	schedule := n.schedule
	var result string
	if d.Gateway == "codepay" {
		schedule = n.cpSchedule
		result = n.postCodePay(d, stamp)
	} else {
		id, _ := json.Marshal(d.NotifyID)
		body := fmt.Appendf(nil, `{"notify_id":%s,"notify_timestamp":%d,"%s":%s}`, id, stamp.UnixMilli(), d.Kind, d.payload)
		result = n.post(d.URL, body)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d.Attempts++
	d.LastResult = result
	switch {
	case result == "ok":
		d.Delivered = true
		d.NextAt = time.Time{}
	case d.Replay || d.Attempts > len(schedule):
		d.GaveUp = true
		d.NextAt = time.Time{}
	default:
		d.NextAt = at.Add(schedule[d.Attempts-1])
	}
}

// post sends body and returns "ok" when the receiver acknowledged it: HTTP 200
// and the trimmed body SUCCESS (any case) or {"response":"SUCCESS"}.
func (n *notifier) post(url string, body []byte) string {
	sig, err := gateway.SignSHA256(n.s.keys.Gateway, body)
	if err != nil {
		return err.Error()
	}
	ack, failed := postCallback(n.ctx, n.client, deliveryTimeout, url, body, func(req *http.Request) {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("sign", sig)
	})
	if failed != "" {
		return failed
	}
	text := strings.TrimSpace(string(ack))
	if strings.EqualFold(text, "SUCCESS") {
		return "ok"
	}
	var js struct {
		Response string `json:"response"`
	}
	if json.Unmarshal(ack, &js) == nil && strings.EqualFold(js.Response, "SUCCESS") {
		return "ok"
	}
	return fmt.Sprintf("HTTP 200 %q", text)
}

// postCallback posts body to url within timeout, with the headers sign
// sets, for the notifier and the Pay Protocol callback sender. It returns
// the answer's first KiB for the caller to judge when the receiver answered
// HTTP 200, and otherwise the delivery's result: the error's text when
// nothing came back, or "HTTP n".
func postCallback(ctx context.Context, client *http.Client, timeout time.Duration, url string, body []byte, sign func(req *http.Request)) (ack []byte, failed string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err.Error()
	}
	sign(req)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	ack, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ack, ""
}
