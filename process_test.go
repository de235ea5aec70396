package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/siestamq/siesta/internal/miniotest"
)

// sharedBinary builds siesta once for every process test in this binary,
// exactly as it ships (Dockerfile.scratch, scripts/bench and scripts/compat
// build it the same way, so they share one build cache entry).
var sharedBinary struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the shared binary when the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinary.path != "" {
		os.RemoveAll(filepath.Dir(sharedBinary.path))
	}
	os.Exit(code)
}

func siestaBinary(t *testing.T) string {
	t.Helper()
	sharedBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "siesta-bin-")
		if err != nil {
			sharedBinary.err = err
			return
		}
		sharedBinary.path = dir + "/siesta"
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", sharedBinary.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			sharedBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if sharedBinary.err != nil {
		t.Fatal(sharedBinary.err)
	}
	return sharedBinary.path
}

// brokerStorage is a siesta storage URL and the environment a siesta
// process needs to reach it.
type brokerStorage struct {
	URL string
	Env []string
}

func newS3Storage(t *testing.T) brokerStorage {
	t.Helper()
	srv := miniotest.Start(t)
	bucket := srv.NewBucket(t)
	return brokerStorage{
		URL: fmt.Sprintf("s3://%s/siesta?endpoint=%s&region=%s&path_style=true", bucket, srv.Endpoint, srv.Region),
		Env: []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey},
	}
}

// brokerProcess is a siesta process on a fixed loopback port, so that it
// can be killed and started again at the same address.
type brokerProcess struct {
	t    *testing.T
	bin  string
	addr string
	args []string
	env  []string

	mu   sync.Mutex
	proc *runningProcess // nil while stopped
}

// runningProcess is a started command whose exit and stderr a test watches.
type runningProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{} // closed when the process is gone
	err    error         // cmd.Wait's result, once exited is closed
}

// startProcess starts cmd with its stderr captured. When the test ends the
// process is killed if it still runs, and if the test failed its stderr is
// logged, with its goroutines' stacks (SIGQUIT) if it still ran.
func startProcess(t *testing.T, cmd *exec.Cmd) *runningProcess {
	t.Helper()
	p := &runningProcess{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			// A Go program prints every goroutine's stack on SIGQUIT:
			// what a stuck broker was waiting for.
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
			}
		}
		p.kill()
		if t.Failed() {
			t.Logf("%s's log:\n%s", cmd.Path, p.stderr)
		}
	})
	return p
}

// wait waits for the process to exit and returns how it ended.
func (p *runningProcess) wait() error {
	<-p.exited
	return p.err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *runningProcess) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startBrokerProcess runs siesta on storage with extra flags, and kills it
// at the end of the test.
func startBrokerProcess(t *testing.T, storage brokerStorage, extraArgs ...string) *brokerProcess {
	t.Helper()
	p := &brokerProcess{
		t:    t,
		bin:  siestaBinary(t),
		addr: freePort(t),
		env:  append(os.Environ(), storage.Env...),
	}
	p.args = append([]string{"--listen", p.addr, "--storage", storage.URL, "--log-level", "warn"}, extraArgs...)
	p.start()
	t.Cleanup(p.kill)
	return p
}

// start launches the process and waits until it accepts connections.
func (p *brokerProcess) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	proc := startProcess(p.t, cmd)
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	waitForPort(p.t, p.addr)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *brokerProcess) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.kill()
		p.proc = nil
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *brokerProcess) stop() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	_ = p.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.proc.exited:
		if p.proc.err != nil {
			p.t.Errorf("broker on %s: %v after SIGTERM:\n%s", p.addr, p.proc.err, p.proc.stderr)
		}
	case <-time.After(15 * time.Second):
		p.t.Errorf("broker on %s did not stop after SIGTERM", p.addr)
		p.proc.kill()
	}
	p.proc = nil
}

// logs returns what the current process has written to stderr.
func (p *brokerProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return ""
	}
	return p.proc.stderr.String()
}
