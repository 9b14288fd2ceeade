package termsim

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// ErrUnplugged is returned by Pipe.Open while the simulated cable is pulled.
var ErrUnplugged = errors.New("termsim: terminal unplugged")

// Pipe connects an ECR to a Sim over in-memory pipes (net.Pipe), for fast
// tests and the seeded simulation (it works inside testing/synctest). Open
// has the shape of terminal.Opener: every call returns a fresh pipe end and
// serves the other end with the Sim, as plugging the cable in would.
type Pipe struct {
	sim    *Sim
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	unplugged bool
	cur       net.Conn
	opens     int
}

// NewPipe returns a Pipe serving sim. Close stops every Serve it started.
func NewPipe(sim *Sim) *Pipe {
	p := &Pipe{sim: sim}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// Open returns the ECR end of a new connection, or ErrUnplugged.
func (p *Pipe) Open(ctx context.Context) (io.ReadWriteCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unplugged {
		return nil, ErrUnplugged
	}
	if err := p.ctx.Err(); err != nil {
		return nil, err
	}
	ecr, term := net.Pipe()
	p.cur = term
	p.opens++
	p.wg.Go(func() { _ = p.sim.Serve(p.ctx, term) })
	return ecr, nil
}

// Unplug cuts the current connection and makes Open fail until Plug.
func (p *Pipe) Unplug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unplugged = true
	if p.cur != nil {
		p.cur.Close()
		p.cur = nil
	}
}

// Plug lets Open succeed again.
func (p *Pipe) Plug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unplugged = false
}

// Opens returns how many connections were opened.
func (p *Pipe) Opens() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opens
}

// Close stops serving and waits for every Serve to return.
func (p *Pipe) Close() error {
	p.cancel()
	p.mu.Lock()
	if p.cur != nil {
		p.cur.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}
