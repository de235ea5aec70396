// Package miniotest runs a MinIO server for tests that need S3.
//
// The first Start in a test binary starts one server on 127.0.0.1 and every
// later Start in the same binary shares it: starting MinIO costs about a
// second, a bucket a few milliseconds, so each test takes a fresh bucket
// with NewBucket instead of a server of its own. The server lives as long
// as the test binary: the kernel kills it when the binary exits
// (PR_SET_PDEATHSIG), and the next binary to start one removes the data
// directories that dead binaries left behind.
//
// The binary is $SIESTA_MINIO, or else the one scripts/minio builds into
// ${SIESTA_CACHE:-$HOME/.cache/siesta}/bin, or else minio on $PATH. Without
// it, Start skips the test, unless SIESTA_REQUIRE_MINIO is set (as
// scripts/test sets it), when it fails the test instead.
//
// Programs that are not tests (cmd/siesta-bench) start a server of their
// own with Launch and make buckets with CreateBucket.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running MinIO server. Its credentials are root credentials.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string

	client *s3.Client
	stop   func() // kills MinIO and removes its directory
}

// The one server of this test binary, started by the first Start. The
// result is kept, failure included, so that a server that will not start
// fails each test at once rather than each after its own wait.
var (
	mu       sync.Mutex
	shared   *Server
	startErr error
)

// Enabled reports whether tests should run against MinIO: its binary is
// found, or SIESTA_REQUIRE_MINIO is set (and then Start fails if it is
// not). Tests that also run without S3 use it to decide whether to add an
// S3 case at all, rather than skipping.
func Enabled() bool {
	_, err := binary()
	return err == nil || required()
}

// Start returns the test binary's MinIO server, starting it if this is the
// first call. It skips t, or fails it under SIESTA_REQUIRE_MINIO, when the
// binary is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		if required() {
			t.Fatalf("SIESTA_REQUIRE_MINIO is set but %v", err)
		}
		t.Skipf("%v: run scripts/minio", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && startErr == nil {
		shared, startErr = start(bin)
	}
	if startErr != nil {
		t.Fatalf("start minio: %v", startErr)
	}
	return shared
}

func required() bool { return os.Getenv("SIESTA_REQUIRE_MINIO") != "" }

// Launch starts a MinIO server of the caller's own from bin (or, when bin
// is empty, from where Start would find it) on a free loopback port with a
// new temporary data directory, and waits until it is ready. The caller
// stops it with Close; it also dies with the calling process.
func Launch(bin string) (*Server, error) {
	if bin == "" {
		var err error
		if bin, err = binary(); err != nil {
			return nil, fmt.Errorf("%w: run scripts/minio or pass its path", err)
		}
	}
	return start(bin)
}

// Close stops a server started by Launch and removes its data directory.
// The server Start shares is never closed: it lives as long as the test
// binary.
func (s *Server) Close() {
	if s.stop != nil {
		s.stop()
	}
}

// binary finds the MinIO server binary.
func binary() (string, error) {
	if p := os.Getenv("SIESTA_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("minio not installed: SIESTA_MINIO: %w", err)
		}
		return p, nil
	}
	cache := os.Getenv("SIESTA_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err == nil {
			cache = filepath.Join(home, ".cache", "siesta")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio not installed")
}

const (
	dirPattern  = "siesta-minio-"
	startTries  = 3 // a free port may be taken before MinIO binds it
	readyWithin = 60 * time.Second
)

// start runs MinIO in a new temporary directory.
func start(bin string) (*Server, error) {
	reapStale()
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	s := &Server{Region: "us-east-1", AccessKey: "siesta-test", SecretKey: "siesta-test-secret"}
	for try := 1; ; try++ {
		err = s.run(bin, dir)
		if err == nil || try == startTries {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stopRun := s.stop
	s.stop = func() {
		stopRun()
		os.RemoveAll(dir)
	}
	s.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
	return s, nil
}

// run starts MinIO on free ports and waits until it is ready.
func (s *Server) run(bin, dir string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	consoleAddr, err := freeAddr()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", addr, "--console-address", consoleAddr,
		"--certs-dir", filepath.Join(dir, "certs"),
		filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // accept a data directory on the root disk
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// MinIO dies with the thread that started it. That thread is locked
	// to a goroutine that lives until MinIO exits, so in practice MinIO
	// dies with the test binary, however the binary ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread must outlive MinIO, and a locked
		// goroutine's thread is not reused for other goroutines.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return err
	}

	s.Endpoint = "http://" + addr
	s.stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyWithin)
	for {
		resp, err := probe.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("minio exited: %s", tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("minio not ready after %v: %s", readyWithin, tail(logPath))
		}
	}
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail returns the end of the log at path, for error messages.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	const max = 2000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return strings.TrimSpace(string(data))
}

// reapStale removes the directories of servers whose test binaries are gone.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPattern+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err != nil {
			continue // being set up, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

var unsafeBucketChars = regexp.MustCompile(`[^a-z0-9-]+`)

// NewBucket creates an empty bucket named after the test and returns its
// name. Buckets are not removed: they go with the server's directory.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	// 3 to 63 characters of lower case, digits and hyphens.
	name := strings.Trim(unsafeBucketChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name = strings.TrimRight(name[:min(len(name), 40)], "-")
	name = "t-" + name + "-" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// CreateBucket creates a bucket named name (3 to 63 characters of lower
// case, digits and hyphens), waiting while MinIO is still initializing.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	for {
		_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
		if err == nil {
			return nil
		}
		// MinIO can answer "not initialized yet" for a moment after its
		// readiness check passes.
		if !strings.Contains(err.Error(), "XMinioServerNotInitialized") || ctx.Err() != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create bucket %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
