package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The units in infra/systemd, run for real as far as a machine without
// systemd as PID 1 allows: systemd-analyze checks them, and
// systemd-socket-activate starts the binary the way siesta.socket does,
// with the service's environment.

// systemdTool returns the path of a tool from Debian's systemd package. It
// skips the test when the tool is missing, unless SIESTA_REQUIRE_SYSTEMD is
// set (scripts/test installs the package and sets it).
func systemdTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SIESTA_REQUIRE_SYSTEMD") != "" {
			t.Fatalf("%s not found and SIESTA_REQUIRE_SYSTEMD is set: apt-get install systemd", name)
		}
		t.Skipf("%s not found (Debian package systemd); scripts/test installs it", name)
	}
	return path
}

// unitFile is a systemd unit's settings, by section and key, in order.
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := make(unitFile)
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = make(map[string][]string)
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot read %q", path, line)
			}
			u[section][key] = append(u[section][key], value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is a setting's effective value: the last assignment wins.
func (u unitFile) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestSystemdUnits checks infra/systemd with systemd-analyze: verify (the
// syntax, every key known, the ExecStart binary present) and the offline
// security review, and that the settings scale to zero depends on are set.
func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	analyze := systemdTool(t, "systemd-analyze")
	socket := readUnit(t, "infra/systemd/siesta.socket")
	service := readUnit(t, "infra/systemd/siesta.service")
	if got := socket.last("Socket", "Accept"); got != "no" {
		t.Errorf("siesta.socket: Accept=%q, want no: siesta takes the listening socket", got)
	}
	if got := socket.last("Socket", "ListenStream"); got != "9092" {
		t.Errorf("siesta.socket: ListenStream=%q, want 9092", got)
	}
	if got := service.last("Service", "Restart"); got != "" && got != "no" {
		t.Errorf("siesta.service: Restart=%s; an idle exit is clean and the socket starts the next broker", got)
	}
	if got, err := time.ParseDuration(service.last("Service", "TimeoutStopSec") + "s"); err != nil || got <= drainTimeout {
		t.Errorf("siesta.service: TimeoutStopSec=%q, want more than the %v drain", service.last("Service", "TimeoutStopSec"), drainTimeout)
	}

	// verify needs the ExecStart binary to exist: point it at this build.
	dir := t.TempDir()
	bin := siestaBinary(t)
	for _, unit := range []string{"siesta.socket", "siesta.service"} {
		src, err := os.ReadFile(filepath.Join("infra/systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		src = []byte(strings.ReplaceAll(string(src), "ExecStart=/usr/local/bin/siesta", "ExecStart="+bin))
		if err := os.WriteFile(filepath.Join(dir, unit), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(analyze, args...)
		cmd.Dir = dir
		// Unknown keys are logged but do not fail verify.
		if out, err := cmd.CombinedOutput(); err != nil || (args[0] == "verify" && len(out) > 0) {
			t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("verify", "./siesta.socket", "./siesta.service")
	// Exposure 2.0 of 10 or less ("OK"); the units score 1.2.
	run("security", "--offline=yes", "--threshold=20", "./siesta.service")
}

// TestSystemdSocketActivation starts siesta the way siesta.socket and
// siesta.service do, with systemd-socket-activate standing in for systemd:
// nothing runs until a client connects, the first connection starts siesta
// on the socket with the service's environment and a SQLite file, siesta
// exits 0 once idle, and the next activation reads the records back.
func TestSystemdSocketActivation(t *testing.T) {
	t.Parallel()
	activate := systemdTool(t, "systemd-socket-activate")
	bin := siestaBinary(t)
	service := readUnit(t, "infra/systemd/siesta.service")
	const idle = 2 * time.Second
	db := filepath.Join(t.TempDir(), "siesta.db")

	// The service's environment, with the state directory and the idle
	// timeout swapped for the test's. systemd-socket-activate passes on
	// only what -E names, as systemd passes only what the unit sets.
	env := map[string]string{}
	for _, line := range service["Service"]["Environment"] {
		for _, kv := range strings.Fields(line) {
			name, value, ok := strings.Cut(kv, "=")
			if !ok || strings.ContainsAny(kv, `"'`) {
				t.Fatalf("siesta.service: cannot read Environment=%s", line)
			}
			env[name] = value
		}
	}
	if !strings.HasPrefix(env["SIESTA_STORAGE"], "sqlite:///var/lib/siesta/") || env["SIESTA_IDLE_TIMEOUT"] == "" {
		t.Fatalf("siesta.service sets SIESTA_STORAGE=%q SIESTA_IDLE_TIMEOUT=%q, want a SQLite file in its state directory and an idle timeout",
			env["SIESTA_STORAGE"], env["SIESTA_IDLE_TIMEOUT"])
	}
	env["SIESTA_STORAGE"] = "sqlite://" + db
	env["SIESTA_IDLE_TIMEOUT"] = idle.String()
	var setenv []string
	for name, value := range env {
		setenv = append(setenv, "-E", name+"="+value)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 100
	first := startActivation(t, activate, setenv, bin)
	if comm := first.comm(); comm == "siesta" {
		t.Fatal("siesta runs before any client connected")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(first.addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("activated"),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			cl.Close()
			t.Fatalf("produce through the activated socket: %v\n%s", err, first.log())
		}
	}
	if comm := first.comm(); comm != "siesta" {
		t.Errorf("after a connection the launcher is %q, want siesta (exec'd on the socket)", comm)
	}
	cl.Close()
	closed := time.Now()
	if err := first.wait(idle + 15*time.Second); err != nil {
		t.Fatalf("after the client left: %v, want exit status 0 once idle\n%s", err, first.log())
	}
	if d := time.Since(closed); d < idle {
		t.Errorf("exited %v after the client left, before the %v idle timeout", d, idle)
	}
	for _, want := range []string{"socket_activated=true", "storage=sqlite://" + db, `msg="idle, stopping"`, "msg=stopped"} {
		if !strings.Contains(first.log(), want) {
			t.Errorf("log lacks %q:\n%s", want, first.log())
		}
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() == 0 {
		t.Fatalf("SQLite file after the broker exited: %v", err)
	}

	// A second activation, a new siesta on the same file.
	second := startActivation(t, activate, setenv, bin)
	cl, err = kgo.NewClient(kgo.SeedBrokers(second.addr), kgo.ConsumeTopics("activated"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			if want := fmt.Sprintf("r%d", r.Offset); string(r.Value) != want {
				t.Fatalf("offset %d holds %q, want %q", r.Offset, r.Value, want)
			}
			got++
		}
	}
	if got != n {
		t.Fatalf("read back %d of %d records: %v\n%s", got, n, ctx.Err(), second.log())
	}
}

// activation is a systemd-socket-activate process holding a loopback port,
// which becomes siesta on the first connection.
type activation struct {
	addr   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

// startActivation runs systemd-socket-activate on a free loopback port
// and waits until it listens. The process is killed at the end of the test
// if it has not exited.
func startActivation(t *testing.T, activate string, setenv []string, bin string) *activation {
	t.Helper()
	a := &activation{addr: freePort(t), stderr: &syncBuffer{}, exited: make(chan error, 1)}
	args := append([]string{"--listen=" + a.addr}, setenv...)
	a.cmd = exec.Command(activate, append(args, bin)...)
	a.cmd.Env = []string{"SYSTEMD_LOG_LEVEL=info"}
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.exited <- a.cmd.Wait() }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill() // no-op once it has exited
		select {
		case <-a.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("pid %d still running after SIGKILL", a.cmd.Process.Pid)
		}
	})
	// Dialling to wait would start siesta: wait for the log line instead.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.log(), "Listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate does not listen on %s:\n%s", a.addr, a.log())
		}
		select {
		case err := <-a.exited:
			a.exited <- err
			t.Fatalf("systemd-socket-activate exited (%v):\n%s", err, a.log())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return a
}

func (a *activation) log() string { return a.stderr.String() }

// comm is the process's name: systemd-socket-activate (truncated by the
// kernel) until a connection makes it exec siesta.
func (a *activation) comm() string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", a.cmd.Process.Pid))
	return strings.TrimSpace(string(b))
}

// wait returns the process's exit error, or an error if it still runs
// after d.
func (a *activation) wait(d time.Duration) error {
	select {
	case err := <-a.exited:
		a.exited <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running %v later", d)
	}
}
