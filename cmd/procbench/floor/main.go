// Command floor is the smallest Go program procbench's cold start can
// measure: it listens on SIESTA_LISTEN and answers every request with an
// ApiVersions response, as siesta does first. Its time from exec to that
// answer is the floor of any Go broker on the machine (exec, runtime start,
// listen, one round trip), against which siesta's own start is read.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	ln, err := net.Listen("tcp", os.Getenv("SIESTA_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go answer(c)
	}
}

// answer reads request frames (size, api key, version, correlation id,
// ...) and answers each with ApiVersions at the request's version.
func answer(c net.Conn) {
	defer c.Close()
	var size [4]byte
	for {
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(size[:])
		if n < 8 || n > 1<<20 {
			return
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		resp := kmsg.NewApiVersionsResponse()
		resp.Version = int16(binary.BigEndian.Uint16(req[2:4]))
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MaxVersion: 3}}
		// ApiVersions answers always use the v0 response header: the
		// correlation id alone.
		out := binary.BigEndian.AppendUint32(make([]byte, 4, 64), binary.BigEndian.Uint32(req[4:8]))
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
