package gateway

import "errors"

// Verdicts of a notification check. A notification handler answers each with
// a 4xx, counts it and changes nothing.
var (
	ErrForged    = errors.New("notification signature missing or invalid")
	ErrStale     = errors.New("notification timestamp outside the accepted window")
	ErrMalformed = errors.New("notification malformed")
	ErrOversized = errors.New("notification body too large")
)

// NotifyStats counts what a notification handler did since it was made.
type NotifyStats struct {
	Accepted      uint64 // applied by the service and acknowledged
	Forged        uint64 // missing or bad signature
	Stale         uint64 // timestamp outside the window (replays)
	Malformed     uint64 // wrong method, bad JSON, missing or invalid fields
	Oversized     uint64 // body over the limit
	ServiceErrors uint64 // verified, but the service failed; not acknowledged
}
