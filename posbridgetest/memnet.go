package posbridgetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// MemNet is an in-memory network: HTTP clients dial listeners by host name
// over net.Pipe, which testing/synctest can see blocking (a real socket it
// cannot). The zero value is ready to use.
type MemNet struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

type memListener struct {
	name string
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

// Listen returns a listener for the host name; a later Listen on the same
// name replaces it for new dials.
func (n *MemNet) Listen(name string) net.Listener {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners == nil {
		n.listeners = map[string]*memListener{}
	}
	l := &memListener{name: name, c: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[name] = l
	return l
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr(l.name) }

// Dial connects to the listener named by addr's host (its port is ignored);
// with none, or a closed one, the connection is refused.
func (n *MemNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	n.mu.Lock()
	l := n.listeners[host]
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	client, server := net.Pipe()
	select {
	case l.c <- server:
		return client, nil
	case <-l.done:
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client returns an HTTP client that dials on n, one connection a request.
func (n *MemNet) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: n.Dial, DisableKeepAlives: true}}
}

// Serve serves h on a listener named name until the returned stop is called.
func (n *MemNet) Serve(name string, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h}
	l := n.Listen(name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	return func() {
		srv.Close()
		<-done
	}
}
