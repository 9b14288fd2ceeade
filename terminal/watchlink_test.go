package terminal_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posbridge/posbridge"
	"github.com/posbridge/posbridge/terminal"
	"github.com/posbridge/posbridge/terminal/termsim"
)

// linkLog records the link changes a watch receives.
type linkLog struct {
	mu     sync.Mutex
	states []posbridge.LinkState
}

func (l *linkLog) watch(st posbridge.LinkStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, st.State)
}

func (l *linkLog) all() []posbridge.LinkState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]posbridge.LinkState(nil), l.states...)
}

// TestConn_WatchLink: the one watch set by WatchLink receives every change
// of the link from then on; a new watch replaces it, and nil stops it.
func TestConn_WatchLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pipe := termsim.NewPipe(termsim.New(termsim.Config{Logger: quiet}))
		conn, err := terminal.Open(terminal.Config{AppID: "A1", Logger: quiet, Open: pipe.Open})
		if err != nil {
			t.Fatal(err)
		}
		defer pipe.Close()
		defer conn.Close()
		settle := func() {
			time.Sleep(30 * time.Second)
			synctest.Wait()
		}

		var first, second linkLog
		conn.WatchLink(first.watch)
		settle()
		if st := conn.Link().State; st != posbridge.LinkUp {
			t.Fatalf("link %s, want up", st)
		}

		conn.WatchLink(second.watch)
		before := len(first.all())
		pipe.Unplug()
		settle()
		got := second.all()
		if len(got) == 0 || got[len(got)-1] != conn.Link().State || conn.Link().State == posbridge.LinkUp {
			t.Fatalf("after the cable was pulled the new watch got %v, the link is %s", got, conn.Link().State)
		}
		if n := len(first.all()); n != before {
			t.Fatalf("the replaced watch got %d more changes", n-before)
		}

		conn.WatchLink(nil)
		seen := len(second.all())
		pipe.Plug()
		settle()
		if st := conn.Link().State; st != posbridge.LinkUp {
			t.Fatalf("link %s after the cable is back, want up", st)
		}
		if n := len(second.all()); n != seen {
			t.Fatalf("a stopped watch got %d more changes", n-seen)
		}
	})
}
