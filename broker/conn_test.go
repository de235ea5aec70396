package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRequest frames req by hand, as a client would, with header v1 or v2.
func rawRequest(req kmsg.Request, correlationID int32) []byte {
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(correlationID))
	buf = binary.BigEndian.AppendUint16(buf, 4)
	buf = append(buf, "test"...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// dialBroker connects to addr with a 5 s deadline; the connection is
// closed when the test ends.
func dialBroker(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return nc
}

// roundTrip sends frame and reads one response body (after the size and
// correlation id), or returns the read error.
func roundTrip(t *testing.T, addr string, frame []byte) ([]byte, error) {
	t.Helper()
	nc := dialBroker(t, addr)
	if _, err := nc.Write(frame); err != nil {
		return nil, err
	}
	return readFrameBody(nc)
}

// readSized reads one size-prefixed frame from nc and returns what
// follows the size.
func readSized(nc net.Conn) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return nil, err
	}
	return body, nil
}

// readFrameBody reads one response from nc and returns it after the size
// and correlation id.
func readFrameBody(nc net.Conn) ([]byte, error) {
	body, err := readSized(nc)
	if err != nil {
		return nil, err
	}
	if len(body) < 4 {
		return nil, fmt.Errorf("response of %d bytes has no correlation id", len(body))
	}
	return body[4:], nil
}

// call sends req on nc and decodes its answer into resp (of req's
// version); it fails the test if either fails.
func call(t *testing.T, nc net.Conn, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	if _, err := nc.Write(rawRequest(req, 1)); err != nil {
		t.Fatal(err)
	}
	body, err := readFrameBody(nc)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s: %v", kmsg.NameForKey(req.Key()), err)
	}
}

func TestBrokenFramesCloseOnlyTheirConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	tests := []struct {
		name  string
		frame []byte
	}{
		{"oversized", []byte{0x7f, 0xff, 0xff, 0xff}},
		{"over the configured max", binary.BigEndian.AppendUint32(nil, 2<<20)},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xff}},
		{"too small for a header", []byte{0, 0, 0, 2, 0, 18}},
		{"unknown api key", []byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"version beyond kmsg", []byte{0, 0, 0, 10, 0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff}},
		{"garbled body", []byte{0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := roundTrip(t, b.addr, tt.frame); err == nil {
				t.Fatal("broker answered a broken frame instead of closing the connection")
			}
		})
	}
	// The broker still serves everyone else.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	body, err := roundTrip(t, b.addr, rawRequest(req, 7))
	if err != nil {
		t.Fatalf("broker stopped serving after broken frames: %v", err)
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(supportedAPIs) {
		t.Fatalf("api versions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestUnsupportedVersionsGetAnErrorResponse(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)

	t.Run("ApiVersions newer than the broker", func(t *testing.T) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(supportedAPIs[apiVersionsKey].max + 1)
		body, err := roundTrip(t, b.addr, rawRequest(req, 1))
		if err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrApiVersionsResponse() // v0, per KIP-511
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("error %d with %d keys, want UNSUPPORTED_VERSION with the key list", resp.ErrorCode, len(resp.ApiKeys))
		}
	})
	// Requests older than the oldest versions siesta serves (the magic 0/1
	// era) carry no top-level error code: every partition must say
	// UNSUPPORTED_VERSION, never an empty answer that reads as success.
	t.Run("Produce v2", func(t *testing.T) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(2)
		req.Acks, req.TimeoutMillis = 1, 1000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "old", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: legacyMessageSet(1)}}}}
		resp := oldRequest(t, b.addr, req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("response %+v, want UNSUPPORTED_VERSION for old/0", resp.Topics)
		}
	})
	t.Run("Fetch v3", func(t *testing.T) {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(3)
		req.ReplicaID, req.MaxBytes = -1, 1<<20
		req.Topics = []kmsg.FetchRequestTopic{{Topic: "old", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20}}}}
		resp := oldRequest(t, b.addr, req).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("response %+v, want UNSUPPORTED_VERSION for old/0", resp.Topics)
		}
	})
	t.Run("ListOffsets v0", func(t *testing.T) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(0)
		req.ReplicaID = -1
		req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "old", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, MaxNumOffsets: 1}}}}
		resp := oldRequest(t, b.addr, req).(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("response %+v, want UNSUPPORTED_VERSION for old/0", resp.Topics)
		}
	})
	t.Run("an API siesta does not serve", func(t *testing.T) {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.SetVersion(1)
		body, err := roundTrip(t, b.addr, rawRequest(req, 3))
		if err != nil {
			t.Fatal(err)
		}
		resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("error %d, want UNSUPPORTED_VERSION", resp.ErrorCode)
		}
	})
}

// oldRequest sends req, which siesta does not serve at its version, and
// decodes the answer, which must come instead of a dropped connection.
func oldRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	body, err := roundTrip(t, addr, rawRequest(req, 9))
	if err != nil {
		t.Fatalf("%s v%d: connection dropped: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d: decode response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// legacyMessageSet is one valid pre-0.11 message (magic 0 or 1) holding
// "old", as Kafka clients before 0.11 sent it.
func legacyMessageSet(magic byte) []byte {
	msg := []byte{magic, 0} // magic, attributes
	if magic == 1 {
		msg = binary.BigEndian.AppendUint64(msg, uint64(time.Now().UnixMilli()))
	}
	msg = binary.BigEndian.AppendUint32(msg, 0xffffffff) // null key
	msg = binary.BigEndian.AppendUint32(msg, 3)
	msg = append(msg, "old"...)
	set := binary.BigEndian.AppendUint64(nil, 0) // offset
	set = binary.BigEndian.AppendUint32(set, uint32(4+len(msg)))
	set = binary.BigEndian.AppendUint32(set, crc32.ChecksumIEEE(msg))
	return append(set, msg...)
}

// TestOldMessageFormatsAreRefused sends magic 0 and 1 message sets in
// Produce versions siesta serves: each partition gets
// UNSUPPORTED_FOR_MESSAGE_FORMAT and nothing is stored.
func TestOldMessageFormatsAreRefused(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, magic := range []byte{0, 1} {
		for _, version := range []int16{supportedAPIs[0].min, supportedAPIs[0].max} {
			t.Run(fmt.Sprintf("magic %d in Produce v%d", magic, version), func(t *testing.T) {
				topic := fmt.Sprintf("magic-%d-v%d", magic, version)
				req := kmsg.NewPtrProduceRequest()
				req.SetVersion(version)
				req.Acks, req.TimeoutMillis = -1, 5000
				req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: legacyMessageSet(magic)}}}}
				body, err := roundTrip(t, b.addr, rawRequest(req, 10))
				if err != nil {
					t.Fatalf("connection dropped: %v", err)
				}
				resp := req.ResponseKind().(*kmsg.ProduceResponse)
				if resp.IsFlexible() {
					body = body[1:] // the response header's tagged fields
				}
				if err := resp.ReadFrom(body); err != nil {
					t.Fatal(err)
				}
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("response %+v, want one partition", resp.Topics)
				}
				if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnsupportedForMessageFormat.Code {
					t.Fatalf("error %d (%v), want UNSUPPORTED_FOR_MESSAGE_FORMAT", p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
				}
				tp, err := b.engine.Topic(context.Background(), topic)
				if err != nil {
					t.Fatal(err)
				}
				if o, err := b.engine.Offsets(context.Background(), tp, 0); err != nil || o.HighWatermark != 0 {
					t.Fatalf("high watermark %d, %v after a refused batch; want 0", o.HighWatermark, err)
				}
			})
		}
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil, func(c *Config) { c.ConnectionMaxIdle = 100 * time.Millisecond })
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The broker closes the connection: the read ends with EOF, not with
	// our own deadline.
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from an idle connection: %v, want EOF", err)
	}
}
