package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection. Requests are read and handled in the
// order they arrive, and answered in that order. A Produce request's
// batches are queued on their partitions before the next request is read,
// so a producer's pipelined batches are appended in order; the wait for
// their writes happens in the writer, so up to maxPipelined produce
// requests of one connection are written together (group commit) instead
// of one storage write after the other.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger
	// remoteHost is the client's address without the port, as Kafka
	// reports it in DescribeGroups.
	remoteHost string
	br         *bufio.Reader
	bw         *bufio.Writer
	// auth is the SASL state when the server requires authentication,
	// nil otherwise.
	auth *saslState

	mu        sync.Mutex
	pending   int // requests read and not yet answered
	closeIdle bool
}

// maxPipelined bounds the requests of one connection read ahead of their
// answers (Kafka clients keep at most 5 produce requests in flight).
const maxPipelined = 8

// reply is a request's answer in the making: ready now, or (Produce) once
// its appends are written. A nil answer sends nothing (acks=0).
type reply struct {
	hdr   requestHeader
	resp  kmsg.Response
	later func() kmsg.Response
	// last closes the connection once this answer is written.
	last bool
	// rawToken, when not nil, is sent instead of resp: a bare SASL token
	// answering one of a v0 handshake's exchange (see readRawToken).
	rawToken []byte
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:          s,
		nc:         nc,
		log:        s.log.With("remote", nc.RemoteAddr().String()),
		remoteHost: remoteHost(nc.RemoteAddr()),
		br:         bufio.NewReaderSize(nc, 64<<10),
		bw:         bufio.NewWriterSize(nc, 64<<10),
	}
	if s.cfg.Users != nil {
		c.auth = &saslState{}
	}
	return c
}

func remoteHost(addr net.Addr) string {
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return "/" + host // Kafka's format, from Java's InetAddress
	}
	return addr.String()
}

// closeWhenIdle closes the connection now if no request is outstanding,
// or after the last outstanding answer otherwise.
func (c *conn) closeWhenIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeIdle = true
	if c.pending == 0 {
		c.close()
	}
}

// closeNotifyWait bounds how long a TLS connection's close waits to send
// the close_notify alert to a client that is not reading.
const closeNotifyWait = time.Second

// close closes the connection without waiting. A TLS connection first
// sends the close_notify alert, as Kafka's brokers do (clients on
// OpenSSL 3 report an "unexpected eof" without it), in the background
// and for at most closeNotifyWait: crypto/tls would wait up to 5 s for a
// client that has stopped reading, and a draining broker closes many.
func (c *conn) close() {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		c.nc.Close()
		return
	}
	go func() {
		stop := time.AfterFunc(closeNotifyWait, func() { tc.NetConn().Close() })
		tc.Close()
		stop.Stop()
	}()
}

// abort closes the connection's socket at once, without a TLS alert: for
// a connection whose writes failed, and for a drain out of time.
func (c *conn) abort() {
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.nc.Close()
}

// closing reports whether the broker is closing the connection (a drain).
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeIdle
}

// begin counts a request that was read; it reports false if the
// connection is closing and the request must not be served.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeIdle {
		return false
	}
	c.pending++
	return true
}

// end counts an answered request, closing the connection if it was asked
// to close once idle.
func (c *conn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending--
	if c.closeIdle && c.pending == 0 {
		c.close()
	}
}

func (c *conn) serve(ctx context.Context) {
	defer c.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(ctx, tc); err != nil {
			// A client that closes before saying anything (a port
			// scan, a TCP health check) failed nothing.
			if !c.closing() && !errors.Is(err, io.EOF) {
				c.log.Info("closing connection: TLS handshake failed", "err", err)
				c.s.tlsFailures.Add(1)
			}
			return
		}
	}
	replies := make(chan reply, maxPipelined)
	written := make(chan struct{})
	go func() {
		defer close(written)
		c.writeReplies(replies)
	}()
	defer func() {
		close(replies)
		<-written
	}()
	for {
		read, handle := c.readFrame, c.handleFrame
		if c.auth != nil && c.auth.rawTokens {
			read, handle = c.readRawToken, c.handleRawToken
		}
		frame, err := read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("closing connection", "err", err)
			}
			return
		}
		if !c.begin() {
			return
		}
		c.s.inflight.Add(1)
		c.s.requests.Add(1)
		r, err := handle(ctx, frame)
		if err != nil {
			c.log.Info("closing connection", "err", err)
			c.s.inflight.Add(-1)
			c.end()
			return
		}
		replies <- r
		if r.last {
			return // the writer sends r, then the deferred Close runs
		}
	}
}

// handshake completes a TLS connection's handshake within the server's
// TLSHandshakeTimeout, so that a client that connects and sends nothing
// (or speaks plaintext and waits) is closed instead of held.
func (c *conn) handshake(ctx context.Context, tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, c.s.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if peers := tc.ConnectionState().PeerCertificates; len(peers) > 0 {
		c.log = c.log.With("tls_client", peers[0].Subject.String())
		c.log.Debug("TLS client certificate verified")
	}
	return nil
}

// writeReplies writes answers in request order, waiting for each deferred
// one, and flushes whenever no further answer is ready. After a write
// fails it closes the connection and only drains.
func (c *conn) writeReplies(replies <-chan reply) {
	var failed error
	for r := range replies {
		resp := r.resp
		if r.later != nil {
			resp = r.later()
		}
		switch {
		case failed != nil:
		case r.rawToken != nil:
			failed = c.writeRawToken(r.rawToken)
		case resp != nil:
			failed = c.writeResponse(r.hdr, resp)
		}
		if failed == nil && len(replies) == 0 {
			failed = c.bw.Flush()
		}
		if failed != nil {
			c.abort()
		}
		c.s.inflight.Add(-1)
		c.s.touch()
		c.end()
	}
	if failed != nil && !errors.Is(failed, net.ErrClosed) {
		c.log.Info("closing connection", "err", failed)
	}
}

// readFrame reads one size-prefixed request. A size outside
// [minimum header, MaxRequestBytes] (maxUnauthenticatedFrame before a
// connection that must authenticate has) closes the connection before
// anything of that size is allocated.
func (c *conn) readFrame() ([]byte, error) {
	limit := c.s.cfg.MaxRequestBytes
	if c.mustAuthenticate() {
		limit = min(limit, maxUnauthenticatedFrame)
	}
	return c.readSized(10, limit, "request")
}

// readSized reads a 4-byte big-endian size and then that many bytes,
// refusing a size outside [least, most] before allocating anything.
func (c *conn) readSized(least, most int32, what string) ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnectionMaxIdle)); err != nil {
		return nil, err
	}
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.br, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < least || size > most {
		return nil, fmt.Errorf("%s size %d outside [%d, %d]", what, size, least, most)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return nil, fmt.Errorf("read %s body: %w", what, err)
	}
	return buf, nil
}

// requestHeader is the Kafka request header, v1 or v2.
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
}

// handleFrame decodes one request and answers it, or starts answering it
// (Produce). An error means the connection must close: the frame is broken,
// or the client asked for something it could not have negotiated.
func (c *conn) handleFrame(ctx context.Context, frame []byte) (reply, error) {
	r := kbin.Reader{Src: frame}
	hdr := requestHeader{key: r.Int16(), version: r.Int16(), correlationID: r.Int32()}
	if id := r.NullableString(); id != nil {
		hdr.clientID = *id
	}
	if !r.Ok() {
		return reply{}, errors.New("truncated request header")
	}
	req := kmsg.RequestForKey(hdr.key)
	if req == nil {
		return reply{}, fmt.Errorf("unknown api key %d", hdr.key)
	}
	if c.mustAuthenticate() && hdr.key != apiVersionsKey && hdr.key != saslHandshakeKey && hdr.key != saslAuthenticateKey {
		// As Kafka: the body of an unauthenticated client is not read.
		return reply{}, fmt.Errorf("%s request before SASL authentication", kmsg.NameForKey(hdr.key))
	}
	if hdr.key == apiVersionsKey && hdr.version > supportedAPIs[apiVersionsKey].max {
		// KIP-511: answer an ApiVersions newer than we serve with a v0
		// error response listing what we support; the request's body
		// may be in a format we cannot parse, so it is not read.
		return reply{hdr: hdr, resp: c.s.unsupportedApiVersions()}, nil
	}
	if hdr.version < 0 || hdr.version > req.MaxVersion() {
		return reply{}, fmt.Errorf("api key %d version %d is beyond the protocol this broker knows", hdr.key, hdr.version)
	}
	req.SetVersion(hdr.version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return reply{}, errors.New("truncated request header tags")
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return reply{}, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(hdr.key), hdr.version, err)
	}

	start := time.Now()
	rep := reply{hdr: hdr}
	if produce, ok := req.(*kmsg.ProduceRequest); ok && c.s.supports(hdr) {
		rep.later = c.s.startProduce(ctx, produce)
	} else {
		rep.resp = c.s.handle(ctx, c, hdr, req)
		rep.last = c.closesConnection(rep.resp)
	}
	// Checked first: building the attributes costs allocations on every
	// request even when debug logs are off.
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.Debug("request", "api", kmsg.NameForKey(hdr.key), "version", hdr.version, "client", hdr.clientID, "took", time.Since(start))
	}
	return rep, nil
}

// writeResponse frames a response with its header. ApiVersions responses
// always use header v0 so that a client can parse them before it knows
// which versions the broker speaks.
func (c *conn) writeResponse(hdr requestHeader, resp kmsg.Response) error {
	need := responseCap(resp)
	bp, _ := c.s.responseBuffers.Get().(*[]byte)
	if bp == nil || cap(*bp) < need {
		b := make([]byte, 0, need)
		bp = &b
	}
	// c.bw.Write copies or sends buf before returning, so buf goes back to
	// the pool however the write ends.
	defer c.s.responseBuffers.Put(bp)
	buf := append((*bp)[:0], 0, 0, 0, 0, 0, 0, 0, 0) // size, correlation id
	binary.BigEndian.PutUint32(buf[4:], uint32(hdr.correlationID))
	if resp.IsFlexible() && hdr.key != apiVersionsKey {
		buf = append(buf, 0) // empty tagged fields
	}
	buf = resp.AppendTo(buf)
	*bp = buf[:0]
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if err := c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	_, err := c.bw.Write(buf)
	return err
}

// writeRawToken sends a bare SASL token, size-prefixed.
func (c *conn) writeRawToken(token []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	if _, err := c.bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(token)))); err != nil {
		return err
	}
	_, err := c.bw.Write(token)
	return err
}

// responseCap estimates a response's encoded size, so that a fetch response
// carrying megabytes of records is encoded into one allocation instead of
// being copied over and over while its buffer doubles.
func responseCap(resp kmsg.Response) int {
	n := 256
	if f, ok := resp.(*kmsg.FetchResponse); ok {
		for i := range f.Topics {
			t := &f.Topics[i]
			n += 64 + len(t.Topic)
			for j := range t.Partitions {
				// Partition fields, aborted transactions and tags are
				// a few dozen bytes besides the records.
				n += 128 + len(t.Partitions[j].RecordBatches)
			}
		}
	}
	return n
}
