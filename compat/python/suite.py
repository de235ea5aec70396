"""The compatibility suite in Python: the same features, in the same steps,
as compat/goclients/suite.go, run against one client object. Each feature
prints one line:

    RESULT <client> <feature> pass|fail|n/a <detail>

The SASL features run against a second siesta, started by scripts/compat
with SIESTA_SASL_USERS=compat:compat-secret; the TLS feature against a
third, started with that and SIESTA_TLS_CERT, SIESTA_TLS_KEY and
SIESTA_TLS_CLIENT_CA (SASL_SSL, client certificates required), whose
certificates internal/tlstest wrote into a directory.
"""

import os
import threading
import time
import traceback


class NotInClient(Exception):
    """A feature the client library itself lacks: the cell says n/a."""


class Record:
    def __init__(self, key, value, headers=None, ts=None):
        self.key, self.value, self.headers, self.ts = key, value, headers or [], ts

    def __repr__(self):
        return f"Record({self.key!r}, {self.value[:20]!r}, {self.headers!r}, {self.ts!r})"


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# The compression.type values of the recompress feature's topics: the
# broker stores records produced uncompressed to such a topic in its codec,
# so the client reads batches the broker compressed.
RECOMPRESS_CODECS = ["gzip", "snappy", "lz4", "zstd"]
RECOMPRESS_RECORDS = 5
BASE_TS = 1700000000000
# The authenticating siesta's one user, and a password that is not its own.
SASL_USER, SASL_PASSWORD, SASL_WRONG_PASSWORD = "compat", "compat-secret", "not-the-secret"
# The TLS broker's SASL mechanism.
TLS_MECHANISM = "SCRAM-SHA-256"
# A client with a wrong password (or no client certificate) that is still
# retrying after this long has not produced, so it counts as refused.
REFUSAL_TIMEOUT = 10


class TLSFiles:
    """The PEM files of a TLS connection: the CA the server's certificate
    must chain to, and the client's certificate and key (None: none)."""

    def __init__(self, ca, cert=None, key=None):
        self.ca, self.cert, self.key = ca, cert, key


def tls_files(tls_dir, client_cert):
    """The files internal/tlstest wrote into tls_dir, with the client
    certificate if client_cert is set."""
    if not client_cert:
        return TLSFiles(os.path.join(tls_dir, "ca.pem"))
    return TLSFiles(*(os.path.join(tls_dir, f) for f in ("ca.pem", "client.pem", "client-key.pem")))


def values(prefix, n):
    return [Record(f"k{i}", f"{prefix}-{i} " + "siesta " * 10) for i in range(n)]


def same_values(got, want):
    if len(got) != len(want):
        raise AssertionError(f"read {len(got)} records, want {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g.value != w.value:
            raise AssertionError(f"record {i} is {g.value[:20]!r}, want {w.value[:20]!r}")


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def report(client, feature, status, detail):
    print(f"RESULT {client.name} {feature} {status} {' '.join(str(detail).split())}", flush=True)


def run_suite(c, sasl_addr=None, tls_addr=None, tls_dir=None):
    """Runs every feature against c: the SASL ones against the
    authenticating broker at sasl_addr, the TLS one against the TLS broker
    at tls_addr with the certificates in tls_dir."""
    prefix = "compat-" + c.name

    def run(feature, fn):
        start = time.time()
        try:
            detail = fn(f"{prefix}-{feature}")
            report(c, feature, "pass", f"{detail} ({time.time() - start:.1f}s)")
        except NotInClient as e:
            report(c, feature, "n/a", e)
        except Exception as e:  # a cell records any failure, whatever it is
            traceback.print_exc()
            report(c, feature, "fail", f"{type(e).__name__}: {e} ({time.time() - start:.1f}s)")

    def create_topic(topic):
        c.create_topic(topic, 3)
        n = c.partitions(topic)
        if n != 3:
            raise AssertionError(f"metadata after create: {n} partitions, want 3")
        return "3 partitions"

    def produce_and_read(topic, codec, idempotent, n):
        if codec not in c.codecs:
            raise NotInClient(c.codecs_note)
        c.create_topic(topic, 1)
        want = values(codec, n)
        c.produce(topic, codec, idempotent, want)
        same_values(c.consume(topic, n), want)
        return f"{n} records read back in order"

    def recompress(_):
        for codec in RECOMPRESS_CODECS:
            topic = f"{prefix}-recompress-{codec}"
            try:
                c.create_topic(topic, 1, {"compression.type": codec})
                want = values(topic, RECOMPRESS_RECORDS)
                c.produce(topic, "none", False, want)
                same_values(c.consume(topic, len(want)), want)
            except Exception as e:
                raise RuntimeError(f"{codec}: {type(e).__name__}: {e}") from e
        return (f"{RECOMPRESS_RECORDS} records produced uncompressed read back from each of 4 topics with"
                " compression.type gzip, snappy, lz4 and zstd")

    def keys_headers_timestamps(topic):
        want = [Record(f"key-{i}", f"value-{i}", [("h1", str(i)), ("h2", "two")], BASE_TS + i * 1000) for i in range(3)]
        c.create_topic(topic, 1)
        c.produce(topic, "none", False, want)
        got = c.consume(topic, len(want))
        for i, (g, w) in enumerate(zip(got, want)):
            if (g.key, g.value, g.headers, g.ts) != (w.key, w.value, w.headers, w.ts):
                raise AssertionError(f"record {i}: {g!r}, want {w!r}")
        return "key, 2 headers and a set timestamp read back"

    def group_rebalance(topic):
        c.create_topic(topic, 4)
        a = c.join(topic, topic)
        b = None
        try:
            if not wait_for(lambda: len(a.assigned()) == 4):
                raise AssertionError(f"first member alone: assigned {a.assigned()}, want all 4")
            b = c.join(topic, topic)

            def split():
                pa, pb = a.assigned(), b.assigned()
                return pa and pb and sorted(pa + pb) == [0, 1, 2, 3]

            if not wait_for(split):
                raise AssertionError(f"after the second joined: assigned {a.assigned()} and {b.assigned()}")
            return f"rebalanced to {a.assigned()} + {b.assigned()}"
        finally:
            a.close()
            if b:
                b.close()

    def commit_resume(topic):
        first, second = values("first", 10), values("second", 5)
        c.create_topic(topic, 1)
        c.produce(topic, "none", False, first)
        same_values(c.consume_group(topic, topic, len(first)), first)
        c.produce(topic, "none", False, second)
        try:
            same_values(c.consume_group(topic, topic, len(second)), second)
        except AssertionError as e:
            raise AssertionError(f"second member did not resume at the commit: {e}")
        return "resumed at the committed offset 10"

    def list_offsets(topic):
        recs = values("ts", 10)
        for i, r in enumerate(recs):
            r.ts = BASE_TS + i * 1000
        c.create_topic(topic, 1)
        c.produce(topic, "none", False, recs)
        got = c.list_offsets(topic, BASE_TS + 5000)
        if got != (0, 10, 5):
            raise AssertionError(f"earliest, latest, by timestamp {got}; want (0, 10, 5)")
        return "earliest, latest and by timestamp"

    def idempotent(topic):
        if not c.idempotent:
            raise NotInClient(c.idempotent_note)
        return produce_and_read(topic, "none", True, 20)

    def delete_topic(_):
        topic = prefix + "-create_topic"
        c.delete_topic(topic)

        def gone():
            try:
                c.partitions(topic)
                return False
            except Exception:
                return True

        if not wait_for(gone, 10):
            raise AssertionError("topic still in metadata after delete")
        return "gone from metadata"

    def authenticate(topic, mechanism):
        """Produces a record and reads it back with the right password,
        then checks that the same library with a wrong one cannot
        produce."""
        if not sasl_addr:
            raise RuntimeError("no authenticating broker given (second argument)")
        good = c.with_sasl(sasl_addr, mechanism, SASL_USER, SASL_PASSWORD)
        good.create_topic(topic, 1)
        want = values(mechanism, 1)
        good.produce(topic, "none", False, want)
        same_values(good.consume(topic, 1), want)
        bad = c.with_sasl(sasl_addr, mechanism, SASL_USER, SASL_WRONG_PASSWORD)
        start = time.time()
        refused = bounded(lambda: bad.produce(topic, "none", False, values("refused", 1)), REFUSAL_TIMEOUT)
        return f"1 record produced and read back as {SASL_USER}; a wrong password refused in {time.time() - start:.1f}s: {refused}"

    def tls(topic):
        """Produces a record and reads it back over TLS, verifying the
        server against the CA, presenting the client certificate and
        authenticating with SCRAM (SASL_SSL), then checks that the same
        library without the client certificate cannot produce."""
        if not tls_addr or not tls_dir:
            raise RuntimeError("no TLS broker and certificate directory given (third and fourth arguments)")
        good = c.with_tls(tls_addr, tls_files(tls_dir, True), TLS_MECHANISM, SASL_USER, SASL_PASSWORD)
        good.create_topic(topic, 1)
        want = values("tls", 1)
        good.produce(topic, "none", False, want)
        same_values(good.consume(topic, 1), want)
        bad = c.with_tls(tls_addr, tls_files(tls_dir, False), TLS_MECHANISM, SASL_USER, SASL_PASSWORD)
        start = time.time()
        refused = bounded(lambda: bad.produce(topic, "none", False, values("refused", 1)), REFUSAL_TIMEOUT,
                          "a client without a certificate produced")
        return (f"1 record produced and read back over TLS as {SASL_USER}; without a client certificate refused"
                f" in {time.time() - start:.1f}s: {refused}")

    run("create_topic", create_topic)
    for codec in CODECS:
        run("produce_" + codec, lambda t, codec=codec: produce_and_read(t, codec, False, 20))
    run("recompress", recompress)
    run("consume_beginning", lambda t: produce_and_read(t, "none", False, 50))
    run("keys_headers_timestamps", keys_headers_timestamps)
    run("group_rebalance", group_rebalance)
    run("commit_resume", commit_resume)
    run("list_offsets", list_offsets)
    run("idempotent", idempotent)
    run("delete_topic", delete_topic)
    run("sasl_plain", lambda t: authenticate(t, "PLAIN"))
    run("sasl_scram", lambda t: authenticate(t, "SCRAM-SHA-256"))
    run("tls", tls)


def bounded(fn, timeout, produced="a client with a wrong password produced"):
    """Runs fn, which must fail, for at most timeout seconds, and returns
    why it failed (an AssertionError saying produced if it did not). A
    thread cannot be stopped, so one still running then is left to the
    process's exit: it did not succeed, which counts."""
    outcome = []

    def call():
        try:
            fn()
            outcome.append(None)
        except Exception as e:  # any failure is the refusal looked for
            outcome.append(f"{type(e).__name__}: {e}")

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(timeout)
    if not outcome:
        return f"still not produced after {timeout}s"
    if outcome[0] is None:
        raise AssertionError(produced)
    return outcome[0]


class Member:
    """A group member polling on its own thread, tracking its assignment.

    poll() runs one client poll; each client library spells it differently.
    """

    def __init__(self, cons, topic, poll):
        self.cons, self.parts, self.lock = cons, [], threading.Lock()
        self.poll = poll
        self.stop = threading.Event()
        cons.subscribe([topic])
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            self.poll()
            parts = sorted({tp.partition for tp in self.cons.assignment()})
            with self.lock:
                self.parts = parts

    def assigned(self):
        with self.lock:
            return list(self.parts)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.cons.close()
