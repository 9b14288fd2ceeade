package terminal

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Frame types (research §1.3).
const (
	TypeNormal           byte = 0x00 // data, ACK or heartbeat
	TypeHandshake        byte = 0x01 // ECR → terminal
	TypeHandshakeConfirm byte = 0x02 // terminal → ECR
)

// Frame layout constants.
const (
	stx0, stx1 = 0x55, 0xAA
	etx0, etx1 = 0xCC, 0x33
	headerLen  = 7  // STX, type, ack, id, len
	overhead   = 10 // header + crc + ETX

	// MaxOutboundPayload is the largest payload the terminal accepts: a whole
	// frame of 1024 bytes (research §2.5). Larger payloads are refused,
	// never truncated or split.
	MaxOutboundPayload = 1014
	// DefaultMaxPayload is the largest inbound payload a Decoder accepts by
	// default. Real responses come close to 1014 bytes and the real app may
	// exceed it, so the default is lenient; a declared length above it is
	// treated as noise and resynchronised past.
	DefaultMaxPayload = 8192
	// MaxPayload is the largest payload the 16-bit length field can declare.
	MaxPayload = 0xFFFF
)

// Errors of the frame codec.
var (
	ErrPayloadTooLarge = errors.New("payload too large")
	ErrShortFrame      = errors.New("short frame")
	ErrNoSync          = errors.New("no frame start")
	ErrBadCRC          = errors.New("bad frame crc")
	ErrBadETX          = errors.New("bad frame etx")
)

// Frame is one link-layer frame. Ack is the id of a data frame being
// acknowledged (0 for none); ID is the frame's own data id (0 when it carries
// no data).
type Frame struct {
	Type    byte
	Ack     byte
	ID      byte
	Payload []byte
}

// IsData reports whether f carries data that must be acknowledged.
func (f Frame) IsData() bool { return f.Type == TypeNormal && f.ID != 0 }

// IsHeartbeat reports whether f is an empty type-0 frame without ack or id.
func (f Frame) IsHeartbeat() bool { return f.Type == TypeNormal && f.Ack == 0 && f.ID == 0 }

func (f Frame) String() string {
	return fmt.Sprintf("frame{type=%d ack=%d id=%d len=%d}", f.Type, f.Ack, f.ID, len(f.Payload))
}

// Well-known empty frames.
var (
	HandshakeFrame = Frame{Type: TypeHandshake}
	ConfirmFrame   = Frame{Type: TypeHandshakeConfirm}
	HeartbeatFrame = Frame{Type: TypeNormal}
)

// AckFrame returns the pure ACK of data frame id.
func AckFrame(id byte) Frame { return Frame{Type: TypeNormal, Ack: id} }

func crc(b []byte) (x byte) {
	for _, c := range b {
		x ^= c
	}
	return x
}

// AppendFrame appends the encoding of f to dst. It refuses payloads longer
// than max (MaxOutboundPayload for anything sent to a real terminal) with
// ErrPayloadTooLarge and appends nothing then.
func AppendFrame(dst []byte, f Frame, max int) ([]byte, error) {
	if max > MaxPayload || max <= 0 {
		max = MaxPayload
	}
	if len(f.Payload) > max {
		return dst, fmt.Errorf("encode frame: %d bytes, at most %d: %w", len(f.Payload), max, ErrPayloadTooLarge)
	}
	start := len(dst)
	n := len(f.Payload)
	dst = append(dst, stx0, stx1, f.Type, f.Ack, f.ID, byte(n>>8), byte(n))
	dst = append(dst, f.Payload...)
	dst = append(dst, crc(dst[start+2:]), etx0, etx1)
	return dst, nil
}

// EncodeFrame returns the encoding of f, refusing payloads over
// MaxOutboundPayload.
func EncodeFrame(f Frame) ([]byte, error) {
	return AppendFrame(make([]byte, 0, len(f.Payload)+overhead), f, MaxOutboundPayload)
}

// MustEncode is EncodeFrame for frames known to fit, such as the empty ones.
func MustEncode(f Frame) []byte {
	b, err := AppendFrame(nil, f, MaxPayload)
	if err != nil {
		panic(err)
	}
	return b
}

// DecodeFrame decodes one frame that starts at b[0]. It returns the frame and
// the number of bytes it used, which is exactly 10 plus the declared payload
// length; it never looks past that. Errors: ErrNoSync when b does not start
// with 55 AA, ErrShortFrame when more bytes are needed (n is then the total
// needed, when known), ErrPayloadTooLarge when the declared length exceeds
// max, ErrBadCRC and ErrBadETX. The payload aliases b.
func DecodeFrame(b []byte, max int) (f Frame, n int, err error) {
	if max <= 0 || max > MaxPayload {
		max = MaxPayload
	}
	if len(b) < 2 {
		if len(b) == 1 && b[0] != stx0 {
			return Frame{}, 0, ErrNoSync
		}
		return Frame{}, headerLen, ErrShortFrame
	}
	if b[0] != stx0 || b[1] != stx1 {
		return Frame{}, 0, ErrNoSync
	}
	if len(b) < headerLen {
		return Frame{}, headerLen, ErrShortFrame
	}
	plen := int(b[5])<<8 | int(b[6])
	if plen > max {
		return Frame{}, 0, fmt.Errorf("declared length %d, at most %d: %w", plen, max, ErrPayloadTooLarge)
	}
	total := plen + overhead
	if len(b) < total {
		return Frame{}, total, ErrShortFrame
	}
	if crc(b[2:headerLen+plen]) != b[headerLen+plen] {
		return Frame{}, total, ErrBadCRC
	}
	if b[total-2] != etx0 || b[total-1] != etx1 {
		return Frame{}, total, ErrBadETX
	}
	f = Frame{Type: b[2], Ack: b[3], ID: b[4]}
	if plen > 0 {
		f.Payload = b[headerLen : headerLen+plen]
	}
	return f, total, nil
}

// DecoderStats counts what a Decoder saw.
type DecoderStats struct {
	Frames    uint64 // valid frames returned
	CRCErrors uint64 // frames dropped for a bad CRC or ETX
	Oversize  uint64 // frame starts skipped for a declared length over the maximum
	Skipped   uint64 // bytes discarded while looking for a frame start
}

// Decoder reads frames from a byte stream. It resynchronises on 55 AA,
// drops frames with a bad CRC or ETX (skipping only their first byte, so a
// real frame hidden inside noise is still found), and refuses declared
// lengths over MaxPayload the same way. It reads from the stream only the
// bytes it still needs for the frame at hand, so it never consumes bytes
// beyond the end of the frame it returns.
//
// A read that returns (0, nil), as a serial port with a read timeout does, is
// an idle tick: after IdleResync consecutive ticks with a partial frame
// buffered, the partial frame is given up and scanning resumes after its
// first byte. Decoder is not safe for concurrent use.
type Decoder struct {
	// MaxPayload is the largest declared payload length accepted.
	MaxPayload int
	// IdleResync is the number of consecutive empty reads after which a
	// partial frame is abandoned; 0 means never.
	IdleResync int
	// Tick and IdleWait, when both are positive and the reader can change
	// its read timeout (ReadTimeoutSetter: a serial port), are the read
	// timeout while a partial frame is buffered (IdleResync counts these
	// ticks) and while none is. Between frames a read waits IdleWait: the
	// first byte ends it at once, as does closing the port, so the wait
	// only sets how often an idle link wakes the process, every empty
	// read waking the whole Go runtime.
	Tick, IdleWait time.Duration

	r       io.Reader
	buf     []byte
	stats   DecoderStats
	timeout time.Duration // the reader's read timeout as last set; 0: not set by the decoder
}

// ReadTimeoutSetter is a reader whose reads return (0, nil) after a timeout
// that can be changed between reads, as go.bug.st/serial's ports do.
type ReadTimeoutSetter interface {
	SetReadTimeout(time.Duration) error
}

// NewDecoder returns a Decoder reading r with DefaultMaxPayload.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, MaxPayload: DefaultMaxPayload, buf: make([]byte, 0, 256)}
}

// Stats returns the decoder's counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Next returns the next valid frame. The payload is a fresh copy. It returns
// the reader's error (io.EOF at a clean end, io.ErrUnexpectedEOF when the
// stream ends inside a frame) and no frame.
func (d *Decoder) Next() (Frame, error) {
	idle := 0
	for {
		f, n, err := DecodeFrame(d.buf, d.MaxPayload)
		switch {
		case err == nil:
			f.Payload = append([]byte(nil), f.Payload...)
			d.consume(n)
			d.stats.Frames++
			return f, nil
		case errors.Is(err, ErrNoSync):
			i := 1
			for i < len(d.buf) && d.buf[i] != stx0 {
				i++
			}
			d.stats.Skipped += uint64(i)
			d.consume(i)
			continue
		case errors.Is(err, ErrPayloadTooLarge):
			d.stats.Oversize++
			d.consume(1)
			continue
		case errors.Is(err, ErrBadCRC), errors.Is(err, ErrBadETX):
			d.stats.CRCErrors++
			d.consume(1)
			continue
		}
		// ErrShortFrame: read exactly what this frame still needs.
		need := n - len(d.buf)
		if need <= 0 {
			need = 1
		}
		got, rerr := d.fill(need)
		if got > 0 {
			idle = 0
			continue
		}
		if rerr != nil {
			if rerr == io.EOF && len(d.buf) > 0 {
				rerr = io.ErrUnexpectedEOF
			}
			return Frame{}, rerr
		}
		idle++
		if d.IdleResync > 0 && idle >= d.IdleResync && len(d.buf) > 0 {
			idle = 0
			d.stats.CRCErrors++
			d.consume(1)
		}
	}
}

func (d *Decoder) fill(need int) (int, error) {
	if err := d.setTimeout(); err != nil {
		return 0, err
	}
	l := len(d.buf)
	if cap(d.buf)-l < need {
		nb := make([]byte, l, l+need+256)
		copy(nb, d.buf)
		d.buf = nb
	}
	n, err := d.r.Read(d.buf[l : l+need])
	if n < 0 || n > need {
		n = 0
	}
	d.buf = d.buf[:l+n]
	return n, err
}

// setTimeout gives the reader the read timeout for what is buffered (see
// Tick and IdleWait), when it changed since the last read.
func (d *Decoder) setTimeout() error {
	if d.Tick <= 0 || d.IdleWait <= 0 {
		return nil
	}
	t, ok := d.r.(ReadTimeoutSetter)
	if !ok {
		return nil
	}
	want := d.Tick
	if len(d.buf) == 0 {
		want = d.IdleWait
	}
	if want == d.timeout {
		return nil
	}
	if err := t.SetReadTimeout(want); err != nil {
		return fmt.Errorf("set read timeout: %w", err)
	}
	d.timeout = want
	return nil
}

func (d *Decoder) consume(n int) {
	d.buf = d.buf[:copy(d.buf, d.buf[n:])]
}
