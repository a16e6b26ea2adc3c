// A group member in its own process, driven by its parent over IPC.
// argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'send', count, size, order }   send count messages (payload: u32 index), honouring 'drain'
//                    { cmd: 'stall', ms }           block the JS thread for ms (the engine's I/O thread goes on)
//                    { cmd: 'report' }              reply with deliveries and stats
//                    { cmd: 'leave' }               leave and exit
//   child -> parent  { type: 'joined', me } | { type: 'view', members } | { type: 'blocked', stats }
//                    { type: 'slow', member, lag, evicting } | { type: 'rejoining', reason }
//                    { type: 'sent', count, sawFalse } | { type: 'report', senders, stats }
//                    { type: 'stalled', ms }         the stall is over
import { Group } from '../../dist/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const group = await Group.join(groupName, { name: memberName, ...JSON.parse(optionsJson || '{}') })
const send = (m) => process.send(m)

// Per sender: messages delivered, and FIFO/exactly-once violations.
const senders = new Map()
group.on('message', (m) => {
  const index = new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength).getUint32(0, true)
  let s = senders.get(m.sender)
  if (!s) senders.set(m.sender, (s = { count: 0, next: 0, violations: 0, firstViolation: null }))
  if (index !== s.next) {
    s.violations++
    s.firstViolation ??= { expected: s.next, got: index }
  }
  s.next = index + 1
  s.count++
})
group.on('view', (v) => send({ type: 'view', members: v.members }))
group.on('slow', (info) => send({ type: 'slow', ...info }))
group.on('rejoining', (reason) => send({ type: 'rejoining', reason }))
send({ type: 'joined', me: group.me })
send({ type: 'view', members: group.view.members })

async function sendMany(count, size, order = 'fifo') {
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  let sawFalse = false
  for (let i = 0; i < count; i++) {
    view.setUint32(0, i, true)
    if (!group.send(buf, { order })) {
      if (!sawFalse) {
        sawFalse = true
        send({ type: 'blocked', sent: i + 1, stats: group.stats() })
      }
      await new Promise((r) => group.once('drain', r))
    }
    if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r))
  }
  send({ type: 'sent', count, sawFalse })
}

process.on('message', async (m) => {
  if (m.cmd === 'send') await sendMany(m.count, m.size ?? 100, m.order)
  else if (m.cmd === 'stall') {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms)
    send({ type: 'stalled', ms: m.ms })
  }
  else if (m.cmd === 'report') send({ type: 'report', senders: Object.fromEntries(senders), stats: group.stats() })
  else if (m.cmd === 'leave') {
    await group.leave()
    process.exit(0)
  }
})
