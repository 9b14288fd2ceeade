package terminal

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/posbridge/posbridge"
)

// session is one handshaken connection. done is closed when it ends.
type session struct {
	done chan struct{}
	jobs chan *job
}

type jobResult int

const (
	jobNotWritten jobResult = iota // not one byte went out
	jobAcked
	jobUnacked // sent MaxTransmissions times without ACK: possibly delivered
	jobLost    // written, then the link ended before the ACK
)

type job struct {
	payload []byte
	res     chan jobResult // buffered 1; exactly one result
}

// runSession handshakes over rw and runs the link until it fails or the
// Conn closes. It closes rw and waits for its reader before returning, and
// reports whether the handshake had succeeded.
func (c *Conn) runSession(rw io.ReadWriteCloser) (wasUp bool, err error) {
	dec := NewDecoder(rw)
	dec.MaxPayload = c.cfg.MaxPayload
	dec.IdleResync = 5
	dec.Tick, dec.IdleWait = c.cfg.ReadTick, max(c.cfg.ReadTick, DefaultIdleReadWait)
	var last DecoderStats
	reader := StartFrameReader(dec, func(f Frame, err error) {
		st := dec.Stats()
		c.crcErrors.Add(st.CRCErrors - last.CRCErrors + st.Oversize - last.Oversize)
		last = st
		if err == nil {
			c.frames.Add(1)
			c.trace.frame(c.clock.Now(), "in", f)
		}
	})
	defer reader.Stop(rw)
	frames, readErr := reader.Frames, reader.Err
	write := func(f Frame) error {
		b, err := AppendFrame(nil, f, MaxOutboundPayload)
		if err != nil {
			return err
		}
		c.trace.frame(c.clock.Now(), "out", f)
		if _, err := rw.Write(b); err != nil {
			return fmt.Errorf("write frame: %w", mapPortError(err))
		}
		return nil
	}

	// Handshake.
	if err := write(HandshakeFrame); err != nil {
		return false, err
	}
	resend := c.clock.NewTimer(c.cfg.HandshakeResend)
	defer resend.Stop()
	giveUp := c.clock.NewTimer(c.cfg.HandshakeTimeout)
	defer giveUp.Stop()
handshake:
	for {
		select {
		case f := <-frames:
			if f.Type == TypeHandshakeConfirm {
				break handshake
			}
		case <-resend.C():
			if err := write(HandshakeFrame); err != nil {
				return false, err
			}
			resend.Reset(c.cfg.HandshakeResend)
		case <-giveUp.C():
			return false, ErrHandshakeTimeout
		case err := <-readErr:
			return false, fmt.Errorf("read: %w: %w", ErrLinkLost, mapPortError(err))
		case <-c.ctx.Done():
			return false, c.ctx.Err()
		}
	}
	resend.Stop()
	giveUp.Stop()

	s := &session{done: make(chan struct{}), jobs: make(chan *job)}
	var cur *job
	defer func() {
		// Unregister before announcing the end, so that nobody picks up a
		// finished session.
		c.mu.Lock()
		if c.sess == s {
			c.sess = nil
		}
		if isClosed(c.upCh) {
			c.upCh = make(chan struct{})
		}
		c.mu.Unlock()
		close(s.done)
		if cur != nil {
			cur.res <- jobLost
		}
	}()
	if c.everUp.Swap(true) {
		c.reconnects.Add(1)
	}
	c.setState(posbridge.LinkUp, s)

	heartbeat := c.clock.NewTimer(c.cfg.Heartbeat)
	defer heartbeat.Stop()
	alive := c.clock.NewTimer(c.cfg.LinkTimeout)
	defer alive.Stop()
	retx := c.clock.NewTimer(time.Hour)
	retx.Stop()
	defer retx.Stop()
	var nextID, curID, lastAccepted byte = 1, 0, 0
	tx := 0
	for {
		var jobs chan *job
		if cur == nil {
			jobs = s.jobs
		}
		select {
		case f := <-frames:
			alive.Reset(c.cfg.LinkTimeout)
			if f.Type != TypeNormal {
				continue
			}
			if f.Ack != 0 && cur != nil && f.Ack == curID {
				retx.Stop()
				cur.res <- jobAcked
				cur = nil
			}
			if f.ID != 0 {
				if err := write(AckFrame(f.ID)); err != nil {
					return true, err
				}
				heartbeat.Reset(c.cfg.Heartbeat)
				if f.ID != lastAccepted {
					lastAccepted = f.ID
					c.deliver(f.Payload)
				}
			}
		case j := <-jobs:
			curID = nextID
			nextID++
			if nextID == 0 {
				nextID = 1
			}
			if err := write(Frame{Type: TypeNormal, ID: curID, Payload: j.payload}); err != nil {
				// A failed write on a serial port may still have sent part
				// of the frame; only an encoding refusal is "not written".
				if errors.Is(err, ErrPayloadTooLarge) {
					j.res <- jobNotWritten
					continue
				}
				j.res <- jobLost
				return true, err
			}
			cur, tx = j, 1
			retx.Reset(c.cfg.Retransmit)
			heartbeat.Reset(c.cfg.Heartbeat)
		case <-retx.C():
			if cur == nil {
				continue
			}
			if tx >= c.cfg.MaxTransmissions {
				cur.res <- jobUnacked
				cur = nil
				return true, fmt.Errorf("no ack after %d sends: %w", tx, ErrLinkLost)
			}
			if err := write(Frame{Type: TypeNormal, ID: curID, Payload: cur.payload}); err != nil {
				return true, err
			}
			tx++
			c.retransmits.Add(1)
			retx.Reset(c.cfg.Retransmit)
			heartbeat.Reset(c.cfg.Heartbeat)
		case <-heartbeat.C():
			if err := write(HeartbeatFrame); err != nil {
				return true, err
			}
			heartbeat.Reset(c.cfg.Heartbeat)
		case <-alive.C():
			return true, fmt.Errorf("no valid frame for %v: %w", c.cfg.LinkTimeout, ErrLinkLost)
		case err := <-readErr:
			return true, fmt.Errorf("read: %w: %w", ErrLinkLost, mapPortError(err))
		case <-c.ctx.Done():
			return true, c.ctx.Err()
		}
	}
}
