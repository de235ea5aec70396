package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/objectstore"
	"github.com/siestamq/siesta/objectstore/memory"
)

// FuzzRequestFrame feeds arbitrary frames (without their size prefix)
// through header parsing, kmsg decoding and the handlers. It must never
// panic or hang: every handler runs under a short deadline, as if the
// broker were shutting down. Seeds: an empty request of every supported API
// at its lowest and highest version; new crashers land in testdata/fuzz.
func FuzzRequestFrame(f *testing.F) {
	for key, v := range supportedAPIs {
		for _, version := range []int16{v.min, v.max} {
			req := kmsg.RequestForKey(key)
			req.SetVersion(version)
			f.Add(rawRequest(req, 1)[4:])
		}
	}
	engine := objectstore.New(memory.New(), objectstore.Options{})
	srv, err := New(Config{Engine: engine, AutoCreateTopics: true, Advertise: "127.0.0.1:9092"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		c := newConn(srv, server)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		rep, err := c.handleFrame(ctx, frame)
		if err != nil {
			return
		}
		resp := rep.resp
		if rep.later != nil {
			resp = rep.later()
		}
		if resp != nil && c.writeResponse(rep.hdr, resp) == nil {
			_ = c.bw.Flush()
		}
	})
}
