package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posbridge/posbridge"
)

// Event stream settings (gorilla/websocket chat example).
const (
	writeWait        = 10 * time.Second
	pongWait         = 60 * time.Second
	pingPeriod       = pongWait * 9 / 10
	maxClientMessage = 512 // clients send nothing but control frames
	subscriptionSize = 256 // live events buffered before a slow client is dropped
	replayPage       = 200 // events read from the store at a time

	// closeTryAgain tells a client that fell behind to reconnect with its
	// last seq (RFC 6455 1013 "try again later").
	closeTryAgain = 1013
	// closeResync tells a client whose since is beyond the newest stored
	// event (the database was restored or replaced), or older than the
	// oldest kept ([store] events_keep), that what it holds cannot be
	// brought up to date: it must drop it and reconnect with since=0.
	closeResync = 4409
)

// helloJSON is the stream's first message: the seq after which events follow.
type helloJSON struct {
	Seq  int64  `json:"seq"`
	Type string `json:"type"`
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 8192,
	// handleEvents checks the Origin itself, before upgrading, so that a
	// refusal is a JSON error like every other.
	CheckOrigin: func(*http.Request) bool { return true },
}

// handleEvents streams every event after ?since=SEQ from the store, then live
// events, in order and without gaps. Without since it starts at the newest
// stored event. The first message is {"type":"hello","seq":N}. A since
// beyond the newest stored event is answered with close code closeResync
// and no hello.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	since, hasSince := int64(0), false
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, r, s.logger, invalid("since", "since must be a non-negative event sequence number."))
			return
		}
		since, hasSince = n, true
	}
	if !s.originAllowed(r) {
		writeError(w, r, s.logger, &posbridge.Error{Code: codeForbidden, Message: "This origin may not open the event stream."})
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		// Answered here in JSON, as the API's other errors; the upgrader's
		// own refusal is plain text.
		writeError(w, r, s.logger, invalid("", "This route is a websocket: send an Upgrade: websocket request."))
		return
	}
	if !s.addStream() {
		writeError(w, r, s.logger, posbridge.Errorf(posbridge.EUNAVAILABLE, "The server is shutting down."))
		return
	}
	defer s.streams.Done()
	// Subscribe before reading the store, so that nothing committed in
	// between is missed; duplicates are skipped by seq.
	sub := s.svc.Subscribe(subscriptionSize)
	defer sub.Close()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	st := &stream{srv: s, conn: conn, sub: sub}
	st.run(since, hasSince)
}

// addStream registers a websocket for Close to wait for, unless the server
// is shutting down.
func (s *Server) addStream() bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	select {
	case <-s.shutdown:
		return false
	default:
	}
	s.streams.Add(1)
	return true
}

// stream is one websocket client. The goroutine calling run is its only
// writer; one reader goroutine handles control frames.
type stream struct {
	srv  *Server
	conn *websocket.Conn
	sub  *posbridge.Subscription
	sent int64 // seq of the last stored event sent
}

func (st *stream) run(since int64, hasSince bool) {
	conn := st.conn
	ctx, cancel := context.WithCancel(context.Background())
	readDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(readDone)
		conn.SetReadLimit(maxClientMessage)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error {
			return conn.SetReadDeadline(time.Now().Add(pongWait))
		})
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		// Store reads stop when the client leaves or the server shuts down.
		select {
		case <-readDone:
		case <-st.srv.shutdown:
		}
		cancel()
	})
	defer func() {
		cancel()
		_ = conn.Close() // unblocks the reader
		wg.Wait()
	}()

	if !hasSince {
		last, err := st.srv.svc.LastSeq(ctx)
		if err != nil {
			st.fail(&storeError{fmt.Errorf("find last seq: %w", err)})
			return
		}
		since = last
	} else if since > 0 {
		// Stored seqs have no gaps: since is known iff the event numbered
		// since is stored.
		evs, err := st.srv.svc.EventsSince(ctx, since-1, 1)
		if err != nil {
			st.fail(&storeError{fmt.Errorf("check since %d: %w", since, err)})
			return
		}
		if len(evs) == 0 {
			st.close(closeResync, "since is beyond the newest event: resync from since=0")
			return
		}
		if evs[0].Seq != since {
			st.close(closeResync, "since is older than the events kept: resync from since=0")
			return
		}
	}
	st.sent = since
	if err := st.write(helloJSON{Type: "hello", Seq: since}); err != nil {
		return
	}
	if err := st.catchUp(ctx, -1); err != nil {
		st.fail(err)
		return
	}
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case e, ok := <-st.sub.C:
			if !ok {
				st.close(closeTryAgain, "too slow: reconnect with since")
				return
			}
			if err := st.forward(ctx, e); err != nil {
				st.fail(err)
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-readDone:
			return
		case <-st.srv.shutdown:
			st.close(websocket.CloseGoingAway, "server shutting down")
			return
		}
	}
}

// forward sends a live event. Lane events carry no new seq and always go out;
// stored events already sent are skipped, and a gap before one is filled
// from the store first.
func (st *stream) forward(ctx context.Context, e posbridge.Event) error {
	if e.Type == posbridge.EventLane {
		return st.write(toEvent(e))
	}
	if e.Seq <= st.sent {
		return nil
	}
	if e.Seq > st.sent+1 {
		if err := st.catchUp(ctx, e.Seq-1); err != nil {
			return err
		}
	}
	if e.Seq != st.sent+1 {
		return nil // the store already gave it
	}
	if err := st.write(toEvent(e)); err != nil {
		return err
	}
	st.sent = e.Seq
	return nil
}

// catchUp sends stored events after st.sent, up to and including until
// (all of them when until < 0).
func (st *stream) catchUp(ctx context.Context, until int64) error {
	for {
		evs, err := st.srv.svc.EventsSince(ctx, st.sent, replayPage)
		if err != nil {
			return &storeError{fmt.Errorf("read events since %d: %w", st.sent, err)}
		}
		if len(evs) > 0 && st.sent > 0 && evs[0].Seq > st.sent+1 {
			// Pruned while this client caught up: what it missed is gone.
			st.close(closeResync, "events after since were pruned: resync from since=0")
			return errResynced
		}
		for _, e := range evs {
			if e.Seq <= st.sent {
				continue
			}
			if until >= 0 && e.Seq > until {
				return nil
			}
			if err := st.write(toEvent(e)); err != nil {
				return err
			}
			st.sent = e.Seq
		}
		if len(evs) < replayPage {
			return nil
		}
	}
}

func (st *stream) write(v any) error {
	_ = st.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return st.conn.WriteJSON(v)
}

func (st *stream) close(code int, text string) {
	msg := websocket.FormatCloseMessage(code, text)
	_ = st.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
}

// errResynced ends a stream that was closed with closeResync.
var errResynced = errors.New("client told to resync")

// storeError marks a failure to read events, as opposed to a failure to
// write to a client that has gone.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// fail ends the stream after a store error; the client reconnects with its
// last seq. Write errors (the client is gone) need no close frame.
func (st *stream) fail(err error) {
	var se *storeError
	if !errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return // the client left or the server is shutting down
	}
	st.srv.logger.Warn("event stream failed", posbridge.LogKeySeq, st.sent, posbridge.LogKeyError, err)
	st.close(closeTryAgain, "events unavailable: reconnect with since")
}
