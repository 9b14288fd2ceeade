package posbridgetest

import "encoding/binary"

// SQLiteData returns a copy of a SQLite database file (wal false) or of its
// write-ahead log (wal true) with the b-tree pages' own structure zeroed:
// each page header and its array of cell pointers. What is left is the
// stored data and the pages' free space (old data SQLite does not clear),
// which is what a scan for card numbers must read. A pointer's bytes are
// no data, but can be ASCII digits: one ending in '4' (0x34) next to the
// free-space tail of an order number read as a 17-digit "card number".
// Anything it cannot parse it returns unchanged.
func SQLiteData(file []byte, wal bool) []byte {
	return MaskSQLiteStructure(append([]byte(nil), file...), wal)
}

// MaskSQLiteStructure is SQLiteData in place: it zeroes b's b-tree page
// structure and returns b. For a caller that owns the bytes (a file just
// read), it saves copying a database per scan.
func MaskSQLiteStructure(b []byte, wal bool) []byte {
	if wal {
		const walHeader, frameHeader = 32, 24
		if len(b) < walHeader {
			return b
		}
		size := int(binary.BigEndian.Uint32(b[8:12]))
		if size < 512 {
			return b
		}
		for off := walHeader; off+frameHeader+size <= len(b); off += frameHeader + size {
			pageNo := binary.BigEndian.Uint32(b[off : off+4])
			maskBTreePage(b[off+frameHeader:off+frameHeader+size], pageNo == 1)
		}
		return b
	}
	if len(b) < 100 {
		return b
	}
	size := int(binary.BigEndian.Uint16(b[16:18]))
	if size == 1 {
		size = 65536
	}
	if size < 512 {
		return b
	}
	for off, pageNo := 0, 1; off+size <= len(b); off, pageNo = off+size, pageNo+1 {
		maskBTreePage(b[off:off+size], pageNo == 1)
	}
	return b
}

// maskBTreePage zeroes page's b-tree header and cell pointer array, when it
// is a b-tree page; page 1 starts after the 100-byte database header.
func maskBTreePage(page []byte, first bool) {
	off := 0
	if first {
		off = 100
	}
	if off+8 > len(page) {
		return
	}
	header := 0
	switch page[off] {
	case 10, 13: // leaf index, leaf table
		header = 8
	case 2, 5: // interior index, interior table
		header = 12
	default:
		return // an overflow or freelist page: data, or page numbers
	}
	cells := int(binary.BigEndian.Uint16(page[off+3 : off+5]))
	clear(page[off:min(len(page), off+header+2*cells)])
}
