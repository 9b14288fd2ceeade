package main

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// pdfText extracts the text of a PDF that Chromium printed, well enough for
// tests to find figures in it: it inflates every stream, reads each font's
// ToUnicode map, and decodes the hex glyph strings of the content streams'
// Tj and TJ operators with the font selected by Tf. Text runs are joined
// with spaces, lines (BT blocks) with newlines. Only what Chromium's PDF
// writer produces is handled; it is not a general PDF reader.
func pdfText(pdf []byte) (string, error) {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return "", fmt.Errorf("not a PDF (starts %q)", pdf[:min(8, len(pdf))])
	}
	objs := pdfObjects(pdf)
	// Fonts: object number → glyph code → text, from their ToUnicode CMaps.
	cmaps := map[int]map[string]string{}
	toUnicode := regexp.MustCompile(`/ToUnicode (\d+) 0 R`)
	for n, o := range objs {
		if m := toUnicode.FindSubmatch(o.dict); m != nil {
			ref, _ := strconv.Atoi(string(m[1]))
			if cm, ok := objs[ref]; ok {
				cmaps[n] = parseCMap(cm.stream)
			}
		}
	}
	// Resource names (/F4) → font objects, from every page's resources.
	fontRef := regexp.MustCompile(`/(F\d+|f\d+|[A-Za-z]+\d*) (\d+) 0 R`)
	names := map[string]int{}
	fontDicts := regexp.MustCompile(`/Font\s*<<([^>]*)>>`)
	for _, o := range objs {
		for _, fd := range fontDicts.FindAllSubmatch(o.dict, -1) {
			for _, m := range fontRef.FindAllSubmatch(fd[1], -1) {
				n, _ := strconv.Atoi(string(m[2]))
				names[string(m[1])] = n
			}
		}
	}
	var out strings.Builder
	tf := regexp.MustCompile(`/([A-Za-z0-9]+) [\d.]+ Tf`)
	hexStr := regexp.MustCompile(`<([0-9A-Fa-f]*)>`)
	op := regexp.MustCompile(`(?s)(/[A-Za-z0-9]+ [\d.]+ Tf)|(\[(?:[^\]]*)\]\s*TJ)|(<[0-9A-Fa-f]*>\s*Tj)|(\bET\b)`)
	for _, o := range objs {
		if !bytes.Contains(o.stream, []byte(" Tf")) {
			continue
		}
		var cmap map[string]string
		for _, m := range op.FindAllSubmatch(o.stream, -1) {
			switch {
			case m[1] != nil:
				name := string(tf.FindSubmatch(m[1])[1])
				cmap = cmaps[names[name]]
			case m[2] != nil || m[3] != nil:
				seg := m[2]
				if seg == nil {
					seg = m[3]
				}
				for _, h := range hexStr.FindAllSubmatch(seg, -1) {
					out.WriteString(decodeGlyphs(string(h[1]), cmap))
				}
				out.WriteByte(' ')
			case m[4] != nil:
				out.WriteByte('\n')
			}
		}
	}
	return out.String(), nil
}

type pdfObject struct {
	dict   []byte
	stream []byte // inflated when FlateDecode
}

// pdfObjects splits a PDF into its numbered objects.
func pdfObjects(pdf []byte) map[int]pdfObject {
	objs := map[int]pdfObject{}
	start := regexp.MustCompile(`(?m)^(\d+) 0 obj`)
	locs := start.FindAllSubmatchIndex(pdf, -1)
	for i, l := range locs {
		n, _ := strconv.Atoi(string(pdf[l[2]:l[3]]))
		end := len(pdf)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := pdf[l[1]:end]
		o := pdfObject{dict: body}
		if s := bytes.Index(body, []byte("stream")); s >= 0 {
			o.dict = body[:s]
			data := body[s+len("stream"):]
			data = bytes.TrimLeft(data, "\r\n")
			if e := bytes.LastIndex(data, []byte("endstream")); e >= 0 {
				data = data[:e]
			}
			if bytes.Contains(o.dict, []byte("FlateDecode")) {
				if r, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
					if inflated, err := io.ReadAll(r); err == nil || len(inflated) > 0 {
						data = inflated
					}
				}
			}
			o.stream = data
		}
		objs[n] = o
	}
	return objs
}

// parseCMap reads bfchar and bfrange entries of a ToUnicode CMap.
func parseCMap(b []byte) map[string]string {
	m := map[string]string{}
	s := string(b)
	for _, block := range regexp.MustCompile(`(?s)beginbfchar(.*?)endbfchar`).FindAllStringSubmatch(s, -1) {
		for _, e := range regexp.MustCompile(`<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>`).FindAllStringSubmatch(block[1], -1) {
			m[strings.ToUpper(e[1])] = utf16Hex(e[2])
		}
	}
	for _, block := range regexp.MustCompile(`(?s)beginbfrange(.*?)endbfrange`).FindAllStringSubmatch(s, -1) {
		for _, e := range regexp.MustCompile(`<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>`).FindAllStringSubmatch(block[1], -1) {
			lo, _ := strconv.ParseUint(e[1], 16, 32)
			hi, _ := strconv.ParseUint(e[2], 16, 32)
			dst, _ := strconv.ParseUint(e[3], 16, 32)
			for c := lo; c <= hi && c-lo < 1<<16; c++ {
				m[fmt.Sprintf("%0*X", len(e[1]), c)] = string(rune(dst + c - lo))
			}
		}
	}
	return m
}

func utf16Hex(h string) string {
	var units []uint16
	for i := 0; i+4 <= len(h); i += 4 {
		v, _ := strconv.ParseUint(h[i:i+4], 16, 16)
		units = append(units, uint16(v))
	}
	return string(utf16.Decode(units))
}

// decodeGlyphs maps a hex string of 2-byte glyph codes through cmap.
func decodeGlyphs(h string, cmap map[string]string) string {
	h = strings.ToUpper(h)
	var b strings.Builder
	width := 4
	if len(cmap) > 0 {
		for k := range cmap {
			width = len(k)
			break
		}
	}
	for i := 0; i+width <= len(h); i += width {
		if s, ok := cmap[h[i:i+width]]; ok {
			b.WriteString(s)
		}
	}
	return b.String()
}
