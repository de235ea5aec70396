package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siestamq/siesta/broker/sasl"
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
	// The same engine behind a broker that requires SASL: every frame is
	// also tried on a connection that has not authenticated.
	secured, err := New(Config{Engine: engine, Advertise: "127.0.0.1:9092", Users: sasl.NewUsers(map[string]string{"u": "p"})})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = secured.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, srv := range []*Server{srv, secured} {
			serveFrame(srv, frame)
		}
	})
}

// serveFrame hands frame to a fresh connection of srv and writes the
// answer, if any; it must neither panic nor hang.
func serveFrame(srv *Server, frame []byte) {
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
}
