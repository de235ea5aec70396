package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// End-to-end tests driving the kcat binary, that is librdkafka: a C client
// that negotiates every version through ApiVersions, as the Java client
// does. They need kcat on PATH (Debian package kcat) and skip without it
// unless SIESTA_REQUIRE_KCAT is set.

// kcatPath finds kcat or skips the test.
func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("SIESTA_REQUIRE_KCAT") != "" {
			t.Fatalf("kcat is not on PATH and SIESTA_REQUIRE_KCAT is set: %v", err)
		}
		t.Skip("kcat is not on PATH (install the kcat package, or set SIESTA_REQUIRE_KCAT=1 to make this a failure)")
	}
	return path
}

// kcat runs kcat against b with stdin as its input and returns its
// standard output. kcat must exit successfully within timeout, and
// librdkafka must log no error.
func kcat(t *testing.T, b *testBroker, timeout time.Duration, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append([]string{"-b", b.addr, "-X", "client.id=siesta-kcat-test"}, args...)
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	if err != nil || strings.Contains(stderr.String(), "ERROR") || strings.Contains(stderr.String(), "%3|") {
		t.Fatalf("kcat %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String()
}

// kcatRoundTrip produces two lines to topic with kcat and reads them back
// from the start, with args (security settings) on both.
func kcatRoundTrip(t *testing.T, b *testBroker, topic string, args ...string) {
	t.Helper()
	kcat(t, b, 20*time.Second, "one\ntwo\n", append(args, "-t", topic, "-P")...)
	got := kcatLines(kcat(t, b, 20*time.Second, "", append(args, "-t", topic, "-C", "-o", "beginning", "-e", "-q")...))
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("consumed %q, want one,two", got)
	}
}

// kcatLines splits kcat output into lines.
func kcatLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestKcatProduceConsume(t *testing.T) {
	t.Parallel()
	kcatPath(t)
	b := startBroker(t, nil)
	cases := []struct {
		name string
		args []string // extra producer arguments
	}{
		{"none", nil},
		{"gzip", []string{"-z", "gzip"}},
		{"snappy", []string{"-z", "snappy"}},
		{"lz4", []string{"-z", "lz4"}},
		{"zstd", []string{"-z", "zstd"}},
		{"idempotent", []string{"-z", "lz4", "-X", "enable.idempotence=true"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := "kcat-" + c.name
			const n = 100
			var in strings.Builder
			want := make([]string, n)
			for i := range n {
				want[i] = fmt.Sprintf("key-%d:%s", i, strings.Repeat(fmt.Sprintf("value-%d ", i), 5))
				in.WriteString(want[i] + "\n")
			}
			args := append([]string{"-t", topic, "-P", "-K:", "-H", "codec=" + c.name, "-H", "from=kcat"}, c.args...)
			kcat(t, b, 10*time.Second, in.String(), args...)

			got := kcatLines(kcat(t, b, 10*time.Second, "", "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%k:%s\n"))
			if !slices.Equal(got, want) {
				t.Fatalf("consumed %d lines, want %d:\n%q\nwant\n%q", len(got), len(want), got, want)
			}

			type envelope struct {
				Topic     string   `json:"topic"`
				Partition int32    `json:"partition"`
				Offset    int64    `json:"offset"`
				TSType    string   `json:"tstype"`
				TS        int64    `json:"ts"`
				Headers   []string `json:"headers"`
				Key       string   `json:"key"`
				Payload   string   `json:"payload"`
			}
			before := time.Now().Add(-time.Minute).UnixMilli()
			for i, line := range kcatLines(kcat(t, b, 10*time.Second, "", "-t", topic, "-C", "-e", "-o", "beginning", "-J")) {
				var e envelope
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("line %d: %v: %s", i, err, line)
				}
				key, value, _ := strings.Cut(want[i], ":")
				if e.Topic != topic || e.Partition != 0 || e.Offset != int64(i) || e.Key != key || e.Payload != value {
					t.Fatalf("line %d: %+v, want offset %d key %q payload %q", i, e, i, key, value)
				}
				if e.TSType != "create" || e.TS < before || e.TS > time.Now().UnixMilli() {
					t.Errorf("line %d: timestamp %s %d, want the produce time", i, e.TSType, e.TS)
				}
				if wantHeaders := []string{"codec", c.name, "from", "kcat"}; !slices.Equal(e.Headers, wantHeaders) {
					t.Errorf("line %d: headers %q, want %q", i, e.Headers, wantHeaders)
				}
			}
		})
	}
}

// kcatTopic is a topic in kcat -L -J output.
type kcatTopic struct {
	Topic      string `json:"topic"`
	Error      string `json:"error"`
	Partitions []struct {
		Partition int32 `json:"partition"`
		Leader    int32 `json:"leader"`
	} `json:"partitions"`
}

func TestKcatMetadata(t *testing.T) {
	t.Parallel()
	kcatPath(t)
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = 3 })
	kcat(t, b, 10*time.Second, "x\n", "-t", "kcat-metadata", "-P")

	var md struct {
		OriginatingBroker struct {
			ID int32 `json:"id"`
		} `json:"originating_broker"`
		ControllerID int32 `json:"controllerid"`
		Brokers      []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []kcatTopic `json:"topics"`
	}
	out := kcat(t, b, 10*time.Second, "", "-L", "-J")
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v: %s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != b.addr || md.ControllerID != md.Brokers[0].ID {
		t.Fatalf("brokers %+v, controller %d; want one broker at %s", md.Brokers, md.ControllerID, b.addr)
	}
	i := slices.IndexFunc(md.Topics, func(tp kcatTopic) bool {
		return tp.Topic == "kcat-metadata"
	})
	if i < 0 {
		t.Fatalf("kcat -L lists no kcat-metadata topic: %s", out)
	}
	if tp := md.Topics[i]; tp.Error != "" || len(tp.Partitions) != 3 || tp.Partitions[2].Leader != md.Brokers[0].ID {
		t.Fatalf("topic %+v, want 3 partitions led by broker %d", tp, md.Brokers[0].ID)
	}

	// The plain-text listing of one topic.
	out = kcat(t, b, 10*time.Second, "", "-L", "-t", "kcat-metadata")
	if !strings.Contains(out, `topic "kcat-metadata" with 3 partitions`) {
		t.Fatalf("kcat -L -t: %s", out)
	}
}

// TestKcatConsumerGroup runs librdkafka's group consumer twice in one group:
// the first run reads everything and commits on close, the second reads
// only what was produced after.
func TestKcatConsumerGroup(t *testing.T) {
	t.Parallel()
	kcatPath(t)
	b := startBroker(t, nil, func(c *Config) { c.DefaultPartitions = 3 })
	const topic, group = "kcat-group", "kcat-group"
	produce := func(phase string, n int) []string {
		t.Helper()
		values := make([]string, n)
		for i := range values {
			values[i] = fmt.Sprintf("%s-%d", phase, i)
		}
		kcat(t, b, 10*time.Second, strings.Join(values, "\n")+"\n", "-t", topic, "-P", "-X", "partitioner=random")
		slices.Sort(values)
		return values
	}
	consume := func() []string {
		t.Helper()
		out := kcat(t, b, 15*time.Second, "", "-G", group, "-e", "-q", "-f", "%s\n",
			"-X", "auto.offset.reset=earliest",
			"-X", "session.timeout.ms=6000",
			"-X", "heartbeat.interval.ms=500",
			"-X", "auto.commit.interval.ms=100",
			topic)
		got := kcatLines(out)
		if out == "" {
			got = nil
		}
		slices.Sort(got)
		return got
	}

	first := produce("first", 30)
	if got := consume(); !slices.Equal(got, first) {
		t.Fatalf("first run consumed %q, want %q", got, first)
	}
	second := produce("second", 5)
	if got := consume(); !slices.Equal(got, second) {
		t.Fatalf("second run consumed %q, want only the new messages %q", got, second)
	}
}
