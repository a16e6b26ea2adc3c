// A group member in its own process for transfer tests, driven over IPC.
// argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'transfer', bytes, seed, to?, name? }   send `bytes` of seeded pseudo-random data as a Readable
//                    { cmd: 'slowRead', mbps }   from now on, read at most mbps MB/s (a slow consumer)
//                    { cmd: 'rss' } | { cmd: 'stats' } | { cmd: 'leave' }
//   child -> parent  { type: 'joined', me } | { type: 'view', members }
//                    { type: 'incoming', from, name, size }            a transfer began here
//                    { type: 'received', from, name, bytes, sha256, gc }   its stream ended (checksum matched;
//                                                                       with consume 'count' no sha256, and
//                                                                       mappings: { mapped, reused } for messages);
//                                                                       gc: { minor, major } collections while it came
//                    { type: 'receiveFailed', from, name, bytes, code, message }
//                    { type: 'progress', bytes }                        the source's progress (first one only)
//                    { type: 'transferred', result, sha256 } | { type: 'transferFailed', code, message, delivered, missing, failed, sha256 }
//                    { type: 'rss', peak, base }                        receiver: peak RSS during its transfers
//                    { type: 'stats', stats }                           group.stats() (cmd 'stats')
import { createHash } from 'node:crypto'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { Group } from '../../dist/index.js'
import { addon } from '../../dist/engine.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
// consume 'count' (not a group option): a receiver only counts what it reads ('data'
// events), allocating nothing of its own, so that its collections are the library's.
const { consume = 'hash', ...options } = JSON.parse(optionsJson || '{}')
const group = await Group.join(groupName, { name: memberName, ...options })
const send = (m) => process.send(m)
let readRate = 0 // MB/s; 0: as fast as it comes
const base = process.memoryUsage().rss
let peak = base

const gc = { minor: 0, major: 0 }
let memoryAt = null // the mappings for messages when the transfer began (addon.messageMemory())
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) gc.minor++
    else if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gc.major++
  }
}).observe({ entryTypes: ['gc'] })

group.on('view', (v) => send({ type: 'view', members: v.members }))
group.on('transfer', async (t) => {
  send({ type: 'incoming', from: t.from, name: t.name, size: t.size })
  gc.minor = gc.major = 0
  memoryAt = addon.messageMemory()
  if (consume === 'count') return countOnly(t)
  const hash = createHash('sha256')
  let bytes = 0
  try {
    for await (const chunk of t) {
      hash.update(chunk)
      bytes += chunk.length
      peak = Math.max(peak, process.memoryUsage().rss)
      if (readRate) await new Promise((r) => setTimeout(r, chunk.length / readRate / 1000)) // a slow consumer, on purpose
    }
    await new Promise((r) => setImmediate(r)) // (the observer hears of collections a little later)
    send({ type: 'received', from: t.from, name: t.name, bytes, sha256: hash.digest('hex'), gc: { ...gc } })
  } catch (err) {
    send({ type: 'receiveFailed', from: t.from, name: t.name, bytes, received: t.received, code: err.code, message: err.message })
  }
})
function countOnly(t) {
  let bytes = 0
  t.on('data', (chunk) => (bytes += chunk.length))
  t.on('error', (err) => send({ type: 'receiveFailed', from: t.from, name: t.name, bytes, received: t.received, code: err.code, message: err.message }))
  t.on('end', () => setImmediate(() => {
    const now = addon.messageMemory()
    const mappings = { mapped: now.mapped - memoryAt.mapped, reused: now.reused - memoryAt.reused }
    send({ type: 'received', from: t.from, name: t.name, bytes, gc: { ...gc }, mappings })
  }))
}

send({ type: 'joined', me: group.me })
send({ type: 'view', members: group.view.members })

/** `bytes` of xorshift32 output from `seed`, 1 MiB a chunk, hashed as it goes. */
function seeded(bytes, seed, hash) {
  let x = seed >>> 0 || 1
  let left = bytes
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (left === 0) return this.push(null)
      const n = Math.min(left, 1 << 20)
      const chunk = Buffer.allocUnsafe(n)
      for (let i = 0; i + 4 <= n; i += 4) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        chunk.writeUInt32LE(x >>> 0, i)
      }
      for (let i = n & ~3; i < n; i++) chunk[i] = i & 0xff
      hash.update(chunk)
      left -= n
      this.push(chunk)
    },
  })
}

process.on('message', async (m) => {
  if (m.cmd === 'transfer') {
    const hash = createHash('sha256')
    const transfer = group.transfer(seeded(m.bytes, m.seed, hash), { name: m.name ?? 'seeded', ...(m.to ? { to: m.to } : {}) })
    transfer.once('progress', (p) => send({ type: 'progress', bytes: p.bytes }))
    try {
      const result = await transfer
      send({ type: 'transferred', result, sha256: hash.digest('hex') })
    } catch (err) {
      send({ type: 'transferFailed', code: err.code, message: err.message, delivered: err.delivered, missing: err.missing, failed: err.failed, sha256: hash.digest('hex') })
    }
  } else if (m.cmd === 'slowRead') readRate = m.mbps
  else if (m.cmd === 'rss') send({ type: 'rss', peak, base })
  else if (m.cmd === 'stats') send({ type: 'stats', stats: group.stats() })
  else if (m.cmd === 'leave') {
    await group.leave()
    process.exit(0)
  }
})
