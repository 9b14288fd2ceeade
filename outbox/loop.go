package outbox

import "context"

// Loop owns one background goroutine, as the shipper and the fleet's
// consumer each run one: Start runs it, Stop cancels its context and waits
// for it to return. The zero value is stopped. Start and Stop are called by
// the owner's Open and Close, not concurrently.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs f in a new goroutine with a context that Stop cancels.
func (l *Loop) Start(f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		f(ctx)
	}()
}

// Stop cancels the goroutine's context and waits for it to return. It
// reports false when nothing was running (never started, or stopped
// before).
func (l *Loop) Stop() bool {
	if l.cancel == nil {
		return false
	}
	l.cancel()
	<-l.done
	l.cancel = nil
	return true
}

// Done is closed when the goroutine has returned (nil before Start).
func (l *Loop) Done() <-chan struct{} { return l.done }
