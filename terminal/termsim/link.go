package termsim

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
)

// conn is the state of one served connection.
type conn struct {
	s            *Sim
	w            io.Writer
	connected    bool
	lastAccepted byte
	nextID       byte
	outq         []terminal.Frame
	pendingAck   byte // Personality.AckTick: the ACK due on the next tick
	coalesced    []byte
	corruptETX   bool
}

// Serve speaks the terminal side over rw until ctx ends, rw fails, or the
// CloseMidSale fault fires. It closes rw and waits for its reader before
// returning. The transaction table and any open sale outlive the connection.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriteCloser) error {
	dec := terminal.NewDecoder(rw)
	dec.MaxPayload = terminal.MaxOutboundPayload
	reader := terminal.StartFrameReader(dec, nil)
	defer reader.Stop(rw)
	frames, readErr := reader.Frames, reader.Err

	c := &conn{s: s, w: rw, nextID: 1}
	s.mu.Lock()
	s.completeDueLocked(ctx) // what finished while no one was connected
	s.mu.Unlock()
	tick := s.clock.NewTimer(s.cfg.Retransmit)
	defer tick.Stop()
	tickAt := s.clock.Now().Add(s.cfg.Retransmit)
	// rearm sets the send tick after a frame came or went. A terminal on a
	// fixed send tick (Personality.AckTick) keeps a tick already due sooner,
	// so that a chatty ECR cannot push its ACKs out; otherwise the tick
	// restarts.
	rearm := func() {
		d := c.nextTick()
		at := s.clock.Now().Add(d)
		s.mu.Lock()
		fixed := s.pers.AckTick
		s.mu.Unlock()
		if fixed && at.After(tickAt) && tickAt.After(s.clock.Now()) {
			return
		}
		tick.Reset(d)
		tickAt = at
	}
	hb := s.clock.NewTimer(s.heartbeat())
	defer hb.Stop()
	for {
		select {
		case f := <-frames:
			if err := c.handle(f); err != nil {
				return err
			}
			rearm()
		case <-tick.C():
			tickAt = time.Time{}
			rearm()
			s.mu.Lock()
			msgs := s.completeDueLocked(ctx)
			s.mu.Unlock()
			c.enqueue(msgs...)
			if err := c.sendHead(); err != nil {
				return err
			}
			if c.pendingAck != 0 {
				ack := c.pendingAck
				c.pendingAck = 0
				if err := c.write(terminal.AckFrame(ack)); err != nil {
					return err
				}
			}
			if err := c.flush(); err != nil {
				return err
			}
		case <-hb.C():
			hb.Reset(s.heartbeat())
			s.mu.Lock()
			quiet := s.faults.NoHeartbeats
			s.mu.Unlock()
			if c.connected && !quiet {
				if err := c.write(terminal.HeartbeatFrame); err != nil {
					return err
				}
				rearm()
			}
		case err := <-readErr:
			return fmt.Errorf("termsim read: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// idleTick is how long the send tick sleeps when nothing is to be sent or
// completed: a quiet terminal costs no wake-ups in simulated time.
const idleTick = time.Hour

// nextTick returns when the send tick should fire next: every Retransmit
// while a frame waits for its ACK or coalesced bytes wait, when the open
// sale is due to complete, and otherwise after idleTick.
func (c *conn) nextTick() time.Duration {
	s := c.s
	if len(c.outq) > 0 || len(c.coalesced) > 0 || c.pendingAck != 0 {
		return s.cfg.Retransmit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pending; p != nil && !p.completeAt.IsZero() {
		return max(p.completeAt.Sub(s.clock.Now()), s.cfg.Retransmit)
	}
	return idleTick
}

func (s *Sim) heartbeat() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Heartbeat
}

// SetHeartbeat changes the period of the terminal's heartbeats (from the
// next one on); zero restores DefaultHeartbeat.
func (s *Sim) SetHeartbeat(d time.Duration) {
	if d <= 0 {
		d = DefaultHeartbeat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Heartbeat = d
}

func (c *conn) handle(f terminal.Frame) error {
	s := c.s
	s.mu.Lock()
	if f.IsData() && s.faults.DropIn > 0 {
		s.faults.DropIn--
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	switch f.Type {
	case terminal.TypeHandshake:
		s.mu.Lock()
		s.handshakes++
		// A sale that finished while the link was away may hold a response
		// for this handshake.
		s.completeDueLocked(context.Background())
		held := s.held
		s.held = nil
		keep := s.pers.KeepReplies
		s.mu.Unlock()
		// The terminal demo accepts every handshake and drops its unsent
		// answers each time; KeepReplies sends them again, renumbered.
		unsent := c.outq
		c.connected, c.lastAccepted, c.nextID, c.outq, c.pendingAck = true, 0, 1, nil, 0
		if err := c.write(terminal.ConfirmFrame); err != nil {
			return err
		}
		if keep {
			for _, f := range unsent {
				c.enqueueFrame(f.Payload)
			}
		}
		c.enqueue(held...)
		return c.sendHead()
	case terminal.TypeNormal:
	default:
		return nil
	}
	c.connected = true
	s.mu.Lock()
	onTick := s.pers.AckTick
	s.mu.Unlock()
	if f.Ack != 0 && len(c.outq) > 0 && c.outq[0].ID == f.Ack {
		c.outq = c.outq[1:]
		if !onTick {
			if err := c.sendHead(); err != nil {
				return err
			}
		}
	}
	if f.ID == 0 {
		return nil
	}
	s.mu.Lock()
	dropAck := s.faults.DropAcks > 0
	if dropAck {
		s.faults.DropAcks--
	}
	tick := s.pers.AckTick
	s.mu.Unlock()
	switch {
	case dropAck:
	case tick:
		c.pendingAck = f.ID // sent on the next tick, on a data frame if one is due
	default:
		if err := c.write(terminal.AckFrame(f.ID)); err != nil {
			return err
		}
	}
	if f.ID == c.lastAccepted {
		return nil
	}
	c.lastAccepted = f.ID
	m, err := terminal.DecodeMessage(f.Payload)
	if err != nil {
		s.log.Warn("bad message", posbridge.LogKeyError, err)
		return nil
	}
	msgs, closeLink := s.request(context.Background(), m)
	c.enqueue(msgs...)
	if !onTick {
		if err := c.sendHead(); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	if closeLink {
		return ErrClosedMidSale
	}
	return nil
}

// enqueue queues responses as data frames, applying the Oversize fault.
func (c *conn) enqueue(msgs ...terminal.Message) {
	if !c.connected {
		return
	}
	for _, m := range msgs {
		c.s.mu.Lock()
		if c.s.faults.Oversize > 0 {
			c.s.faults.Oversize--
			m.Biz.Padding = strings.Repeat("x", 1200)
		}
		c.s.mu.Unlock()
		p, err := terminal.EncodeMessage(m)
		if err != nil {
			continue
		}
		c.enqueueFrame(p)
	}
}

// enqueueFrame queues one payload as the next data frame.
func (c *conn) enqueueFrame(p []byte) {
	c.outq = append(c.outq, terminal.Frame{Type: terminal.TypeNormal, ID: c.nextID, Payload: p})
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
}

// sendHead (re)sends the head of the outbound queue.
func (c *conn) sendHead() error {
	if len(c.outq) == 0 || !c.connected {
		return nil
	}
	f := c.outq[0]
	if c.pendingAck != 0 {
		f.Ack, c.pendingAck = c.pendingAck, 0 // piggybacked
	}
	return c.write(f)
}

// write encodes f and writes it with the link faults applied.
func (c *conn) write(f terminal.Frame) error {
	s := c.s
	b, err := terminal.AppendFrame(nil, f, terminal.MaxPayload)
	if err != nil {
		return err
	}
	s.mu.Lock()
	fl := &s.faults
	if f.IsData() && fl.DropOut > 0 {
		fl.DropOut--
		s.mu.Unlock()
		return nil
	}
	if !f.IsHeartbeat() && fl.CorruptOut > 0 {
		fl.CorruptOut--
		if c.corruptETX {
			b[len(b)-1] ^= 0xFF
		} else {
			b[len(b)-3] ^= 0xFF
		}
		c.corruptETX = !c.corruptETX
	}
	if fl.Garbage > 0 {
		g := make([]byte, 0, fl.Garbage+10)
		for range fl.Garbage {
			x := byte(s.rnd.IntN(256))
			if x == 0x55 {
				x = 0x54 // a false frame start with a huge length would stall any reader
			}
			g = append(g, x)
		}
		// A short frame with a bad CRC: the reader must skip it.
		g = append(g, 0x55, 0xAA, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0xCC, 0x33)
		b = append(g, b...)
		fl.Garbage = 0
	}
	split, coalesce := fl.Split, fl.Coalesce
	var cuts []int
	if split {
		for i := 0; i < len(b); {
			n := 1 + s.rnd.IntN(8)
			i += n
			cuts = append(cuts, min(i, len(b)))
		}
	}
	s.mu.Unlock()
	if coalesce {
		c.coalesced = append(c.coalesced, b...)
		return nil
	}
	if split {
		prev := 0
		for _, cut := range cuts {
			if _, err := c.w.Write(b[prev:cut]); err != nil {
				return err
			}
			prev = cut
		}
		return nil
	}
	_, err = c.w.Write(b)
	return err
}

// flush writes frames held by the Coalesce fault in one write.
func (c *conn) flush() error {
	if len(c.coalesced) == 0 {
		return nil
	}
	b := c.coalesced
	c.coalesced = nil
	_, err := c.w.Write(b)
	return err
}
