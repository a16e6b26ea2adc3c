#!/usr/bin/env node
// The machine's floor for `troupe bench --rates`: the same schedule, plain
// Node dgram, no protocol. One sender process multicasts on loopback to
// RECEIVERS processes; everything due at a turn of its loop goes in one
// datagram (as troupe packs them), each message stamped with its intended
// send time; each receiver records intended time -> its 'message' handler
// per message, in the same histogram. What a wake-up costs on this host, and
// how often a process is descheduled, sets a floor no library on top of UDP
// goes under; run it beside troupe, in the same sitting.
//
//   node bench/floor.mjs [rates=10k,100k] [seconds=5] [receivers=3] [warmup=1]
import dgram from 'node:dgram'
import { fork } from 'node:child_process'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Histogram } from '../dist/bench/histogram.js'
import { parseRate } from '../dist/bench/options.js'
import { pace, Schedule } from '../dist/bench/paced.js'
import { percentiles } from '../dist/bench/rates.js'

const ADDRESS = '239.192.250.1'
const PORT = 45999
const SIZE = 100
const PER_DATAGRAM = 80 // 100 B messages in an 8 KiB datagram, as troupe's default on loopback

if (process.argv[2] === '--receiver') {
  // Receives until the sender says the phase is over ([0xff]), then reports.
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true })
  let h = new Histogram()
  let warm = 0
  socket.on('message', (b) => {
    const now = Number(process.hrtime.bigint())
    if (b[0] === 0xff) {
      process.send({ latency: h.toData() })
      h = new Histogram()
      return
    }
    for (let at = 0; at + SIZE <= b.length; at += SIZE) {
      if (b[at] === 2) warm++
      else h.record(now - Number(b.readBigUint64LE(at + 8)))
    }
  })
  socket.bind(PORT, () => {
    socket.addMembership(ADDRESS, '127.0.0.1')
    process.send('ready')
  })
  process.on('disconnect', () => process.exit(0))
} else {
  const rates = (process.argv[2] ?? '10k,100k').split(',').map(parseRate)
  const seconds = Number(process.argv[3] ?? 5)
  const receivers = Number(process.argv[4] ?? 3)
  const warmup = Number(process.argv[5] ?? 1)
  const self = fileURLToPath(import.meta.url)
  const kids = Array.from({ length: receivers }, () => fork(self, ['--receiver']))
  const killAll = () => kids.forEach((k) => k.kill('SIGKILL'))
  process.on('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))))
  const socket = dgram.createSocket('udp4')
  await new Promise((r) => socket.bind(0, '127.0.0.1', r))
  socket.setMulticastInterface('127.0.0.1')
  socket.setMulticastLoopback(true)
  console.log(`plain Node dgram, multicast on loopback, 1 -> ${receivers}, ${SIZE} B, due messages packed up to ${PER_DATAGRAM} a datagram; one-way from intended send time, worst receiver (µs)`)
  console.log('rate/s      p50      p90      p99    p99.9   p99.99      max  late p99  late max')
  for (const rate of rates) {
    const warm = Math.round(rate * warmup)
    const schedule = new Schedule(Number(process.hrtime.bigint()) + 20e6, rate, warm + Math.round(rate * seconds))
    let batch = Buffer.alloc(SIZE * PER_DATAGRAM)
    let filled = 0
    const flush = () => {
      if (filled === 0) return
      socket.send(batch.subarray(0, filled * SIZE), PORT, ADDRESS)
      batch = Buffer.alloc(SIZE * PER_DATAGRAM) // (send() reads the buffer later: never reuse it)
      filled = 0
    }
    const paced = await pace(schedule, {
      now: () => Number(process.hrtime.bigint()),
      send: (i, intended) => {
        const at = filled * SIZE
        batch[at] = i < warm ? 2 : 1
        batch.writeBigUint64LE(BigInt(intended), at + 8)
        if (++filled === PER_DATAGRAM) flush()
      },
      yield: async () => {
        flush()
        await yieldToLoop()
      },
      sleep: async (ns) => {
        flush()
        await sleep(ns / 1e6)
      },
    }, warm)
    flush()
    await sleep(200)
    const reports = kids.map((k) => new Promise((r) => k.once('message', r)))
    socket.send(Buffer.from([0xff]), PORT, ADDRESS)
    const worst = (await Promise.all(reports)).map((r) => percentiles(Histogram.from(r.latency))).sort((a, b) => b.p99 - a.p99)[0]
    const cell = (x) => String(x).padStart(8)
    const late = percentiles(paced.lag)
    console.log(`${String(rate).padEnd(8)}${[worst.p50, worst.p90, worst.p99, worst.p999, worst.p9999, worst.max].map(cell).join(' ')}  ${cell(late.p99)}  ${cell(late.max)}`)
    await sleep(200)
  }
  socket.close()
  killAll()
  process.exit(0)
}
