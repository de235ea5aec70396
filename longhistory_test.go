package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/sqlite"
)

// A broker woken on a partition of more objects than it indexes (it loads
// only the newest 1,000 to 2,000; see docs/design.md) serves the whole log
// from offset 0 to a real client, finds offsets by timestamp in its oldest
// part, and appends at the end.
func TestFreshBrokerReadsALongHistory(t *testing.T) {
	t.Parallel()
	storage := brokerStorage{URL: "sqlite://" + filepath.Join(t.TempDir(), "siesta.db")}
	first := startBrokerProcess(t, storage)
	dumpLogsOnFailure(t, "first broker", first)
	ctx := testTimeout(t)
	const (
		topic   = "history"
		objects = 2600
	)
	createTopic(ctx, t, first.addr, topic, 1)
	// One record per produce request: one object each.
	producer := newProducer(t, first.addr, topic)
	start := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := range objects {
		r := &kgo.Record{Value: fmt.Appendf(nil, "value-%d", i), Timestamp: start.Add(time.Duration(i) * time.Second)}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}
	first.stop()

	// The broker indexed the times of what it wrote (docs/design.md, the
	// time index), the last run when it stopped.
	if entries := timeIndexEntries(ctx, t, storage); len(entries) != objects/64+1 || !strings.HasPrefix(entries[len(entries)-1], fmt.Sprintf("%020d-%020d-", objects/64*64, objects)) {
		t.Errorf("time index after the first broker stopped: %d entries, last %q", len(entries), entries[len(entries)-1])
	}

	metricsAddr := freePort(t)
	fresh := startBrokerProcess(t, storage, "--metrics-listen", metricsAddr)
	dumpLogsOnFailure(t, "fresh broker", fresh)
	waitForPort(t, metricsAddr)
	cl := newClient(t, fresh.addr)

	// Offsets by timestamp first, on the woken broker: a lookup reads at
	// most 64 objects past the index entries it skips, not the history
	// up to the answer (3,600 objects for these four).
	adm := kadm.NewClient(cl)
	lookups := []int{0, 17, 1000, objects - 1}
	for _, i := range lookups {
		listed, err := adm.ListOffsetsAfterMilli(ctx, start.Add(time.Duration(i)*time.Second).UnixMilli(), topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			t.Fatalf("offset for the time of record %d: %v", i, err)
		}
		if got, _ := listed.Lookup(topic, 0); got.Offset != int64(i) {
			t.Errorf("offset for the time of record %d: %d", i, got.Offset)
		}
	}
	if gets := storageRequests(t, metricsAddr, "GET"); gets > len(lookups)*(64+16) {
		t.Errorf("%d lookups by time made %d GETs", len(lookups), gets)
	}

	records := readPartition(ctx, t, cl, topic, 0, objects)
	for i, r := range records {
		if want := fmt.Sprintf("value-%d", i); string(r.Value) != want {
			t.Fatalf("offset %d holds %q, want %q", r.Offset, r.Value, want)
		}
	}

	r := &kgo.Record{Value: []byte("after")}
	if err := newProducer(t, fresh.addr, topic).ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != objects {
		t.Errorf("appended at offset %d, want %d", r.Offset, objects)
	}
}

// timeIndexEntries lists the time index entries of partition 0 of the
// only topic in a SQLite storage: what follows the partition's prefix.
func timeIndexEntries(ctx context.Context, t *testing.T, storage brokerStorage) []string {
	t.Helper()
	bucket, err := sqlite.Open(ctx, strings.TrimPrefix(storage.URL, "sqlite://"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	objs, err := objectstore.ListAll(ctx, bucket, "timeindex/", "")
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, o := range objs {
		entries = append(entries, o.Key[strings.LastIndexByte(o.Key, '/')+1:])
	}
	return entries
}

// storageRequests reads a broker's /metrics count of storage requests of
// one kind.
func storageRequests(t *testing.T, metricsAddr, kind string) int {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("siesta_storage_requests_total{kind=%q} ", kind)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("/metrics: %q", line)
			}
			return n
		}
	}
	t.Fatalf("/metrics lacks %s:\n%s", name, body)
	return 0
}
