package terminal

import (
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"
)

// tracer writes every frame in and out as a line of hex, for capturing the
// wire of a real terminal (Config.Trace). Card numbers are redacted before
// the frame is written: such a frame is re-encoded, so its CRC is that of
// the redacted payload, and the line says "redacted".
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

// cardKey matches a JSON string value under a key naming a card number
// (card_no, cardNo, pan, …), whatever its masking.
var cardKey = regexp.MustCompile(`("(?:card_?[nN]o|cardNumber|card_number|pan|PAN)"\s*:\s*")([^"]*)(")`)

// RedactCardNumbers returns p with the digits of every card number but the
// last four replaced by '*'.
func RedactCardNumbers(p []byte) []byte {
	return cardKey.ReplaceAllFunc(p, func(m []byte) []byte {
		sub := cardKey.FindSubmatch(m)
		v := []byte(string(sub[2]))
		for i := 0; i < len(v)-4; i++ {
			if v[i] >= '0' && v[i] <= '9' {
				v[i] = '*'
			}
		}
		out := append([]byte(nil), sub[1]...)
		out = append(out, v...)
		return append(out, sub[3]...)
	})
}

func (t *tracer) frame(now time.Time, dir string, f Frame) {
	if t == nil || t.w == nil {
		return
	}
	note := ""
	if len(f.Payload) > 0 {
		if r := RedactCardNumbers(f.Payload); string(r) != string(f.Payload) {
			f.Payload, note = r, " redacted"
		}
	}
	b, err := AppendFrame(nil, f, MaxPayload)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "%s %-3s %s%s\n", now.UTC().Format("2006-01-02T15:04:05.000Z"), dir, hex.EncodeToString(b), note)
}
