// Package posbridgetest holds what the tests of more than one package share:
// a manual clock, in-memory doubles of the engine's ports (a gateway, a
// terminal, stores that fail on demand), and the digit runs and Luhn check
// of the scans for card numbers. It is test code that other packages
// import, like net/http/httptest; the product never does.
//
// The doubles keep the rules the engine relies on (a paid order refuses a
// cancel, an unknown order is not found, a terminal's acquirer tells the
// gateway), so a test that passes against them says something about the
// real parts. Each is safe for concurrent use.
package posbridgetest
