package broker

import (
	"encoding/binary"
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

// roundTrip sends frame and reads one response body (after the size and
// correlation id), or returns the read error.
func roundTrip(t *testing.T, addr string, frame []byte) ([]byte, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return nil, err
	}
	return body[4:], nil
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
	t.Run("Produce v2 (magic 0/1 era)", func(t *testing.T) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(2)
		req.Acks = 1
		if _, err := roundTrip(t, b.addr, rawRequest(req, 2)); err != nil {
			t.Fatalf("connection dropped: %v", err)
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
