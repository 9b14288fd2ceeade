package terminal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/iotest"
	"time"
)

func mustFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "frames", name+".bin"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestEncodeFrame_Golden(t *testing.T) {
	closePayload := []byte(`{"topic":"ecrhub.pay.close","request_id":"7","app_id":"A1","biz_data":{"merchant_order_no":"O1"}}`)
	for _, tt := range []struct {
		fixture string
		hex     string // from research §1.3 (empty: see the fixture)
		frame   Frame
	}{
		{"handshake", "55AA010000000001CC33", HandshakeFrame},
		{"handshake-confirm", "55AA020000000002CC33", ConfirmFrame},
		{"heartbeat", "55AA000000000000CC33", HeartbeatFrame},
		{"ack-1", "55AA000100000001CC33", AckFrame(1)},
		{"ack-2a", "55AA002A0000002ACC33", AckFrame(0x2A)},
		{"piggyback-ack3-id5", "55AA00030500027B7D02CC33", Frame{Ack: 3, ID: 5, Payload: []byte("{}")}},
		{"close-order-crc70", "", Frame{ID: 1, Payload: closePayload}},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			want := mustFixture(t, tt.fixture)
			if tt.hex != "" {
				h, _ := hex.DecodeString(tt.hex)
				if !bytes.Equal(h, want) {
					t.Fatalf("fixture %x differs from research hex %s", want, tt.hex)
				}
			}
			got, err := EncodeFrame(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode = %X, want %X", got, want)
			}
			f, n, err := DecodeFrame(want, MaxPayload)
			if err != nil || n != len(want) {
				t.Fatalf("decode: n=%d err=%v", n, err)
			}
			if f.Type != tt.frame.Type || f.Ack != tt.frame.Ack || f.ID != tt.frame.ID || !bytes.Equal(f.Payload, tt.frame.Payload) {
				t.Fatalf("decode = %v, want %v", f, tt.frame)
			}
		})
	}
	// The worked example: CRC 0x70 at offset 7+97.
	b := mustFixture(t, "close-order-crc70")
	if len(b) != 107 || b[104] != 0x70 {
		t.Fatalf("worked example: len %d crc %#x, want 107 and 0x70", len(b), b[104])
	}
}

func TestEncodeFrame_ErrPayloadTooLarge(t *testing.T) {
	if _, err := EncodeFrame(Frame{ID: 1, Payload: make([]byte, MaxOutboundPayload)}); err != nil {
		t.Fatalf("1014 bytes: %v", err)
	}
	dst := []byte("keep")
	got, err := AppendFrame(dst, Frame{ID: 1, Payload: make([]byte, MaxOutboundPayload+1)}, MaxOutboundPayload)
	if !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("1015 bytes: err %v, want ErrPayloadTooLarge", err)
	}
	if string(got) != "keep" {
		t.Fatalf("refused frame appended bytes: %q", got)
	}
}

func TestDecodeFrame_Faults(t *testing.T) {
	for _, tt := range []struct {
		fixture string
		max     int
		want    error
	}{
		{"crc-mismatch", MaxPayload, ErrBadCRC},
		{"etx-mismatch", MaxPayload, ErrBadETX},
		{"oversize-length", MaxOutboundPayload, ErrPayloadTooLarge},
		{"truncated-payload", MaxPayload, ErrShortFrame},
		{"garbage-before-frame", MaxPayload, ErrNoSync},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			_, _, err := DecodeFrame(mustFixture(t, tt.fixture), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDecoder_Stream feeds fault fixtures through the streaming decoder, in
// one piece and one byte at a time, and checks which frames come out.
func TestDecoder_Stream(t *testing.T) {
	for _, tt := range []struct {
		fixture   string
		want      []Frame
		crcErrors uint64
	}{
		{"crc-mismatch", nil, 1},
		{"etx-mismatch", nil, 1},
		{"garbage-before-frame", []Frame{AckFrame(1)}, 0},
		{"frame-hidden-in-bad-frame", []Frame{AckFrame(1)}, 1},
		{"two-frames-coalesced", []Frame{HeartbeatFrame, AckFrame(1)}, 0},
		{"truncated-payload", nil, 0},
		{"oversize-length", nil, 0},
	} {
		for _, oneByte := range []bool{false, true} {
			name := tt.fixture
			if oneByte {
				name += "/one-byte-reads"
			}
			t.Run(name, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(mustFixture(t, tt.fixture))
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				d := NewDecoder(r)
				d.MaxPayload = MaxOutboundPayload
				var got []Frame
				for {
					f, err := d.Next()
					if err != nil {
						if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
							t.Fatalf("err %v", err)
						}
						break
					}
					got = append(got, f)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
				for i := range got {
					if got[i].String() != tt.want[i].String() {
						t.Fatalf("frame %d = %v, want %v", i, got[i], tt.want[i])
					}
				}
				if d.Stats().CRCErrors != tt.crcErrors {
					t.Fatalf("crc errors %d, want %d", d.Stats().CRCErrors, tt.crcErrors)
				}
			})
		}
	}
}

// countingReader records how many bytes were read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecoder_NeverReadsPastFrame(t *testing.T) {
	first := mustFixture(t, "close-order-crc70")
	stream := append(append([]byte{}, first...), mustFixture(t, "heartbeat")...)
	cr := &countingReader{r: bytes.NewReader(stream)}
	d := NewDecoder(cr)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if cr.n != len(first) {
		t.Fatalf("read %d bytes for a %d-byte frame", cr.n, len(first))
	}
}

// tickReader returns (0, nil) ticks forever once its data is used up, as a
// serial port with a read timeout does.
type tickReader struct{ data []byte }

func (r *tickReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, nil
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecoder_IdleResync(t *testing.T) {
	// A false frame start declaring 1000 bytes, then silence: after the idle
	// ticks, the real frame behind it must come out.
	stream := append([]byte{0x55, 0xAA, 0, 0, 1, 0x03, 0xE8}, mustFixture(t, "ack-1")...)
	r := &tickReader{data: stream}
	d := NewDecoder(r)
	d.IdleResync = 3
	f, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != AckFrame(1).String() {
		t.Fatalf("got %v, want ACK 1", f)
	}
}

// timeoutReader is a serial port's reads: chunks of bytes, each chunk
// preceded by empty reads (timeouts), and the read timeout in force at each
// read.
type timeoutReader struct {
	chunks  [][]byte
	silent  int // empty reads before each chunk starts
	timeout time.Duration
	sets    int
	waits   []time.Duration // the timeout of every read
	quiet   int
}

func (r *timeoutReader) SetReadTimeout(d time.Duration) error {
	r.timeout = d
	r.sets++
	return nil
}

func (r *timeoutReader) Read(p []byte) (int, error) {
	r.waits = append(r.waits, r.timeout)
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	if r.quiet < r.silent {
		r.quiet++
		return 0, nil
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
		r.quiet = 0
	}
	return n, nil
}

// Between frames a serial read waits the long IdleWait (an idle link does
// not wake the process ten times a second); inside a frame it ticks, so
// that a frame cut off is given up after IdleResync short ticks.
func TestDecoder_WaitsLongOnlyBetweenFrames(t *testing.T) {
	hb := mustFixture(t, "heartbeat")
	const tick, wait = 100 * time.Millisecond, 2 * time.Second
	r := &timeoutReader{chunks: [][]byte{hb[:3], hb[3:], hb}, silent: 2}
	d := NewDecoder(r)
	d.IdleResync = 5
	d.Tick, d.IdleWait = tick, wait
	for range 2 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	// Frame 1: two timeouts and its first 3 bytes with nothing buffered,
	// then, inside it, two ticks and the rest of its header and its end;
	// frame 2 from nothing again: two timeouts, its header, then its end.
	want := []time.Duration{wait, wait, wait, tick, tick, tick, tick, wait, wait, wait, tick}
	if !slices.Equal(r.waits, want) {
		t.Errorf("read timeouts %v, want %v", r.waits, want)
	}
	if r.sets != 4 {
		t.Errorf("the timeout was set %d times; want 4 (only when it changes)", r.sets)
	}

	// A reader without a settable timeout, or no IdleWait: reads as before.
	plain := &timeoutReader{chunks: [][]byte{hb}}
	d = NewDecoder(plain)
	d.Tick = tick
	if _, err := d.Next(); err != nil || plain.sets != 0 {
		t.Errorf("with no IdleWait: err %v, timeout set %d times", err, plain.sets)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "frames"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(mustFixture(f, e.Name()[:len(e.Name())-len(".bin")]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := DecodeFrame(b, MaxPayload)
		if err != nil {
			return
		}
		if n != len(fr.Payload)+overhead || n > len(b) {
			t.Fatalf("used %d bytes for payload %d of input %d", n, len(fr.Payload), len(b))
		}
		enc, err := AppendFrame(nil, fr, MaxPayload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encode %X != input %X", enc, b[:n])
		}
		fr2, n2, err := DecodeFrame(enc, MaxPayload)
		if err != nil || n2 != n || fr2.String() != fr.String() || !bytes.Equal(fr2.Payload, fr.Payload) {
			t.Fatalf("round trip unstable: %v %v", fr2, err)
		}
		// The streaming decoder never reads past the first frame either.
		cr := &countingReader{r: bytes.NewReader(b)}
		d := NewDecoder(cr)
		d.MaxPayload = MaxPayload
		if _, err := d.Next(); err != nil {
			t.Fatalf("stream decode: %v", err)
		}
		if cr.n != n {
			t.Fatalf("stream read %d bytes, frame is %d", cr.n, n)
		}
	})
}

func BenchmarkEncodeFrame(b *testing.B) {
	p := mustFixture(b, "close-order-crc70")[7:104]
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(p) + overhead))
	for b.Loop() {
		buf, _ = AppendFrame(buf[:0], Frame{ID: 1, Payload: p}, MaxOutboundPayload)
	}
}

func BenchmarkDecoder(b *testing.B) {
	one := mustFixture(b, "close-order-crc70")
	stream := bytes.Repeat(one, 64)
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		d := NewDecoder(bytes.NewReader(stream))
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
