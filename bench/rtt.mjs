#!/usr/bin/env node
// Unloaded round trip, troupe against a baseline measured in the same run:
// plain Node dgram ping-pong between 2 processes on loopback, then `troupe
// bench` ping-pong (2 and 4 members, with and without busyPoll), in turns,
// ROUNDS times. Prints each run's p50 and the median of the p50s.
//
//   node bench/rtt.mjs [rounds=3] [pings=3000]
import dgram from 'node:dgram'
import { execFileSync, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

if (process.argv[2] === '--pong') {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (m, from) => socket.send(m, from.port, from.address))
  socket.bind(0, '127.0.0.1', () => process.send(socket.address().port))
} else {
  const rounds = Number(process.argv[2] ?? 3)
  const pings = Number(process.argv[3] ?? 3000)
  const setups = [
    { name: 'Node dgram, 2 processes (baseline)', run: () => dgramPingPong(pings) },
    { name: 'troupe, 2 members', run: () => troupe(2, 0, pings) },
    { name: 'troupe, 2 members, busyPoll 50 µs', run: () => troupe(2, 50, pings) },
    { name: 'troupe, 4 members', run: () => troupe(4, 0, pings) },
    { name: 'troupe, 4 members, busyPoll 50 µs', run: () => troupe(4, 50, pings) },
  ]
  const results = setups.map(() => [])
  for (let r = 0; r < rounds; r++) {
    for (const [i, s] of setups.entries()) results[i].push(await s.run())
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const base = median(results[0])
  console.log(`round trip p50 (µs), ${rounds} rounds of ${pings} sequential pings, 100 B, loopback`)
  for (const [i, s] of setups.entries()) {
    const m = median(results[i])
    console.log(`${s.name.padEnd(38)} ${results[i].map((x) => String(x).padStart(5)).join(' ')}   median ${String(m).padStart(5)}   ${(m / base).toFixed(2)} x baseline`)
  }
}

async function dgramPingPong(pings) {
  const child = fork(self, ['--pong'])
  try {
    const port = await new Promise((resolve) => child.once('message', resolve))
    const socket = dgram.createSocket('udp4')
    const buf = Buffer.alloc(100)
    const times = []
    await new Promise((resolve) => {
      let t0 = 0n
      socket.on('message', () => {
        times.push(Number(process.hrtime.bigint() - t0) / 1000)
        if (times.length === pings) return resolve()
        t0 = process.hrtime.bigint()
        socket.send(buf, port, '127.0.0.1')
      })
      socket.bind(0, '127.0.0.1', () => {
        t0 = process.hrtime.bigint()
        socket.send(buf, port, '127.0.0.1')
      })
    })
    socket.close()
    times.sort((a, b) => a - b)
    return Math.round(times[Math.floor(times.length / 2)])
  } finally {
    child.kill()
  }
}

function troupe(members, busyPoll, pings) {
  const args = [cli, 'bench', '--members', String(members), '--seconds', '0.5', '--pings', String(pings), '--no-view-changes', '--json']
  if (busyPoll) args.push('--busy-poll', String(busyPoll))
  const out = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }))
  return Math.round(out.rttP50Us)
}
