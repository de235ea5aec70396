"""Drives siesta with confluent-kafka-python (librdkafka), Debian's
python3-confluent-kafka. Usage: compat_confluent.py HOST:PORT [SASL_HOST:PORT [TLS_HOST:PORT TLS_DIR]]
(the second for the SASL features, the others for the TLS one: see
suite.py)"""

import sys

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import suite


class Confluent:
    name = "confluent-kafka-python"
    idempotent_note = ""
    codecs = suite.CODECS
    idempotent = True

    def __init__(self, addr, security=None, refusals=(KafkaError._AUTHENTICATION,)):
        self.addr, self.security, self.refusals = addr, security, refusals

    def with_sasl(self, addr, mechanism, user, password):
        return Confluent(addr, {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": mechanism,
                                "sasl.username": user, "sasl.password": password})

    def with_tls(self, addr, files, mechanism, user, password):
        c = {"security.protocol": "SASL_SSL", "ssl.ca.location": files.ca, "ssl.endpoint.identification.algorithm": "https",
             "sasl.mechanisms": mechanism, "sasl.username": user, "sasl.password": password}
        if files.cert:
            c.update({"ssl.certificate.location": files.cert, "ssl.key.location": files.key})
        # A broker refusing the handshake is an SSL error; one refusing a
        # client without a certificate, after a TLS 1.3 handshake, a
        # transport error on the first read.
        return Confluent(addr, c, (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._TRANSPORT))

    def raise_refusal(self, err):
        """An error_cb: librdkafka retries a refused authentication until
        a request times out, so the refusal, an error event, is raised
        from the poll or flush that serves it."""
        if err.code() in self.refusals:
            raise KafkaException(err)

    def conf(self, **kv):
        c = {"bootstrap.servers": self.addr, "client.id": "compat-" + self.name, "log_level": 0}
        if self.security:
            c.update(self.security, error_cb=self.raise_refusal)
        c.update({k.replace("_", "."): v for k, v in kv.items()})
        return c

    def create_topic(self, topic, partitions, configs=None):
        # The admin client must outlive the future: destroying it fails
        # the request.
        admin = AdminClient(self.conf())
        admin.create_topics([NewTopic(topic, partitions, 1, config=configs or {})], operation_timeout=10)[topic].result(10)

    def delete_topic(self, topic):
        admin = AdminClient(self.conf())
        admin.delete_topics([topic], operation_timeout=10)[topic].result(10)

    def partitions(self, topic):
        # All topics: asking for one by name may auto-create it.
        md = AdminClient(self.conf()).list_topics(timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise LookupError(f"topic {topic} not in metadata")
        return len(t.partitions)

    def produce(self, topic, codec, idempotent, recs):
        p = Producer(self.conf(compression_type=codec, enable_idempotence=idempotent, linger_ms=5, acks="all"))
        errors = []

        def delivered(err, _msg):
            if err is not None:
                errors.append(err)

        for r in recs:
            kw = {"timestamp": r.ts} if r.ts else {}
            p.produce(topic, r.value.encode(), r.key.encode(), partition=0, headers=[(k, v.encode()) for k, v in r.headers],
                      on_delivery=delivered, **kw)
        left = p.flush(20)
        if left or errors:
            raise RuntimeError(f"{left} undelivered, errors {errors}")

    @staticmethod
    def record(m):
        ts_type, ts = m.timestamp()
        return suite.Record(m.key().decode(), m.value().decode(), [(k, v.decode()) for k, v in (m.headers() or [])], ts)

    def read(self, cons, n, commit):
        got, deadline = [], suite.time.time() + 30
        while len(got) < n and suite.time.time() < deadline:
            m = cons.poll(0.1)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            if commit:
                cons.commit(message=m, asynchronous=False)
            got.append(self.record(m))
        return got

    def consume(self, topic, n):
        cons = Consumer(self.conf(group_id="unused", enable_auto_commit=False))
        try:
            cons.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
            return self.read(cons, n, False)
        finally:
            cons.close()

    def list_offsets(self, topic, ts):
        cons = Consumer(self.conf(group_id="unused"))
        try:
            low, high = cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            at = cons.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)[0]
            if at.error:
                raise KafkaException(at.error)
            return low, high, at.offset
        finally:
            cons.close()

    def group_conf(self, group):
        return self.conf(group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                         session_timeout_ms=6000, heartbeat_interval_ms=500)

    def join(self, group, topic):
        cons = Consumer(self.group_conf(group))
        return suite.Member(cons, topic, lambda: cons.poll(0.1))

    def consume_group(self, group, topic, n):
        cons = Consumer(self.group_conf(group))
        try:
            cons.subscribe([topic])
            return self.read(cons, n, True)
        finally:
            cons.close()



if __name__ == "__main__":
    print(f"VERSION confluent-kafka-python confluent-kafka-python {confluent_kafka.version()[0]}, librdkafka {confluent_kafka.libversion()[0]} (Debian python3-confluent-kafka)", flush=True)
    suite.run_suite(Confluent(sys.argv[1]), *sys.argv[2:5])
