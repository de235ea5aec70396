package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/siestamq/siesta/broker/sasl"
)

// runScramCredential is `siesta scram-credential NAME`: it reads a
// password from stdin (its first line) and prints the SIESTA_SASL_USERS
// entry that lets NAME authenticate with it without the password being
// stored: "NAME:scram-sha-256:ITERATIONS:SALT:STORED-KEY:SERVER-KEY". It
// returns the process exit code.
func runScramCredential(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("siesta scram-credential", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mechanism := fs.String("mechanism", sasl.ScramSHA256, "SCRAM-SHA-256 or SCRAM-SHA-512: the mechanism clients use (PLAIN works with either)")
	iterations := fs.Int("iterations", 4096, "PBKDF2 iterations, 4096 to 32768; every credential of one mechanism must have the same (4096 is Kafka's default)")
	usage := func() {
		fmt.Fprintln(stderr, "Usage: siesta scram-credential [--mechanism SCRAM-SHA-256] NAME < password")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return 0
		}
		fmt.Fprintf(stderr, "siesta scram-credential: %v\n", err)
		return 2
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" || strings.ContainsAny(fs.Arg(0), ": \t,") {
		fmt.Fprintln(stderr, "siesta scram-credential: want one user name, without ':', ',' or blanks")
		return 2
	}
	password, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "siesta scram-credential: read the password: %v\n", err)
		return 1
	}
	password = strings.TrimRight(password, "\r\n")
	cred, err := sasl.NewCredential(*mechanism, password, *iterations)
	if err != nil {
		fmt.Fprintf(stderr, "siesta scram-credential: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%s:%s\n", fs.Arg(0), cred)
	return 0
}
