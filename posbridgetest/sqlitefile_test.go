package posbridgetest_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/posbridge/posbridge/posbridgetest"
)

// A leaf table page whose last cell pointer (0x0f34) ends in ASCII '4' right
// before the free-space tail of an order number: the pointer is zeroed, the
// data and the free space are kept, in the file and in a WAL frame.
func TestSQLiteData_ZeroesPageStructureOnly(t *testing.T) {
	const size = 512
	page := func(first bool) []byte {
		p := make([]byte, size)
		off := 0
		if first {
			off = 100
		}
		p[off] = 13 // leaf table
		binary.BigEndian.PutUint16(p[off+3:], 2)
		binary.BigEndian.PutUint16(p[off+8:], 0x0f56)
		binary.BigEndian.PutUint16(p[off+10:], 0x0f34)
		copy(p[off+12:], "0010100183437120")
		copy(p[400:], "stored 4111111111111111 data")
		return p
	}
	db := append(page(true), page(false)...)
	copy(db, "SQLite format 3\x00")
	binary.BigEndian.PutUint16(db[16:], size)
	wal := make([]byte, 32)
	binary.BigEndian.PutUint32(wal[8:], size)
	frame := make([]byte, 24)
	binary.BigEndian.PutUint32(frame, 2)
	wal = append(append(wal, frame...), page(false)...)
	for name, tt := range map[string]struct {
		file []byte
		wal  bool
	}{"database": {db, false}, "wal": {wal, true}} {
		got := posbridgetest.SQLiteData(tt.file, tt.wal)
		if bytes.Contains(got, []byte("40010100183437120")) {
			t.Errorf("%s: the cell pointer's '4' still glues to the digits after it", name)
		}
		if !bytes.Contains(got, []byte("0010100183437120")) || !bytes.Contains(got, []byte("stored 4111111111111111 data")) {
			t.Errorf("%s: data or free space was lost", name)
		}
		if bytes.Equal(got, tt.file) || len(got) != len(tt.file) {
			t.Errorf("%s: nothing was masked, or the length changed", name)
		}
	}
	if bytes.Contains(db, []byte{0x0f, 0x34}) == false {
		t.Fatal("SQLiteData changed its input")
	}
}
