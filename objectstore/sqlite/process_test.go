package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// The test binary runs as a helper process, another siesta on the same
// file, when helperEnv names a role (see runHelper).
const (
	helperEnv = "SIESTA_SQLITE_HELPER"
	pathEnv   = "SIESTA_SQLITE_PATH"
	syncEnv   = "SIESTA_SQLITE_SYNC"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		if err := runHelper(role, os.Getenv(pathEnv), Synchronous(os.Getenv(syncEnv))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// payload is the content written at key: its size and bytes follow from the
// key, so a reader can check an object knowing only its key.
func payload(key string) []byte {
	size := 100 + int(crc32.ChecksumIEEE([]byte(key))%16000)
	return bytes.Repeat([]byte(key+"|"), size/(len(key)+1)+1)[:size]
}

// helperLimit stops a helper that nobody kills.
const helperLimit = time.Minute

// runHelper is the helper process. It reports each write on stdout, one
// line each, only after the write returned:
//
//	put KEY ETAG   PutIfAbsent created KEY (role "writer": four writers)
//	cas N          PutIfMatch moved "counter" to N (both roles)
//	won N          PutIfAbsent created race/N (role "contend")
//
// "writer" writes until it is killed; "contend" creates race/0..49 and
// increments the counter 50 times, racing another helper, then exits.
func runHelper(role, path string, mode Synchronous) error {
	ctx, cancel := context.WithTimeout(context.Background(), helperLimit)
	defer cancel()
	b, err := Open(ctx, path, Options{Synchronous: mode})
	if err != nil {
		return err
	}
	defer b.Close()
	var mu sync.Mutex
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // one write(2) per line
	}
	if _, err := b.PutIfAbsent(ctx, "counter", []byte("0")); err != nil && !errors.Is(err, objectstore.ErrPreconditionFailed) {
		return err
	}

	switch role {
	case "writer":
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					key := fmt.Sprintf("w%d/%08d", w, i)
					etag, err := b.PutIfAbsent(ctx, key, payload(key))
					if err != nil {
						errs <- err
						return
					}
					report("put %s %s", key, etag)
				}
			})
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				n, err := increment(ctx, b, "counter")
				if err != nil {
					errs <- err
					return
				}
				report("cas %d", n)
			}
		})
		wg.Wait()
		close(errs)
		return <-errs
	case "contend":
		for i := range 50 {
			_, err := b.PutIfAbsent(ctx, fmt.Sprintf("race/%d", i), []byte(strconv.Itoa(os.Getpid())))
			switch {
			case err == nil:
				report("won %d", i)
			case !errors.Is(err, objectstore.ErrPreconditionFailed):
				return err
			}
			n, err := increment(ctx, b, "counter")
			if err != nil {
				return err
			}
			report("cas %d", n)
		}
		return nil
	}
	return fmt.Errorf("unknown helper role %q", role)
}

// helper is a running helper process.
type helper struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	stderr bytes.Buffer
}

func startHelper(t *testing.T, role, path string, mode Synchronous) *helper {
	t.Helper()
	h := &helper{cmd: exec.CommandContext(t.Context(), os.Args[0])}
	h.cmd.Env = append(os.Environ(), helperEnv+"="+role, pathEnv+"="+path, syncEnv+"="+string(mode))
	h.cmd.Stderr = &h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.lines = bufio.NewScanner(stdout)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cmd.Process.Kill(); h.cmd.Wait() })
	return h
}

// TestKilledWriter SIGKILLs a process in the middle of its writes: every
// write it reported done, after the call returned, must be in the file.
func TestKilledWriter(t *testing.T) {
	t.Parallel()
	for _, mode := range []Synchronous{SyncFull, SyncNormal} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "siesta.db")
			h := startHelper(t, "writer", path, mode)

			puts := make(map[string]string) // key -> etag
			lastCAS := 0
			read := func(line string) {
				f := strings.Fields(line)
				switch {
				case len(f) == 3 && f[0] == "put":
					puts[f[1]] = f[2]
				case len(f) == 2 && f[0] == "cas":
					lastCAS, _ = strconv.Atoi(f[1])
				default:
					t.Fatalf("helper said %q", line)
				}
			}
			for len(puts) < 400 && h.lines.Scan() {
				read(h.lines.Text())
			}
			if err := h.cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			for h.lines.Scan() { // what it reported before it died
				read(h.lines.Text())
			}
			err := h.cmd.Wait()
			if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.Success() {
				t.Fatalf("helper ended with %v, want killed; stderr:\n%s", err, h.stderr.String())
			}
			if len(puts) < 400 {
				t.Fatalf("helper reported %d writes before it ended; stderr:\n%s", len(puts), h.stderr.String())
			}
			t.Logf("%d creates and %d increments reported before SIGKILL", len(puts), lastCAS)

			b := openPath(t, path, Options{Synchronous: mode})
			for key, etag := range puts {
				obj, err := b.Get(t.Context(), key)
				if err != nil {
					t.Errorf("reported %s, then: %v", key, err)
					continue
				}
				if !bytes.Equal(obj.Data, payload(key)) || obj.ETag != etag {
					t.Errorf("%s: %d bytes, etag %s; want %d bytes, etag %s", key, len(obj.Data), obj.ETag, len(payload(key)), etag)
				}
			}
			obj, err := b.Get(t.Context(), "counter")
			if err != nil {
				t.Fatal(err)
			}
			// One increment may have committed without being reported.
			if n, _ := strconv.Atoi(string(obj.Data)); n != lastCAS && n != lastCAS+1 {
				t.Errorf("counter = %d, last reported %d", n, lastCAS)
			}
			checkIntegrity(t, b)
		})
	}
}

// TestProcessesRace races two processes' conditional writes on one file:
// each create has one winner, and no increment of the counter is lost.
func TestProcessesRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "siesta.db")
	openPath(t, path, Options{}) // created before the race, and open during it
	var (
		helpers = []*helper{startHelper(t, "contend", path, ""), startHelper(t, "contend", path, "")}
		won     = make(map[string]int)
		cas     = make(map[string]int)
	)
	for _, h := range helpers {
		for h.lines.Scan() {
			f := strings.Fields(h.lines.Text())
			switch {
			case len(f) == 2 && f[0] == "won":
				won[f[1]]++
			case len(f) == 2 && f[0] == "cas":
				cas[f[1]]++
			default:
				t.Fatalf("helper said %q", h.lines.Text())
			}
		}
		if err := h.cmd.Wait(); err != nil {
			t.Fatalf("helper: %v; stderr:\n%s", err, h.stderr.String())
		}
	}
	for i := range 50 {
		if n := won[strconv.Itoa(i)]; n != 1 {
			t.Errorf("race/%d created %d times, want once", i, n)
		}
	}
	for i := 1; i <= 100; i++ {
		if n := cas[strconv.Itoa(i)]; n != 1 {
			t.Errorf("counter moved to %d %d times, want once", i, n)
		}
	}
}

// checkIntegrity runs SQLite's own consistency check on b's file.
func checkIntegrity(t *testing.T, b *Bucket) {
	t.Helper()
	if err := b.ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := b.r.QueryContext(t.Context(), "PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Errorf("integrity_check: %q", msgs)
	}
}
