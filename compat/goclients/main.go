// Command goclients drives siesta with the pure-Go Kafka clients (franz-go,
// IBM/sarama at several protocol versions, segmentio/kafka-go) and prints
// one line per client and feature:
//
//	RESULT <client> <feature> pass|fail|n/a <detail>
//
// scripts/compat runs it next to the other languages' drivers, with
// -broker a siesta open to anyone, -sasl-broker one started with
// SIESTA_SASL_USERS=compat:compat-secret and -tls-broker one started with
// that and TLS, requiring client certificates (SASL_SSL), whose
// certificates internal/tlstest wrote into -tls-dir, and turns the lines
// into docs/compatibility.md.
//
// With -recompress-topics PREFIX it only creates the topics of the
// recompress feature for a client that cannot create topics with configs
// (kcat): PREFIX-recompress-<codec>, whose compression.type is that codec,
// created through franz-go.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

func main() {
	addr := flag.String("broker", "127.0.0.1:9092", "siesta's address")
	saslAddr := flag.String("sasl-broker", "", "the address of a siesta started with SIESTA_SASL_USERS=compat:compat-secret, for the SASL features")
	tlsAddr := flag.String("tls-broker", "", "the address of a siesta started with SIESTA_SASL_USERS=compat:compat-secret and TLS requiring client certificates, for the TLS feature")
	tlsDir := flag.String("tls-dir", "", "the directory of that siesta's CA and a client certificate (written by internal/tlstest/gencerts)")
	only := flag.String("clients", "", "comma-separated client names to run (default all)")
	recompressPrefix := flag.String("recompress-topics", "", "only create the recompress feature's topics PREFIX-recompress-<codec> (compression.type=<codec>) and exit")
	flag.Parse()
	log.SetOutput(io.Discard) // sarama and kafka-go log through the standard logger
	sarama.Logger = log.New(io.Discard, "", 0)

	if *recompressPrefix != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := createRecompressTopics(ctx, franz{addr: *addr}, *recompressPrefix)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "goclients:", err)
			os.Exit(1)
		}
		return
	}

	clients := []client{
		franz{addr: *addr},
		saramaClient{addr: *addr, version: sarama.V2_1_0_0},
		saramaClient{addr: *addr, version: sarama.V2_8_0_0},
		saramaClient{addr: *addr, version: sarama.V3_6_0_0},
		kafkaGo{addr: *addr},
	}
	for _, newClient := range extraClients {
		clients = append(clients, newClient(*addr))
	}
	versions := moduleVersions()
	var wg sync.WaitGroup
	for _, c := range clients {
		if *only != "" && !strings.Contains(","+*only+",", ","+c.name()+",") {
			continue
		}
		mod := map[string]string{"franz-go": "github.com/twmb/franz-go", "kafka-go": "github.com/segmentio/kafka-go"}[c.name()]
		if strings.HasPrefix(c.name(), "sarama") {
			mod = "github.com/IBM/sarama"
		}
		version := mod + " " + versions[mod]
		if v, ok := c.(interface{ version() string }); ok {
			version = "github.com/confluentinc/confluent-kafka-go/v2 " + versions["github.com/confluentinc/confluent-kafka-go/v2"] + ", " + v.version()
		}
		fmt.Printf("VERSION %s %s\n", c.name(), version)
		wg.Go(func() { runSuite(context.Background(), c, *saslAddr, *tlsAddr, *tlsDir) })
	}
	wg.Wait()
}

// extraClients are the clients that need cgo, registered by their files
// when cgo is on.
var extraClients []func(addr string) client

// moduleVersions maps module paths to the versions built in.
func moduleVersions() map[string]string {
	out := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			out[d.Path] = d.Version
		}
	}
	return out
}
