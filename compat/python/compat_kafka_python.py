"""Drives siesta with kafka-python, Debian's python3-kafka (with
python3-snappy, python3-lz4 and python3-zstandard for the codecs).
Usage: compat_kafka_python.py HOST:PORT [SASL_HOST:PORT [TLS_HOST:PORT TLS_DIR]]
(the second for the SASL features, the others for the TLS one: see
suite.py)"""

import logging
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import NoBrokersAvailable

import suite


class LastError(logging.Handler):
    """Keeps kafka-python's last logged error: a broker that refuses the
    authentication closes the connection, and kafka-python then raises
    only NoBrokersAvailable."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.message = None

    def emit(self, record):
        self.message = record.getMessage()


CONN_ERRORS = LastError()


class KafkaPython:
    name = "kafka-python"
    codecs = suite.CODECS
    idempotent = False
    idempotent_note = f"kafka-python {kafka.__version__} has no idempotent producer (added in 2.1)"

    def __init__(self, addr, security=None):
        self.addr, self.security = addr, security or {}

    def with_sasl(self, addr, mechanism, user, password):
        return KafkaPython(addr, dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                                      sasl_plain_username=user, sasl_plain_password=password))

    def with_tls(self, addr, files, mechanism, user, password):
        return KafkaPython(addr, dict(security_protocol="SASL_SSL", ssl_cafile=files.ca, ssl_check_hostname=True,
                                      ssl_certfile=files.cert, ssl_keyfile=files.key, sasl_mechanism=mechanism,
                                      sasl_plain_username=user, sasl_plain_password=password))

    def kw(self, **kv):
        return dict(bootstrap_servers=self.addr, client_id="compat-" + self.name, **self.security, **kv)

    def admin(self):
        return KafkaAdminClient(**self.kw())

    def create_topic(self, topic, partitions, configs=None):
        admin = self.admin()
        try:
            resp = admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})], timeout_ms=10000)
            for t, code, *_ in resp.topic_errors:
                if code != 0:
                    raise RuntimeError(f"create {t}: error code {code}")
        finally:
            admin.close()

    def delete_topic(self, topic):
        admin = self.admin()
        try:
            resp = admin.delete_topics([topic], timeout_ms=10000)
            for t, code in resp.topic_error_codes:
                if code != 0:
                    raise RuntimeError(f"delete {t}: error code {code}")
        finally:
            admin.close()

    def partitions(self, topic):
        admin = self.admin()
        try:
            if topic not in admin.list_topics():
                raise LookupError(f"topic {topic} not in metadata")
            (t,) = admin.describe_topics([topic])
            if t["error_code"] != 0:
                raise LookupError(f"topic {topic}: error code {t['error_code']}")
            return len(t["partitions"])
        finally:
            admin.close()

    def produce(self, topic, codec, idempotent, recs):
        try:
            p = KafkaProducer(**self.kw(compression_type=None if codec == "none" else codec, acks="all", linger_ms=5))
        except NoBrokersAvailable:
            raise NoBrokersAvailable(CONN_ERRORS.message)
        try:
            futures = [p.send(topic, r.value.encode(), r.key.encode(), headers=[(k, v.encode()) for k, v in r.headers],
                              partition=0, timestamp_ms=r.ts) for r in recs]
            p.flush(20)
            for f in futures:
                f.get(timeout=20)
        finally:
            p.close()

    @staticmethod
    def record(m):
        return suite.Record(m.key.decode(), m.value.decode(), [(k, v.decode()) for k, v in m.headers], m.timestamp)

    def read(self, cons, n, commit):
        got, deadline = [], time.time() + 30
        while len(got) < n and time.time() < deadline:
            for tp, msgs in cons.poll(timeout_ms=100, max_records=n - len(got)).items():
                for m in msgs:
                    if commit:
                        cons.commit({tp: OffsetAndMetadata(m.offset + 1, None)})
                    got.append(self.record(m))
        return got

    def consume(self, topic, n):
        cons = KafkaConsumer(**self.kw(enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100))
        try:
            tp = TopicPartition(topic, 0)
            cons.assign([tp])
            cons.seek_to_beginning(tp)
            return self.read(cons, n, False)
        finally:
            cons.close()

    def list_offsets(self, topic, ts):
        cons = KafkaConsumer(**self.kw())
        try:
            tp = TopicPartition(topic, 0)
            at = cons.offsets_for_times({tp: ts})[tp]
            return cons.beginning_offsets([tp])[tp], cons.end_offsets([tp])[tp], at.offset if at else None
        finally:
            cons.close()

    def group_kw(self, group):
        return self.kw(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                       session_timeout_ms=6000, heartbeat_interval_ms=500)

    def join(self, group, topic):
        cons = KafkaConsumer(**self.group_kw(group))
        return suite.Member(cons, topic, lambda: cons.poll(timeout_ms=100))

    def consume_group(self, group, topic, n):
        cons = KafkaConsumer(**self.group_kw(group))
        try:
            cons.subscribe([topic])
            return self.read(cons, n, True)
        finally:
            cons.close()



if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    conn_log = logging.getLogger("kafka.conn")
    conn_log.setLevel(logging.ERROR)
    conn_log.propagate = False
    conn_log.addHandler(CONN_ERRORS)
    print(f"VERSION kafka-python kafka-python {kafka.__version__} (Debian python3-kafka)", flush=True)
    suite.run_suite(KafkaPython(sys.argv[1]), *sys.argv[2:5])
