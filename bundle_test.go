package main

// Tests of what ships beside the binary: fly.toml, Dockerfile.scratch, and
// the contract of the scratch image, checked without Docker.

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/infra"
	"github.com/siestamq/siesta/internal/miniotest"
)

// flyConfig is the part of fly.toml that siesta uses. Decoding reports
// any other key, so a misspelled setting fails the test rather than being
// ignored.
type flyConfig struct {
	App           string                      `toml:"app"`
	PrimaryRegion string                      `toml:"primary_region"`
	KillSignal    string                      `toml:"kill_signal"`
	KillTimeout   string                      `toml:"kill_timeout"`
	Build         struct{ Dockerfile string } `toml:"build"`
	Env           map[string]string           `toml:"env"`
	Services      []struct {
		Protocol           string `toml:"protocol"`
		InternalPort       int    `toml:"internal_port"`
		AutoStopMachines   string `toml:"auto_stop_machines"`
		AutoStartMachines  bool   `toml:"auto_start_machines"`
		MinMachinesRunning *int   `toml:"min_machines_running"`
		Ports              []struct {
			Port     int      `toml:"port"`
			Handlers []string `toml:"handlers"`
		} `toml:"ports"`
		Concurrency struct {
			Type      string `toml:"type"`
			SoftLimit int    `toml:"soft_limit"`
			HardLimit int    `toml:"hard_limit"`
		} `toml:"concurrency"`
	} `toml:"services"`
	VM []struct {
		Memory  string `toml:"memory"`
		CPUKind string `toml:"cpu_kind"`
		CPUs    int    `toml:"cpus"`
	} `toml:"vm"`
}

func TestFlyToml(t *testing.T) {
	t.Parallel()
	var cfg flyConfig
	md, err := toml.DecodeFile("fly.toml", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		t.Errorf("fly.toml has keys this test does not know (misspelled?): %v", keys)
	}
	if cfg.App == "" || cfg.PrimaryRegion == "" {
		t.Errorf("app %q, primary_region %q: want both set", cfg.App, cfg.PrimaryRegion)
	}
	if cfg.Build.Dockerfile != "Dockerfile.scratch" {
		t.Errorf("build.dockerfile = %q, want Dockerfile.scratch", cfg.Build.Dockerfile)
	} else if _, err := os.Stat(cfg.Build.Dockerfile); err != nil {
		t.Error(err)
	}

	// Fly stops Machines with kill_signal, then SIGKILL after
	// kill_timeout: the drain must fit.
	if cfg.KillSignal != "SIGINT" && cfg.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal = %q, want SIGINT or SIGTERM (the signals siesta drains on)", cfg.KillSignal)
	}
	if d, err := time.ParseDuration(cfg.KillTimeout); err != nil || d <= drainTimeout {
		t.Errorf("kill_timeout = %q, want a duration longer than the %v drain", cfg.KillTimeout, drainTimeout)
	}

	if d, err := time.ParseDuration(cfg.Env["SIESTA_IDLE_TIMEOUT"]); err != nil || d <= 0 {
		t.Errorf("env SIESTA_IDLE_TIMEOUT = %q, want a positive duration", cfg.Env["SIESTA_IDLE_TIMEOUT"])
	}
	var environ []string
	for k, v := range cfg.Env {
		if k == "SIESTA_STORAGE" || strings.HasPrefix(k, "AWS_") {
			t.Errorf("env sets %s: storage and credentials belong in fly secrets", k)
		}
		environ = append(environ, k+"="+v)
	}
	if _, err := infra.Load(nil, environ, io.Discard); err != nil {
		t.Errorf("siesta rejects fly.toml's env: %v", err)
	}
	_, listenPort, _ := net.SplitHostPort(cfg.Env["SIESTA_LISTEN"])

	if len(cfg.Services) != 1 {
		t.Fatalf("%d [[services]], want 1", len(cfg.Services))
	}
	svc := cfg.Services[0]
	if svc.Protocol != "tcp" || svc.InternalPort != 9092 || strconv.Itoa(svc.InternalPort) != listenPort {
		t.Errorf("service %s on internal port %d, SIESTA_LISTEN port %s: want tcp, 9092 and 9092", svc.Protocol, svc.InternalPort, listenPort)
	}
	// The advertised address (APP.fly.dev:PORT) uses the listener's port,
	// so the public port must be the same.
	if len(svc.Ports) != 1 || svc.Ports[0].Port != svc.InternalPort {
		t.Errorf("services.ports = %+v, want one port equal to internal_port", svc.Ports)
	} else if len(svc.Ports[0].Handlers) > 0 {
		t.Errorf("services.ports handlers = %v, want none: Kafka is raw TCP", svc.Ports[0].Handlers)
	}
	if svc.AutoStopMachines != "stop" {
		t.Errorf("auto_stop_machines = %q, want \"stop\"", svc.AutoStopMachines)
	}
	if !svc.AutoStartMachines {
		t.Error("auto_start_machines = false: nothing would wake a stopped broker")
	}
	if svc.MinMachinesRunning == nil || *svc.MinMachinesRunning != 0 {
		t.Error("min_machines_running must be set to 0, so that the app can scale to zero")
	}
	if svc.Concurrency.Type != "connections" {
		t.Errorf("concurrency type %q, want connections: Kafka clients hold connections, not requests", svc.Concurrency.Type)
	}

	if len(cfg.VM) != 1 {
		t.Fatalf("%d [[vm]], want 1", len(cfg.VM))
	}
	if vm := cfg.VM[0]; vm.Memory != "256mb" || vm.CPUKind != "shared" || vm.CPUs != 1 {
		t.Errorf("vm = %+v, want 256mb, shared, 1 cpu", vm)
	}
}

func TestDockerfileScratch(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("Dockerfile.scratch")
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, without comments and with continuations joined.
	var instrs []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(data), "\\\n", " ")))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			instrs = append(instrs, line)
		}
	}
	last := -1
	for i, in := range instrs {
		if strings.HasPrefix(strings.ToUpper(in), "FROM ") {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("no FROM")
	}
	final := instrs[last:]
	if final[0] != "FROM scratch" {
		t.Errorf("final stage %q, want FROM scratch", final[0])
	}
	has := func(instrs []string, re string) bool {
		for _, in := range instrs {
			if regexp.MustCompile(re).MatchString(in) {
				return true
			}
		}
		return false
	}
	checks := []struct {
		in   []string
		re   string
		what string
	}{
		{final, `^USER [1-9][0-9]*:[1-9][0-9]*$`, "a numeric non-root USER uid:gid in the final stage"},
		{final, `^EXPOSE 9092$`, "EXPOSE 9092 in the final stage"},
		{final, `^ENTRYPOINT \["/siesta"\]$`, `ENTRYPOINT ["/siesta"] in the final stage`},
		{final, `/etc/ssl/certs/ca-certificates\.crt`, "the CA bundle in the final stage"},
		{instrs, `^RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" `, "a static, stripped go build"},
		{instrs, `^FROM scratch AS prebuilt$`, "a prebuilt stage for copying a binary built elsewhere"},
	}
	for _, c := range checks {
		if !has(c.in, c.re) {
			t.Errorf("Dockerfile.scratch lacks %s (%s)", c.what, c.re)
		}
	}
	if has(final, `^RUN `) {
		t.Error("RUN in the final stage: a scratch image has no shell")
	}
}

// TestScratchRoot checks the scratch image's contract without Docker: the
// binary is static, and it serves Kafka from a root that holds only itself
// and the CA bundle, as an unprivileged user with a bare environment.
func TestScratchRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	bin := filepath.Join(root, "siesta")
	shipped, err := os.ReadFile(siestaBinary(t)) // built as Dockerfile.scratch builds it
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, shipped, 0o755); err != nil {
		t.Fatal(err)
	}
	checkStatic(t, bin)

	certs := filepath.Join(root, "etc", "ssl", "certs", "ca-certificates.crt")
	if err := os.MkdirAll(filepath.Dir(certs), 0o755); err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA bundle on this machine to copy: %v", err)
	}
	if err := os.WriteFile(certs, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	// t.TempDir is 0700; the image's user must be able to reach /siesta.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}

	addr := freePort(t)
	// The image's environment: no HOME, no PATH, only siesta's settings.
	env := []string{"SIESTA_LISTEN=" + addr, "SIESTA_LOG_FORMAT=json"}
	storage := "memory://"
	if miniotest.Enabled() {
		// S3 exercises the AWS SDK's configuration loading with no home
		// directory and no /etc/passwd.
		srv := miniotest.Start(t)
		storage = fmt.Sprintf("s3://%s/siesta?endpoint=%s&region=%s&path_style=true", srv.NewBucket(t), srv.Endpoint, srv.Region)
		env = append(env, "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey)
	}
	env = append(env, "SIESTA_STORAGE="+storage)

	cmd := inRoot(t, root, "/siesta")
	t.Logf("running %v with storage %s", cmd.Args, storage)
	cmd.Env = env
	proc := startProcess(t, cmd)
	waitForPort(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("scratch"),
		kgo.ConsumeTopics("scratch"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 5
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce through the scratch root (%s): %v", storage, err)
		}
	}
	var got []string
	for len(got) < n && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			got = append(got, string(r.Value))
		}
	}
	if want := "0 1 2 3 4"; strings.Join(got, " ") != want {
		t.Fatalf("consumed %q, want %q", got, want)
	}
	cl.Close()

	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := proc.wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(proc.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no 'stopped' log line")
	}
}

// checkStatic fails t unless the ELF file at path needs no dynamic loader
// and no shared library, and was stripped.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter (PT_INTERP): not static", path)
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a dynamic section (PT_DYNAMIC): not static", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries (DT_NEEDED): %v", path, libs)
	}
	for _, name := range []string{".symtab", ".debug_info"} {
		if f.Section(name) != nil {
			t.Errorf("%s has %s: not built with -ldflags=\"-s -w\"", path, name)
		}
	}
}

// inRoot returns a command that runs name with root as its filesystem root,
// as user 65532 like the image: chroot when this process is root, else an
// unprivileged user namespace (where the user stays the namespace's root).
// It skips t when neither is possible.
func inRoot(t *testing.T, root, name string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() == 0 {
		if chroot, err := exec.LookPath("chroot"); err == nil {
			return exec.Command(chroot, "--userspec=65532:65532", root, name)
		}
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("cannot run in an empty root: not root (for chroot) and no unshare(1)")
	}
	probe := exec.Command(unshare, "--user", "--map-root-user", "--root", root, name, "--help")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot run in an empty root: not root (for chroot), and unshare --user failed: %v\n%s", err, out)
	}
	return exec.Command(unshare, "--user", "--map-root-user", "--root", root, name)
}
