package wake

import (
	"context"
	"time"
)

// Activity is what WaitIdle watches. broker.Server implements it.
type Activity interface {
	// Activity returns the open client connections, the requests being
	// handled, and when either last changed.
	Activity() (conns int, inflight int64, last time.Time)
}

// Poll interval bounds when WaitIdle chooses it: often enough to measure
// the timeout to within a tenth, rarely enough to cost nothing.
const (
	minPoll = 10 * time.Millisecond
	maxPoll = time.Second
)

// WaitIdle returns nil once a has had no connection and no request in
// flight for timeout, or ctx.Err() when ctx ends first. Idleness is
// measured from the latest of: the call, a's last activity, and the last
// time WaitIdle saw a connection or request. A connection that opens and
// closes between two looks still counts, through a's last activity.
//
// WaitIdle only calls a.Activity, at most every poll while a is busy and
// once when the timeout would end while it is idle; it makes no I/O. A
// poll of 0 means timeout/10, from 10ms to 1s. A timeout of 0 or less
// means never idle: WaitIdle waits for ctx.
func WaitIdle(ctx context.Context, a Activity, timeout, poll time.Duration) error {
	if timeout <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	if poll <= 0 {
		poll = min(max(timeout/10, minPoll), maxPoll)
	}
	// activeAt is the latest known activity on the monotonic clock. The
	// wall-clock times a reports are placed between two looks, so that a
	// clock step cannot stretch or cut the timeout.
	activeAt := time.Now()
	prevLook, prevLast := activeAt, time.Time{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		now := time.Now()
		conns, inflight, last := a.Activity()
		busy := conns > 0 || inflight > 0
		switch {
		case busy:
			activeAt = now
		case !last.Equal(prevLast):
			age := min(max(now.Round(0).Sub(last), 0), now.Sub(prevLook))
			if at := now.Add(-age); at.After(activeAt) {
				activeAt = at
			}
		}
		prevLook, prevLast = now, last
		if busy {
			timer.Reset(poll)
			continue
		}
		wait := timeout - now.Sub(activeAt)
		if wait <= 0 {
			return nil
		}
		// Nothing can shorten the wait, only lengthen it, so there is no
		// need to look before it ends.
		timer.Reset(wait)
	}
}
