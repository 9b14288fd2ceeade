package main

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// windowsServiceAccount is the virtual account the Windows service runs as,
// both when the MSI installs it and with "posbridge service install": it has
// no password and no rights but those granted to it.
const windowsServiceAccount = `NT SERVICE\` + serviceName

// serviceSID returns the SID Windows gives the virtual account
// NT SERVICE\name: S-1-5-80 followed by the SHA-1 of the name in capitals,
// UTF-16LE, read as five little-endian 32-bit numbers.
func serviceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	h := sha1.Sum(b)
	var s strings.Builder
	s.WriteString("S-1-5-80")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&s, "-%d", binary.LittleEndian.Uint32(h[4*i:]))
	}
	return s.String()
}

// dataDirSDDL is the ACL of %ProgramData%\posbridge: protected from
// ProgramData's inherited entries (which let every user read), full
// control for SYSTEM, Administrators and the service's virtual account,
// inherited by the files inside. The MSI sets the same
// (packaging/windows/datadir.sddl).
func dataDirSDDL() string {
	return "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + serviceSID(serviceName) + ")"
}
