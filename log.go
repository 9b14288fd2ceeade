package posbridge

// Log attribute keys, fixed so that logs can be searched the same way everywhere.
const (
	LogKeyComponent = "component"
	LogKeyOrder     = "order_no"
	LogKeyLane      = "lane"
	LogKeyStatus    = "status"
	LogKeyOutcome   = "outcome"
	LogKeyPort      = "port"
	LogKeySeq       = "seq"
	LogKeyError     = "error"
	LogKeyGateway   = "gateway"
	LogKeyAttempt   = "attempt"
	LogKeyCount     = "count"
	LogKeyDuration  = "duration"
	LogKeyAddr      = "addr"
	LogKeyDate      = "date"
)
