package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posbridge/posbridge"
)

// round drops what is past MaxBacklog, publishes one batch, each event once
// the previous one is acknowledged, and deletes the acknowledged prefix. It
// returns how many events were acknowledged.
//
// One at a time, because order is the promise: with several publishes in
// flight, one that fails while a later one succeeds leaves the stream out
// of order (its retry lands after the later one, which deduplication then
// drops), and JetStream cannot refuse that for one till of a shared stream.
// On loopback an ack takes a fraction of a millisecond.
func (s *Shipper) round(ctx context.Context) (int, error) {
	if dropped, err := s.src.DropOutboxBefore(ctx, s.cfg.Clock.Now().Add(-s.cfg.MaxBacklog)); err != nil {
		return 0, err
	} else if dropped > 0 {
		s.mu.Lock()
		s.stats.Dropped += uint64(dropped)
		s.mu.Unlock()
		s.log.Error("outbox events dropped unshipped past max_backlog", posbridge.LogKeyCount, dropped, posbridge.LogKeyDuration, s.cfg.MaxBacklog)
	}
	events, err := s.src.OutboxBatch(ctx, s.cfg.BatchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	if !s.nc.IsConnected() {
		return 0, fmt.Errorf("publish: %w", nats.ErrDisconnected)
	}
	// The rows are deleted up to the first event without an ack, so a gap
	// is never left behind in the outbox.
	var pubErr error
	acked, dups, through := 0, 0, int64(0)
	timeout := s.cfg.Clock.NewTimer(s.cfg.AckTimeout + time.Second)
	defer timeout.Stop()
wait:
	for i, e := range events {
		f, err := s.publish(e)
		if err != nil {
			pubErr = err
			break
		}
		timeout.Reset(s.cfg.AckTimeout + time.Second)
		select {
		case ack := <-f.Ok():
			acked++
			through = events[i].Seq
			if ack.Duplicate {
				dups++
			}
		case err := <-f.Err():
			pubErr = fmt.Errorf("publish %s: %w", MsgID(s.cfg.Identity.Till, events[i].Seq), err)
			break wait
		case <-timeout.C():
			pubErr = fmt.Errorf("publish %s: %w", MsgID(s.cfg.Identity.Till, events[i].Seq), jetstream.ErrAsyncPublishTimeout)
			break wait
		case <-ctx.Done():
			pubErr = ctx.Err() // closing: what is acked so far is still deleted
			break wait
		}
	}
	if acked > 0 {
		s.lastSeq = through
		// Deleted even if the round is canceled now: the server has them.
		if err := s.src.DeleteOutbox(context.WithoutCancel(ctx), through); err != nil {
			return acked, err
		}
		s.mu.Lock()
		s.stats.Published += uint64(acked)
		s.stats.Duplicates += uint64(dups)
		s.stats.LastShipped = s.cfg.Clock.Now()
		s.mu.Unlock()
	}
	if pubErr != nil {
		if ctx.Err() == nil {
			s.mu.Lock()
			s.stats.PublishErrors += uint64(len(events) - acked)
			s.mu.Unlock()
		}
		return acked, pubErr
	}
	return acked, nil
}

func (s *Shipper) publish(e posbridge.Event) (jetstream.PubAckFuture, error) {
	m, err := NewMessage(s.cfg.Identity, e)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	msg := &nats.Msg{Subject: Subject(s.cfg.Prefix, s.cfg.Identity, m.Type), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSchema, fmt.Sprint(SchemaVersion))
	f, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(m.ID))
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", m.ID, err)
	}
	return f, nil
}

// HeaderSchema carries the message's SchemaVersion, so a consumer can route
// by version without parsing the body.
const HeaderSchema = "Posbridge-Schema"

// sendStatus publishes the till's status (backlog, lanes) and waits for the
// ack; a status lost in an outage is simply sent again later.
func (s *Shipper) sendStatus(ctx context.Context) error {
	n, oldest, err := s.src.OutboxBacklog(ctx)
	if err != nil {
		return err
	}
	doc := &StatusDoc{Backlog: n, LastSeq: s.lastSeq, Lanes: []LaneDoc{}}
	if !oldest.IsZero() {
		t := oldest.UTC()
		doc.OldestUnshipped = &t
	}
	if s.cfg.Lanes != nil {
		lanes, err := s.cfg.Lanes(ctx)
		if err != nil {
			return fmt.Errorf("status: lanes: %w", err)
		}
		for _, l := range lanes {
			doc.Lanes = append(doc.Lanes, LaneDoc{ID: l.ID, Link: string(l.Link.State)})
		}
	}
	id := s.cfg.Identity
	m := Message{Schema: SchemaVersion, ID: StatusID(id.Till), Merchant: id.Merchant, Store: id.Store, Till: id.Till,
		Type: TypeStatus, At: s.cfg.Clock.Now().UTC(), Status: doc}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	msg := &nats.Msg{Subject: Subject(s.cfg.Prefix, id, TypeStatus), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderSchema, fmt.Sprint(SchemaVersion))
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	s.lastStatus = s.cfg.Clock.Now()
	return nil
}
