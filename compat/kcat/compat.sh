#!/usr/bin/env bash
# Drives siesta with kcat (librdkafka's command-line client): the features
# of compat/goclients/suite.go that a command-line tool can do, each printed
# as one line
#
#   RESULT kcat <feature> pass|fail|n/a <detail>
#
# Usage: compat.sh HOST:PORT [SASL_HOST:PORT [TLS_HOST:PORT TLS_DIR]], the
# second a siesta started with SIESTA_SASL_USERS=compat:compat-secret for
# the SASL features, the third one started with that and TLS (SASL_SSL,
# client certificates required) for the TLS feature, with the files of
# internal/tlstest in TLS_DIR. kcat has no admin commands, so its topics
# are auto-created by the first produce, except the recompress feature's,
# which need a config: scripts/compat creates those first
# (compat-kcat-recompress-<codec>, compression.type=<codec>).
set -uo pipefail
broker="$1"
sasl_broker="${2:-}"
tls_broker="${3:-}"
tls_dir="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

k() { timeout 30 kcat -b "$broker" -X client.id=compat-kcat "$@"; }
result() { echo "RESULT kcat $1 $2 ${*:3}"; }
# values PREFIX N: N compressible lines "kI:PREFIX-I siesta siesta ...".
values() { for ((i = 0; i < $2; i++)); do echo "k$i:$1-$i siesta siesta siesta siesta siesta siesta siesta siesta siesta siesta"; done; }

# produce_and_read FEATURE TOPIC N [producer args]: produce N records to
# partition 0 and read them back from the beginning.
produce_and_read() {
	local feature=$1 topic=$2 n=$3
	shift 3
	values "$feature" "$n" >"$work/want"
	if ! k -P -t "$topic" -p 0 -K: "$@" <"$work/want" 2>"$work/err"; then
		result "$feature" fail "produce: $(tr '\n' ' ' <"$work/err")"
		return
	fi
	k -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s\n' >"$work/got" 2>"$work/err"
	if cmp -s "$work/want" "$work/got"; then
		result "$feature" pass "$n records read back in order"
	else
		result "$feature" fail "read $(wc -l <"$work/got") records, want $n: $(tr '\n' ' ' <"$work/err")"
	fi
}

echo "VERSION kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/kcat \1, librdkafka \2/p') (Debian kcat)"

result create_topic n/a "kcat has no admin commands (topics are auto-created on produce)"
for codec in none gzip snappy lz4 zstd; do
	produce_and_read "produce_$codec" "compat-kcat-produce_$codec" 20 -z "$codec"
done

# Broker recompression: records produced uncompressed to a topic whose
# compression.type names a codec come back from batches the broker
# compressed. The topics must exist already: a produce would auto-create
# them without the config.
recompress() {
	local feature=recompress codec topic
	k -L >"$work/topics" 2>"$work/err"
	for codec in gzip snappy lz4 zstd; do
		topic=compat-kcat-recompress-$codec
		if ! grep -q "topic \"$topic\"" "$work/topics"; then
			result "$feature" fail "$codec: topic $topic with compression.type=$codec not created (scripts/compat creates it)"
			return
		fi
		values "$topic" 5 >"$work/want"
		if ! k -P -t "$topic" -p 0 -K: -z none <"$work/want" 2>"$work/err"; then
			result "$feature" fail "$codec: produce: $(tr '\n' ' ' <"$work/err")"
			return
		fi
		k -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s\n' >"$work/got" 2>"$work/err"
		if ! cmp -s "$work/want" "$work/got"; then
			result "$feature" fail "$codec: read $(wc -l <"$work/got") records, want 5: $(tr '\n' ' ' <"$work/err")"
			return
		fi
	done
	result "$feature" pass "5 records produced uncompressed read back from each of 4 topics with compression.type gzip, snappy, lz4 and zstd (created by scripts/compat)"
}
recompress
produce_and_read consume_beginning compat-kcat-consume_beginning 50

# Keys and headers as written; kcat cannot set a record's timestamp, so the
# check is that the producer's create time comes back.
feature=keys_headers_timestamps topic=compat-kcat-keys_headers_timestamps
before=$(date +%s%3N)
for i in 0 1 2; do echo "key-$i:value-$i" | k -P -t "$topic" -p 0 -K: -H "h1=$i" -H h2=two 2>/dev/null; done
after=$(date +%s%3N)
got=$(k -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s:%h:%T:%Tt\n' 2>/dev/null)
ok=1
i=0
while IFS=: read -r key value headers ts tstype; do
	[[ $key == "key-$i" && $value == "value-$i" && $headers == "h1=$i,h2=two" && $ts -ge $before && $ts -le $after ]] || ok=0
	i=$((i + 1))
done <<<"$got"
if ((ok && i == 3)); then
	result "$feature" pass "key and 2 headers read back; create-time timestamp kept (kcat cannot set one)"
else
	result "$feature" fail "read: $(tr '\n' ' ' <<<"$got")"
fi

# Two kcat group consumers: the second joining splits the four partitions.
# kcat reports each rebalance on stderr: "% Group G rebalanced (memberid
# M): assigned: T [0], T [1]" or "...: revoked: ...".
feature=group_rebalance topic=compat-kcat-group_rebalance
group_args=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 -X topic.metadata.refresh.interval.ms=1000)
# The topic is auto-created with the broker's default partition count
# (scripts/compat starts siesta with --default-partitions 4).
assigned() { grep 'rebalanced' "$1" | tail -1 | grep -q 'assigned:' && grep 'rebalanced' "$1" | tail -1 | grep -o '\[[0-9]*\]' | tr -d '[]' | sort -n | tr '\n' ' '; }
echo x | k -P -t "$topic" 2>/dev/null
timeout 60 kcat -b "$broker" -X client.id=compat-kcat -G "$topic" "${group_args[@]}" "$topic" >/dev/null 2>"$work/a" &
a=$!
for _ in $(seq 100); do [[ -n "$(assigned "$work/a")" ]] && break; sleep 0.1; done
timeout 60 kcat -b "$broker" -X client.id=compat-kcat -G "$topic" "${group_args[@]}" "$topic" >/dev/null 2>"$work/b" &
b=$!
ok=0
for _ in $(seq 200); do
	pa=$(assigned "$work/a") pb=$(assigned "$work/b")
	if [[ -n $pa && -n $pb && $(echo $pa $pb | tr ' ' '\n' | sort -n | tr '\n' ' ') == "0 1 2 3 " ]]; then ok=1; break; fi
	sleep 0.1
done
kill "$a" "$b" 2>/dev/null
wait "$a" "$b" 2>/dev/null
if ((ok)); then
	result "$feature" pass "rebalanced to [${pa% }] + [${pb% }]"
else
	result "$feature" fail "assigned [${pa:-}] and [${pb:-}]: $(grep -h 'rebalanced\|ERROR\|%3' "$work/a" "$work/b" | tr '\n' ' ')"
fi

# Commit and resume: a group consumer reads everything and commits on
# exit; the next run in the group reads only what came after.
feature=commit_resume topic=compat-kcat-commit_resume
consume_group() {
	k -G "$topic" -e -q -f '%s\n' -X auto.offset.reset=earliest "${group_args[@]}" -X auto.commit.interval.ms=100 "$topic" 2>/dev/null
}
values first 10 | k -P -t "$topic" -p 0 -K: 2>/dev/null
first=$(consume_group | wc -l)
values second 5 | k -P -t "$topic" -p 0 -K: 2>/dev/null
second=$(consume_group)
if [[ $first == 10 && $(wc -l <<<"$second") == 5 && $second == second-0* ]]; then
	result "$feature" pass "resumed at the committed offset 10"
else
	result "$feature" fail "first run read $first records, second read: $(head -c 200 <<<"$second")"
fi

# ListOffsets through kcat -Q (offsets for times; -2 and -1 are earliest
# and latest). Records get their produce time, so the query time is taken
# between two halves.
feature=list_offsets topic=compat-kcat-list_offsets
values ts 5 | k -P -t "$topic" -p 0 -K: 2>/dev/null
sleep 0.05
mid=$(date +%s%3N)
sleep 0.05
values ts 5 | k -P -t "$topic" -p 0 -K: 2>/dev/null
q() { k -Q -t "$topic:0:$1" 2>/dev/null | sed -n 's/.*offset \(-\{0,1\}[0-9]*\).*/\1/p'; }
got="$(q -2) $(q -1) $(q "$mid")"
if [[ $got == "0 10 5" ]]; then
	result "$feature" pass "earliest, latest and by timestamp"
else
	result "$feature" fail "earliest, latest, by timestamp: $got; want 0 10 5"
fi

produce_and_read idempotent compat-kcat-idempotent 20 -X enable.idempotence=true
result delete_topic n/a "kcat has no admin commands"

# SASL against the authenticating siesta: the right password produces a
# record and reads it back; with a wrong one kcat must not produce. It
# gives up once all brokers refused it; timeout bounds it if it retries.
ks() { # SECONDS MECHANISM PASSWORD kcat-args...: kcat on the SASL broker
	local seconds=$1 mech=$2 password=$3
	shift 3
	timeout "$seconds" kcat -b "$sasl_broker" -X client.id=compat-kcat -X security.protocol=SASL_PLAINTEXT \
		-X sasl.mechanisms="$mech" -X sasl.username=compat -X sasl.password="$password" "$@"
}
sasl() { # FEATURE MECHANISM
	local feature=$1 mech=$2 topic=compat-kcat-$1
	if [[ -z $sasl_broker ]]; then
		result "$feature" fail "no authenticating broker given (second argument)"
		return
	fi
	values "$feature" 1 >"$work/want"
	if ! ks 30 "$mech" compat-secret -P -t "$topic" -p 0 -K: <"$work/want" 2>"$work/err"; then
		result "$feature" fail "produce with the right password: $(tr '\n' ' ' <"$work/err")"
		return
	fi
	ks 30 "$mech" compat-secret -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s\n' >"$work/got" 2>"$work/err"
	if ! cmp -s "$work/want" "$work/got"; then
		result "$feature" fail "read $(wc -l <"$work/got") records with the right password, want 1: $(tr '\n' ' ' <"$work/err")"
		return
	fi
	local start=$SECONDS
	if values refused 1 | ks 10 "$mech" not-the-secret -P -t "$topic" -p 0 -K: -X message.timeout.ms=10000 2>"$work/err"; then
		result "$feature" fail "a wrong password produced"
		return
	fi
	result "$feature" pass "1 record produced and read back as compat; a wrong password refused in $((SECONDS - start))s: $(grep -m1 '^% ERROR' "$work/err" | sed 's/^% ERROR: //')"
}
sasl sasl_plain PLAIN
sasl sasl_scram SCRAM-SHA-256

# TLS against the siesta that requires a client certificate and SASL
# (SASL_SSL): kcat verifies the server's certificate against the CA,
# presents the client certificate and authenticates with SCRAM-SHA-256,
# produces a record and reads it back; without the client certificate it
# must not produce.
kt() { # SECONDS CERT(yes|no) kcat-args...: kcat on the TLS broker
	local seconds=$1 cert=()
	[[ $2 == yes ]] && cert=(-X ssl.certificate.location="$tls_dir/client.pem" -X ssl.key.location="$tls_dir/client-key.pem")
	shift 2
	timeout "$seconds" kcat -b "$tls_broker" -X client.id=compat-kcat -X security.protocol=SASL_SSL \
		-X ssl.ca.location="$tls_dir/ca.pem" -X ssl.endpoint.identification.algorithm=https "${cert[@]}" \
		-X sasl.mechanisms=SCRAM-SHA-256 -X sasl.username=compat -X sasl.password=compat-secret "$@"
}
tls() {
	local feature=tls topic=compat-kcat-tls
	if [[ -z $tls_broker || -z $tls_dir ]]; then
		result "$feature" fail "no TLS broker and certificate directory given (third and fourth arguments)"
		return
	fi
	values "$feature" 1 >"$work/want"
	if ! kt 30 yes -P -t "$topic" -p 0 -K: <"$work/want" 2>"$work/err"; then
		result "$feature" fail "produce with the client certificate: $(tr '\n' ' ' <"$work/err")"
		return
	fi
	kt 30 yes -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s\n' >"$work/got" 2>"$work/err"
	if ! cmp -s "$work/want" "$work/got"; then
		result "$feature" fail "read $(wc -l <"$work/got") records with the client certificate, want 1: $(tr '\n' ' ' <"$work/err")"
		return
	fi
	local start=$SECONDS
	if values refused 1 | kt 10 no -P -t "$topic" -p 0 -K: -X message.timeout.ms=10000 2>"$work/err"; then
		result "$feature" fail "a client without a certificate produced"
		return
	fi
	result "$feature" pass "1 record produced and read back over TLS as compat; without a client certificate refused in $((SECONDS - start))s: $(grep -m1 '^% ERROR' "$work/err" | sed 's/^% ERROR: //')"
}
tls
