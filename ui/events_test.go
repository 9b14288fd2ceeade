package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/posbridgetest"
)

// wsEvent is a stream message as a client decodes it.
type wsEvent struct {
	Seq     int64        `json:"seq"`
	Type    string       `json:"type"`
	Payment *paymentJSON `json:"payment"`
	Lane    *laneJSON    `json:"lane"`
	Refund  *refundJSON  `json:"refund"`
}

func dialEvents(t *testing.T, s *Server, query string, header http.Header) *websocket.Conn {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events"+query, header)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial events%s: %v (status %d)", query, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readEvent reads one message; the deadline only keeps a broken test from
// hanging, it asserts nothing about timing.
func readEvent(t *testing.T, c *websocket.Conn) wsEvent {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var e wsEvent
	if err := c.ReadJSON(&e); err != nil {
		t.Fatalf("read event: %v", err)
	}
	return e
}

// readStored reads stored events until it has seq through last, failing on
// any gap, duplicate or disorder.
func readStored(t *testing.T, c *websocket.Conn, from, last int64) []wsEvent {
	t.Helper()
	var got []wsEvent
	next := from
	for next <= last {
		e := readEvent(t, c)
		if e.Type == "lane" || e.Type == "hello" {
			continue
		}
		if e.Seq != next {
			t.Fatalf("got seq %d, want %d", e.Seq, next)
		}
		got = append(got, e)
		next++
	}
	return got
}

func TestEvents_ReplayThenLive(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	payEvents(log, "F1000001", "1", 100)      // seqs 1, 2
	o := payEvents(log, "F2000002", "2", 200) // seqs 3, 4

	c := dialEvents(t, s, "?since=1", nil)
	if h := readEvent(t, c); h.Type != "hello" || h.Seq != 1 {
		t.Fatalf("hello = %+v", h)
	}
	got := readStored(t, c, 2, 4)
	if got[0].Payment.Status != "at_terminal" || got[1].Payment.Lane != "2" || got[2].Payment.OrderNo != string(o.No) {
		t.Fatalf("replayed %+v", got)
	}
	approveEvents(log, o) // seqs 5, 6
	got = readStored(t, c, 5, 6)
	if got[1].Payment.Status != "paid" || got[1].Payment.Message != "Payment successful" {
		t.Fatalf("live %+v", got[1].Payment)
	}
	down := lane("1", posbridge.LinkDown, nil)
	log.Publish(posbridge.Event{Seq: 6, Type: posbridge.EventLane, At: testStart, Lane: &down})
	if e := readEvent(t, c); e.Type != "lane" || e.Lane.ID != "1" || e.Lane.Link.State != "down" || e.Seq != 6 {
		t.Fatalf("lane event %+v", e)
	}
}

func TestEvents_NoSinceStartsAtNewest(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	for i := range 3 {
		o := payEvents(log, posbridge.OrderNo(fmt.Sprintf("F100000%d", i+1)), "1", 100)
		o.Status, o.Reason = posbridge.StatusCanceled, posbridge.ReasonCanceledByClerk
		commit(log, o)
	}
	c := dialEvents(t, s, "", nil)
	if h := readEvent(t, c); h.Type != "hello" || h.Seq != 9 {
		t.Fatalf("hello = %+v, want seq 9", h)
	}
	payEvents(log, "F2000004", "2", 100)
	readStored(t, c, 10, 11)
}

func TestEvents_ReconnectMissesNothing(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c) // hello
	o := payEvents(log, "F1000001", "1", 100)
	got := readStored(t, c, 1, 2)
	last := got[len(got)-1].Seq

	// The client disconnects mid-stream; meanwhile payments go on.
	c.Close()
	approveEvents(log, o)
	customerCancelEvents(log, payEvents(log, "F2000002", "2", 500))
	want, _ := log.LastSeq(context.Background())

	c2 := dialEvents(t, s, "?since="+strconv.FormatInt(last, 10), nil)
	readEvent(t, c2) // hello
	missed := readStored(t, c2, last+1, want)
	if p := missed[len(missed)-1].Payment; p.Status != "failed" || p.Reason != "canceled_by_user" || p.Message != "Payment not completed" {
		t.Fatalf("last missed event %+v", p)
	}
	// And live events continue after the replay.
	payEvents(log, "F2000003", "2", 600)
	readStored(t, c2, want+1, want+2)
}

func TestEvents_SlowClientDroppedThenResumes(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c) // hello
	payEvents(log, "F1000001", "1", 100)
	got := readStored(t, c, 1, 2)

	// The bus drops the subscription (as it does for a client that fell
	// behind); the server must close rather than go quiet.
	log.DropSubscribers()
	payEvents(log, "F2000002", "2", 100) // seqs 3, 4: not delivered live
	var closeErr *websocket.CloseError
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // events sent before the drop was noticed
		}
		if !errors.As(err, &closeErr) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		break
	}
	if closeErr.Code != closeTryAgain {
		t.Fatalf("close code %d, want %d", closeErr.Code, closeTryAgain)
	}
	c2 := dialEvents(t, s, "?since="+strconv.FormatInt(got[1].Seq, 10), nil)
	readEvent(t, c2)
	readStored(t, c2, 3, 4)
}

func TestEvents_GapInLiveEventsFilledFromStore(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	// Commit seq 1 and 2 without publishing 1, as when two commits publish
	// out of order: the stream must still deliver 1 before 2.
	o := posbridge.Order{No: "GAP1", Lane: "1", Amount: aed(100), Status: posbridge.StatusCreated, Version: 1}
	log.Store(posbridge.Event{Type: posbridge.EventPayment, Payment: &o})
	sent := o
	sent.Status, sent.Version = posbridge.StatusAtTerminal, 2
	commit(log, sent)
	got := readStored(t, c, 1, 2)
	if got[0].Payment.Status != "created" || got[1].Payment.Status != "at_terminal" {
		t.Fatalf("got %+v", got)
	}
}

func TestEvents_LongReplayPages(t *testing.T) {
	log := posbridgetest.NewEventsLog()
	s := mustOpenServer(t, withEvents(log), Config{})
	o := payEvents(log, "F1000001", "1", 100)
	for range replayPage + 50 {
		o.Checks++ // a verification that found nothing new
		o.Version++
		commit(log, o)
	}
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	last, _ := log.LastSeq(context.Background())
	readStored(t, c, 1, last)
}

// dialOrigin opens the event stream with header, and fails unless it opens
// when ok or is refused with 403 when not.
func dialOrigin(t *testing.T, s *Server, header http.Header, ok bool) {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", header)
	if ok {
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.Close()
		return
	}
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded from a refused origin")
	}
	if res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("got %v, want 403", res)
	}
}

func TestEvents_Origin(t *testing.T) {
	s := mustOpenServer(t, withEvents(posbridgetest.NewEventsLog()), Config{AllowedOrigins: []string{"https://pos.example.com"}})
	tests := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"NoOrigin", "", true},
		{"SameOrigin", "http://" + s.Addr(), true},
		{"Allowed", "https://pos.example.com", true},
		{"AllowedCase", "https://POS.example.com", true},
		{"ErrOther", "https://evil.example.com", false},
		{"ErrOtherPort", "http://127.0.0.1:1", false},
		{"ErrNull", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			dialOrigin(t, s, h, tt.ok)
		})
	}
	t.Run("ErrBadSince", func(t *testing.T) {
		r := doReq(t, "GET", s.URL()+"/api/v1/events?since=-4", "")
		if r.status != 400 || r.errField() != "since" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
}

func TestEvents_CloseSendsGoingAway(t *testing.T) {
	s := NewServer(withEvents(posbridgetest.NewEventsLog()), Config{Addr: "127.0.0.1:0", Logger: discardLogger()})
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	c := dialEvents(t, s, "?since=0", nil)
	readEvent(t, c)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("read after Close: %v, want close 1001", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/api/v1/events", nil); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}
