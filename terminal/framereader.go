package terminal

import (
	"io"
	"sync"
)

// FrameReader reads frames on a goroutine of its own and hands them over on
// Frames, so that the side that owns the link (the driver's session, the
// simulated terminal) can wait on frames, timers and its own work at once.
// Both sides of the link use it.
type FrameReader struct {
	// Frames carries the frames read, in order.
	Frames <-chan Frame
	// Err receives the read error (io.EOF, a closed port) once, after which
	// nothing more comes on Frames.
	Err <-chan error

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartFrameReader starts reading frames from dec. observe, when not nil, is
// called after every read, with the frame or the error, on the reader's
// goroutine (for counters and traces), before the frame is handed over.
func StartFrameReader(dec *Decoder, observe func(f Frame, err error)) *FrameReader {
	frames := make(chan Frame, 256)
	errc := make(chan error, 1)
	fr := &FrameReader{Frames: frames, Err: errc, stop: make(chan struct{})}
	fr.wg.Go(func() {
		for {
			f, err := dec.Next()
			if observe != nil {
				observe(f, err)
			}
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- f:
			case <-fr.stop:
				return
			}
		}
	})
	return fr
}

// Stop stops the reader: it stops handing frames over, closes src (which
// ends a read blocked in dec) and waits for the goroutine to end.
func (fr *FrameReader) Stop(src io.Closer) {
	close(fr.stop)
	src.Close()
	fr.wg.Wait()
}
