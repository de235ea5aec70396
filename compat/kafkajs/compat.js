// Drives siesta with KafkaJS: the same features, in the same steps, as
// compat/goclients/suite.go, each printed as one line
//
//   RESULT kafkajs <feature> pass|fail|n/a <detail>
//
// Usage: node compat.js HOST:PORT [SASL_HOST:PORT [TLS_HOST:PORT TLS_DIR]],
// the second a siesta started with SIESTA_SASL_USERS=compat:compat-secret
// for the SASL features, the third one started with that and TLS
// (SASL_SSL, client certificates required) for the TLS feature, with the
// files of internal/tlstest in TLS_DIR. KafkaJS ships gzip only and takes other
// codecs as plugins: snappy from kafkajs-snappy (pure JavaScript), lz4 from
// lz4js (pure JavaScript; kafkajs-lz4 needs a native build) and zstd from
// @mongodb-js/zstd (a prebuilt binary from npm), wired up below.
'use strict'

const fs = require('fs')
const path = require('path')
const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const zstd = require('@mongodb-js/zstd')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async encoder => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async buffer => Buffer.from(lz4.decompress(buffer)),
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: encoder => zstd.compress(encoder.buffer),
  decompress: buffer => zstd.decompress(buffer),
})

const NAME = 'kafkajs'
const CODECS = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}
// The compression.type values of the recompress feature's topics: the
// broker stores records produced uncompressed to such a topic in its codec,
// so the client reads batches the broker compressed.
const RECOMPRESS_CODECS = ['gzip', 'snappy', 'lz4', 'zstd']
const RECOMPRESS_RECORDS = 5
const BASE_TS = 1700000000000
// The authenticating siesta's one user, and a password that is not its own.
const SASL_USER = 'compat'
const SASL_PASSWORD = 'compat-secret'
const SASL_WRONG_PASSWORD = 'not-the-secret'
// The TLS broker's SASL mechanism.
const TLS_MECHANISM = 'scram-sha-256'
// A client with a wrong password (or no client certificate) still retrying
// after this long has not produced, so it counts as refused.
const REFUSAL_TIMEOUT_MS = 10000

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (cond, ms = 30000) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

const values = (prefix, n) => Array.from({ length: n }, (_, i) =>
  ({ key: `k${i}`, value: `${prefix}-${i} ` + 'siesta '.repeat(10), headers: [], ts: null }))

function sameValues (got, want) {
  if (got.length !== want.length) throw new Error(`read ${got.length} records, want ${want.length}`)
  want.forEach((w, i) => {
    if (got[i].value !== w.value) throw new Error(`record ${i} is ${got[i].value.slice(0, 20)}, want ${w.value.slice(0, 20)}`)
  })
}

// newClient is the suite's client on KafkaJS connecting to broker, with
// sasl ({ mechanism, username, password }) and ssl (tls.connect's options)
// if given.
function newClient (broker, sasl, ssl) {
  const kafka = new Kafka({ clientId: `compat-${NAME}`, brokers: [broker], sasl, ssl, logLevel: logLevel.NOTHING })

  async function withAdmin (fn) {
    const admin = kafka.admin()
    await admin.connect()
    try {
      return await fn(admin)
    } finally {
      await admin.disconnect()
    }
  }

  return {
    // createTopic creates topic with configs ({ name: value }) as its
    // topic configs.
    createTopic: (topic, numPartitions, configs = {}) => withAdmin(async admin => {
      const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }))
      if (!await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true })) {
        throw new Error(`create ${topic}: not created`)
      }
    }),
    deleteTopic: topic => withAdmin(admin => admin.deleteTopics({ topics: [topic] })),
    // All topics first: fetching one by name may auto-create it.
    partitions: topic => withAdmin(async admin => {
      if (!(await admin.listTopics()).includes(topic)) throw new Error(`topic ${topic} not in metadata`)
      const md = await admin.fetchTopicMetadata({ topics: [topic] })
      return md.topics[0].partitions.length
    }),

    async produce (topic, codec, idempotent, recs) {
      const producer = kafka.producer({ idempotent, maxInFlightRequests: idempotent ? 1 : undefined, allowAutoTopicCreation: false })
      await producer.connect()
      try {
        await producer.send({
          topic,
          acks: -1,
          compression: CODECS[codec],
          messages: recs.map(r => ({
            key: r.key,
            value: r.value,
            partition: 0,
            headers: Object.fromEntries(r.headers),
            timestamp: r.ts ? String(r.ts) : undefined,
          })),
        })
      } finally {
        await producer.disconnect()
      }
    },

    // consumeGroup reads n records as a member of group and, when commit is
    // set, commits each before counting it. KafkaJS has no consumer outside a
    // group, so plain consumption uses a fresh group.
    async consumeGroup (group, topic, n, commit = true) {
      const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 5000, maxWaitTimeInMs: 100 })
      const got = []
      await consumer.connect()
      try {
        await consumer.subscribe({ topics: [topic], fromBeginning: true })
        await consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            if (got.length >= n) return
            if (commit) await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
            got.push({
              key: message.key.toString(),
              value: message.value.toString(),
              headers: Object.entries(message.headers || {}).map(([k, v]) => [k, v.toString()]),
              ts: Number(message.timestamp),
            })
          },
        })
        if (!await waitFor(() => got.length >= n)) throw new Error(`read ${got.length} of ${n} records`)
        return got
      } finally {
        await consumer.disconnect()
      }
    },
    consume (topic, n) { return this.consumeGroup(`${topic}-reader-${Date.now()}`, topic, n, false) },

    listOffsets: (topic, ts) => withAdmin(async admin => {
      const [p] = await admin.fetchTopicOffsets(topic)
      const [at] = await admin.fetchTopicOffsetsByTimestamp(topic, ts)
      return [Number(p.low), Number(p.high), Number(at.offset)]
    }),

    async join (group, topic) {
      const consumer = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 5000, maxWaitTimeInMs: 100 })
      let parts = []
      consumer.on(consumer.events.GROUP_JOIN, e => { parts = (e.payload.memberAssignment[topic] || []).slice().sort() })
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachMessage: async () => {} })
      return { assigned: () => parts, close: () => consumer.disconnect() }
    },
    // withSASL is the same library connecting to addr and authenticating
    // there (over plain TCP: SASL_PLAINTEXT).
    withSASL: (addr, mechanism, username, password) => newClient(addr, { mechanism, username, password }),
    // withTLS is the same library connecting to addr over TLS, verifying
    // the server against the CA in dir and presenting the client
    // certificate there if clientCert is set, and authenticating there
    // (SASL_SSL).
    withTLS: (addr, dir, clientCert, mechanism, username, password) => {
      const pem = name => fs.readFileSync(path.join(dir, name))
      const ssl = { ca: [pem('ca.pem')], rejectUnauthorized: true }
      if (clientCert) Object.assign(ssl, { cert: pem('client.pem'), key: pem('client-key.pem') })
      return newClient(addr, { mechanism, username, password }, ssl)
    },
  }
}
const client = newClient(process.argv[2])
const saslAddr = process.argv[3]
const tlsAddr = process.argv[4]
const tlsDir = process.argv[5]

function report (feature, status, detail) {
  console.log(`RESULT ${NAME} ${feature} ${status} ${String(detail).split(/\s+/).join(' ')}`)
}

async function run (feature, fn) {
  const start = Date.now()
  const took = () => `(${((Date.now() - start) / 1000).toFixed(1)}s)`
  try {
    report(feature, 'pass', `${await fn(`compat-${NAME}-${feature}`)} ${took()}`)
  } catch (e) {
    console.error(feature, e)
    report(feature, 'fail', `${e.name}: ${e.message} ${took()}`)
  }
}

async function produceAndRead (topic, codec, idempotent, n) {
  await client.createTopic(topic, 1)
  const want = values(codec, n)
  await client.produce(topic, codec, idempotent, want)
  sameValues(await client.consume(topic, n), want)
  return `${n} records read back in order`
}

// refusal is why produced, a produce that must fail, failed, or null if it
// succeeded; one still pending after REFUSAL_TIMEOUT_MS has not produced,
// which counts as failed.
async function refusal (produced) {
  let timer
  try {
    return await Promise.race([
      produced.then(() => null, e => `${e.name}: ${e.message}`),
      new Promise(resolve => { timer = setTimeout(resolve, REFUSAL_TIMEOUT_MS, `still not produced after ${REFUSAL_TIMEOUT_MS} ms`) }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

// authenticate produces a record and reads it back with the right
// password, then checks that the same library with a wrong one cannot
// produce.
async function authenticate (topic, mechanism) {
  if (!saslAddr) throw new Error('no authenticating broker given (second argument)')
  const good = client.withSASL(saslAddr, mechanism, SASL_USER, SASL_PASSWORD)
  await good.createTopic(topic, 1)
  const want = values(mechanism, 1)
  await good.produce(topic, 'none', false, want)
  sameValues(await good.consume(topic, 1), want)
  const bad = client.withSASL(saslAddr, mechanism, SASL_USER, SASL_WRONG_PASSWORD)
  const start = Date.now()
  const refused = await refusal(bad.produce(topic, 'none', false, values('refused', 1)))
  if (refused === null) throw new Error('a client with a wrong password produced')
  return `1 record produced and read back as ${SASL_USER}; a wrong password refused in ${((Date.now() - start) / 1000).toFixed(1)}s: ${refused}`
}

// tls produces a record and reads it back over TLS, verifying the server
// against the CA, presenting the client certificate and authenticating
// with SCRAM (SASL_SSL), then checks that the same library without the
// client certificate cannot produce.
async function tls (topic) {
  if (!tlsAddr || !tlsDir) throw new Error('no TLS broker and certificate directory given (third and fourth arguments)')
  const good = client.withTLS(tlsAddr, tlsDir, true, TLS_MECHANISM, SASL_USER, SASL_PASSWORD)
  await good.createTopic(topic, 1)
  const want = values('tls', 1)
  await good.produce(topic, 'none', false, want)
  sameValues(await good.consume(topic, 1), want)
  const bad = client.withTLS(tlsAddr, tlsDir, false, TLS_MECHANISM, SASL_USER, SASL_PASSWORD)
  const start = Date.now()
  const refused = await refusal(bad.produce(topic, 'none', false, values('refused', 1)))
  if (refused === null) throw new Error('a client without a certificate produced')
  return `1 record produced and read back over TLS as ${SASL_USER}; without a client certificate refused in ${((Date.now() - start) / 1000).toFixed(1)}s: ${refused}`
}

async function main () {
  console.log(`VERSION ${NAME} kafkajs ${require('kafkajs/package.json').version} (npm, node ${process.version})`)
  await run('create_topic', async topic => {
    await client.createTopic(topic, 3)
    const n = await client.partitions(topic)
    if (n !== 3) throw new Error(`metadata after create: ${n} partitions, want 3`)
    return '3 partitions'
  })
  for (const codec of Object.keys(CODECS)) {
    await run(`produce_${codec}`, topic => produceAndRead(topic, codec, false, 20))
  }
  await run('recompress', async () => {
    for (const codec of RECOMPRESS_CODECS) {
      const topic = `compat-${NAME}-recompress-${codec}`
      try {
        await client.createTopic(topic, 1, { 'compression.type': codec })
        const want = values(topic, RECOMPRESS_RECORDS)
        await client.produce(topic, 'none', false, want)
        sameValues(await client.consume(topic, want.length), want)
      } catch (e) {
        throw new Error(`${codec}: ${e.name}: ${e.message}`)
      }
    }
    return `${RECOMPRESS_RECORDS} records produced uncompressed read back from each of 4 topics with compression.type gzip, snappy, lz4 and zstd`
  })
  await run('consume_beginning', topic => produceAndRead(topic, 'none', false, 50))
  await run('keys_headers_timestamps', async topic => {
    const want = [0, 1, 2].map(i => ({ key: `key-${i}`, value: `value-${i}`, headers: [['h1', String(i)], ['h2', 'two']], ts: BASE_TS + i * 1000 }))
    await client.createTopic(topic, 1)
    await client.produce(topic, 'none', false, want)
    const got = await client.consume(topic, want.length)
    want.forEach((w, i) => {
      if (JSON.stringify(got[i]) !== JSON.stringify(w)) throw new Error(`record ${i}: ${JSON.stringify(got[i])}, want ${JSON.stringify(w)}`)
    })
    return 'key, 2 headers and a set timestamp read back'
  })
  await run('group_rebalance', async topic => {
    await client.createTopic(topic, 4)
    const a = await client.join(topic, topic)
    let b
    try {
      if (!await waitFor(() => a.assigned().length === 4)) throw new Error(`first member alone: assigned ${a.assigned()}, want all 4`)
      b = await client.join(topic, topic)
      const split = () => a.assigned().length > 0 && b.assigned().length > 0 &&
        JSON.stringify([...a.assigned(), ...b.assigned()].sort()) === '[0,1,2,3]'
      if (!await waitFor(split)) throw new Error(`after the second joined: assigned ${a.assigned()} and ${b.assigned()}`)
      return `rebalanced to [${a.assigned()}] + [${b.assigned()}]`
    } finally {
      await a.close()
      if (b) await b.close()
    }
  })
  await run('commit_resume', async topic => {
    const first = values('first', 10)
    const second = values('second', 5)
    await client.createTopic(topic, 1)
    await client.produce(topic, 'none', false, first)
    sameValues(await client.consumeGroup(topic, topic, first.length), first)
    await client.produce(topic, 'none', false, second)
    try {
      sameValues(await client.consumeGroup(topic, topic, second.length), second)
    } catch (e) {
      throw new Error(`second member did not resume at the commit: ${e.message}`)
    }
    return 'resumed at the committed offset 10'
  })
  await run('list_offsets', async topic => {
    const recs = values('ts', 10).map((r, i) => ({ ...r, ts: BASE_TS + i * 1000 }))
    await client.createTopic(topic, 1)
    await client.produce(topic, 'none', false, recs)
    const got = await client.listOffsets(topic, BASE_TS + 5000)
    if (JSON.stringify(got) !== '[0,10,5]') throw new Error(`earliest, latest, by timestamp ${got}; want 0,10,5`)
    return 'earliest, latest and by timestamp'
  })
  await run('idempotent', topic => produceAndRead(topic, 'none', true, 20))
  await run('delete_topic', async () => {
    const topic = `compat-${NAME}-create_topic`
    await client.deleteTopic(topic)
    const gone = async () => { try { await client.partitions(topic); return false } catch { return true } }
    for (let i = 0; i < 100; i++) {
      if (await gone()) return 'gone from metadata'
      await sleep(100)
    }
    throw new Error('topic still in metadata after delete')
  })
  await run('sasl_plain', topic => authenticate(topic, 'plain'))
  await run('sasl_scram', topic => authenticate(topic, 'scram-sha-256'))
  await run('tls', tls)
}

main().then(() => process.exit(0), e => { console.error(e); process.exit(1) })
