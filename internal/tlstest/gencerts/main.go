// Command gencerts writes the throwaway certificates of package tlstest
// into a directory, for scripts that start siesta with TLS outside Go's
// tests (scripts/compat's TLS row):
//
//	go run ./internal/tlstest/gencerts DIR
//
// writes ca.pem, server.pem, server-key.pem, client.pem and client-key.pem
// into DIR, which must exist. The server certificate is for localhost,
// 127.0.0.1 and ::1; every certificate is valid for a day.
package main

import (
	"fmt"
	"os"

	"github.com/siestamq/siesta/internal/tlstest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencerts DIR")
		os.Exit(2)
	}
	if _, err := tlstest.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}
