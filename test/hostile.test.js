// A million hostile datagrams (random, truncated, replayed, garbled and, for
// a closed group, altered ones) sprayed at a working group's multicast
// address and at its members' own sockets: the group goes on delivering
// exactly what was sent, nothing crashes, memory stays bounded, and the
// counters show the drops. The sprayer is native/test/spray.cc.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { nativeTool } from './helpers/tools.js'
import { Group } from '../dist/index.js'
import { until, uniqueGroup } from './helpers/wait.js'

const sprayBinary = nativeTool('spray')
const COUNT = Number(process.env.TROUPE_SPRAY_COUNT ?? 1_000_000)
const DROPS = ['rejectTruncated', 'rejectMagic', 'rejectVersion', 'rejectLength', 'rejectMalformed', 'rejectForeign', 'rejectUnknownSender', 'rejectSeal', 'rejectReplay', 'duplicates']

function runSpray(args, timeoutMs) {
  const child = spawn(sprayBinary, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`spray did not finish in ${timeoutMs} ms`)), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0) reject(new Error(`spray exited with ${code}: ${out}`))
      else resolve(JSON.parse(out))
    })
  })
  return { done, kill: () => child.exitCode === null && child.kill('SIGKILL') }
}

async function sprayedGroup(mode) {
  const name = uniqueGroup(`hostile-${mode}`)
  const address = `239.193.${(process.pid >> 8) & 255}.${process.pid & 255}`
  const port = 40000 + (process.pid % 20000)
  const seed = Math.floor(Math.random() * 2 ** 31)
  const common = { address, port, suspectTimeout: 3000, ...(mode === 'sealed' ? { key: randomBytes(32) } : {}) }
  const members = []
  let spray = null
  const text = new TextDecoder()
  try {
    for (let i = 0; i < 3; i++) {
      const g = await Group.join(name, { ...common, name: `h${i}` })
      g.got = new Map()
      g.bad = []
      g.on('message', (m) => {
        const [sender, n] = text.decode(m.data).split('/')
        if (sender !== m.sender) g.bad.push(text.decode(m.data))
        if (!g.got.has(sender)) g.got.set(sender, [])
        g.got.get(sender).push(Number(n))
      })
      members.push(g)
    }
    await until(() => members.every((g) => g.view.members.length === 3), { what: 'one view of 3', timeout: 10000 })
    const viewId = members[0].view.id
    const before = members.map((g) => ({ ...g.stats().counters }))
    const rssBefore = process.memoryUsage().rss

    // Everyone sends all along, in FIFO and total order, while the spray runs.
    const sent = members.map(() => 0)
    let sending = true
    const senders = members.map(async (g, i) => {
      while (sending) {
        for (let k = 0; k < 50; k++) {
          if (!g.send(new TextEncoder().encode(`${g.me}/${sent[i]++}`), { order: sent[i] % 2 ? 'total' : 'fifo' })) {
            await new Promise((r) => g.once('drain', r))
          }
        }
        await new Promise((r) => setImmediate(r))
      }
    })
    spray = runSpray([address, String(port), '127.0.0.1', String(COUNT), String(seed), mode], 120_000)
    const report = await spray.done
    sending = false
    await Promise.all(senders)

    await until(() => members.every((g) => members.every((s, i) => (g.got.get(s.me)?.length ?? 0) === sent[i])), {
      what: 'every member delivers every message sent during the spray',
      timeout: 30000,
      detail: () => `seed ${seed}: ${members.map((g) => members.map((s) => g.got.get(s.me)?.length ?? 0).join('/')).join(' ')} of ${sent.join('/')}`,
    })
    for (const g of members) {
      assert.equal(g.bad, [], `seed ${seed}: nothing delivered under a false name`)
      for (const [i, s] of members.entries()) {
        const got = g.got.get(s.me)
        const fifo = got.every((n, k) => n === k)
        assert.ok(fifo, `seed ${seed}: ${g.me} delivers ${s.me}'s ${sent[i]} messages once each, in order`)
      }
      assert.is(g.view.id, viewId, `seed ${seed}: the spray caused no view change`)
    }
    const after = members.map((g) => g.stats().counters)
    const dropped = after.reduce((sum, c, i) => sum + DROPS.reduce((s, k) => s + c[k] - before[i][k], 0), 0)
    const received = after.reduce((sum, c, i) => sum + c.datagramsReceived - before[i].datagramsReceived, 0)
    const growth = process.memoryUsage().rss - rssBefore
    console.log(`  ${mode}: sprayed ${report.sent} (${JSON.stringify(report.kinds)}) at ${report.targets} addresses; ` +
      `members received ${received} datagrams and dropped ${dropped}; delivered ${sent.reduce((a, b) => a + b, 0)} x 3; rss +${(growth / 2 ** 20).toFixed(0)} MiB`)
    assert.is(report.sent, COUNT)
    assert.ok(report.targets >= 4, `seed ${seed}: the sprayer found the group address and the members' sockets (${report.targets})`)
    assert.ok(dropped >= COUNT / 4, `seed ${seed}: the counters show the drops (${dropped} dropped)`)
    for (const c of after) assert.ok(c.heldMessages < 100_000 && c.retainedBytes <= 4 * 2 ** 21 * 3, 'the engine\'s queues stay within their bounds')
    assert.ok(growth < 256 * 2 ** 20, `memory stays bounded (rss grew ${(growth / 2 ** 20).toFixed(0)} MiB)`)
  } finally {
    spray?.kill()
    await Promise.all(members.map((g) => g.leave(200).catch(() => {})))
  }
}

test('hostile – a closed group under a spray of 10^6 random, truncated, replayed, garbled and altered datagrams', async () => {
  await sprayedGroup('sealed')
})

test('hostile – an open group under a spray of 10^6 random, truncated, replayed and garbled datagrams', async () => {
  await sprayedGroup('open')
})

test.run()
