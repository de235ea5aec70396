package wake

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeActivity is an Activity whose state the test sets, counting looks.
type fakeActivity struct {
	mu       sync.Mutex
	conns    int
	inflight int64
	last     time.Time
	looks    int
}

func (f *fakeActivity) Activity() (int, int64, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.looks++
	return f.conns, f.inflight, f.last
}

// set changes the state as a broker does: any change is activity.
func (f *fakeActivity) set(conns int, inflight int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns, f.inflight, f.last = conns, inflight, time.Now()
}

func (f *fakeActivity) lookCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.looks
}

// waitIdleAsync runs WaitIdle and returns a channel that receives its
// error and how long after the start it returned.
func waitIdleAsync(ctx context.Context, a Activity, timeout, poll time.Duration) <-chan idleResult {
	start := time.Now()
	ch := make(chan idleResult, 1)
	go func() {
		err := WaitIdle(ctx, a, timeout, poll)
		ch <- idleResult{err, time.Since(start)}
	}()
	return ch
}

type idleResult struct {
	err   error
	after time.Duration
}

// The tests run in a synctest bubble: time is virtual, so each duration
// below is exact and the tests take no real time.
func TestWaitIdle(t *testing.T) {
	t.Parallel()
	const timeout = 10 * time.Second

	tests := []struct {
		name string
		// lastActive is the fake's last activity when WaitIdle starts,
		// relative to the start; 0 means an hour before.
		lastActive time.Duration
		// script drives the fake after WaitIdle starts, sleeping as it goes.
		script    func(f *fakeActivity)
		wantAfter time.Duration
	}{
		{
			// f.last, an hour before the call, does not count.
			name:      "idle from the start",
			script:    func(*fakeActivity) {},
			wantAfter: timeout,
		},
		{
			name: "a connection holds it awake",
			script: func(f *fakeActivity) {
				time.Sleep(2 * time.Second)
				f.set(1, 0)
				time.Sleep(time.Minute)
				f.set(0, 0)
			},
			wantAfter: 2*time.Second + time.Minute + timeout,
		},
		{
			name: "an in-flight request holds it awake",
			script: func(f *fakeActivity) {
				time.Sleep(time.Second)
				f.set(0, 1)
				time.Sleep(30 * time.Second)
				f.set(0, 0)
			},
			wantAfter: time.Second + 30*time.Second + timeout,
		},
		{
			name: "a connection between two looks counts",
			script: func(f *fakeActivity) {
				time.Sleep(7 * time.Second)
				f.set(1, 0)
				time.Sleep(time.Millisecond)
				f.set(0, 0)
			},
			wantAfter: 7*time.Second + time.Millisecond + timeout,
		},
		{
			// The last activity was stamped before the wall clock
			// stepped back an hour, so it reads as in the future. It is
			// set before the call: a script running at the start races
			// WaitIdle's first look.
			name:       "a clock step back does not stretch the timeout",
			lastActive: time.Hour,
			script:     func(*fakeActivity) {},
			wantAfter:  timeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				lastActive := tt.lastActive
				if lastActive == 0 {
					lastActive = -time.Hour
				}
				f := &fakeActivity{last: time.Now().Add(lastActive)}
				res := waitIdleAsync(t.Context(), f, timeout, 0)
				tt.script(f)
				got := <-res
				if got.err != nil {
					t.Fatalf("WaitIdle: %v", got.err)
				}
				if got.after != tt.wantAfter {
					t.Errorf("returned after %v, want %v", got.after, tt.wantAfter)
				}
			})
		})
	}
}

func TestWaitIdleContext(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, time.Minute} {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			got := <-waitIdleAsync(ctx, &fakeActivity{}, timeout, 0)
			if !errors.Is(got.err, context.DeadlineExceeded) || got.after != 5*time.Second {
				t.Errorf("timeout %v: got %v after %v, want the context's error after 5s", timeout, got.err, got.after)
			}
		})
	}
}

// WaitIdle must cost nothing while the broker sleeps: it looks once per
// poll while busy and only when the timeout would end while idle.
func TestWaitIdleLooksRarely(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &fakeActivity{}
		res := waitIdleAsync(t.Context(), f, time.Hour, 0)
		<-res
		if n := f.lookCount(); n > 2 {
			t.Errorf("an idle hour took %d looks, want at most 2", n)
		}

		f = &fakeActivity{conns: 1}
		res = waitIdleAsync(t.Context(), f, 10*time.Second, 0) // polls every second
		time.Sleep(100 * time.Second)
		f.set(0, 0)
		<-res
		if n := f.lookCount(); n < 100 || n > 103 {
			t.Errorf("a busy 100s at a 1s poll took %d looks, want about 100", n)
		}
	})
}

func TestWaitIdlePollDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		timeout, wantPoll time.Duration
	}{
		{50 * time.Millisecond, 10 * time.Millisecond},
		{3 * time.Second, 300 * time.Millisecond},
		{time.Hour, time.Second},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeActivity{conns: 1}
			ctx, cancel := context.WithTimeout(t.Context(), 100*tt.wantPoll)
			defer cancel()
			<-waitIdleAsync(ctx, f, tt.timeout, 0)
			// One look at the start, then one per poll.
			if n := f.lookCount(); n < 100 || n > 101 {
				t.Errorf("timeout %v: %d looks in 100 polls of %v", tt.timeout, n, tt.wantPoll)
			}
		})
	}
}
