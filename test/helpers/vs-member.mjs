// A group member for the virtual synchrony tests, in its own process. It
// sends named messages (`id/n`), keeps a replicated state (an order-free sum
// over what it delivered, handed to joiners by state transfer), and streams
// its log to the parent over IPC so that the parent can check the invariants
// (ts/sim/checker.ts) even for members it kills.
//
// argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'send', rate }    start sending `rate` messages per second
//                    { cmd: 'stop' }          stop sending
//                    { cmd: 'report' }        reply { type: 'report', state, stats }
//                    { cmd: 'leave' }         leave, then exit
//                    { cmd: 'busy', ms }      block the event loop for ms (a long GC pause, a busy loop)
//   child -> parent  { type: 'log', entries }  in order:
//                      ['start', id, atMs] ['view', id, viewId, members, atMs] ['sent', keys, causalDeps]
//                      ['msg', sender, key, order, view] ['state', bytes]
//                    { type: 'joined', me, view }
import { Group } from '../../dist/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const options = JSON.parse(optionsJson || '{}')
// The orders this member sends, in turn, and what each causal message depends on.
const orders = options.orders ?? ['fifo']
delete options.orders
const bigState = options.bigState ?? 0 // extra bytes of state (a fixed pattern), to test large transfers
delete options.bigState

let sum = 0
let log = []
const flushLog = () => {
  if (log.length === 0) return
  process.send({ type: 'log', entries: log })
  log = []
}
const hash = (key) => {
  let h = 2166136261
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619)
  return h >>> 0
}
const pattern = (i) => (i * 131 + 7) & 255

function getState() {
  const state = new Uint8Array(4 + bigState)
  new DataView(state.buffer).setUint32(0, sum, true)
  for (let i = 0; i < bigState; i++) state[4 + i] = pattern(i)
  return state
}
function setState(state) {
  let bad = 0
  for (let i = 4; i < state.length; i++) if (state[i] !== pattern(i - 4)) bad++
  sum = new DataView(state.buffer, state.byteOffset, state.length).getUint32(0, true)
  // setState runs before join() resolves: logged after 'start' (below).
  stateEntry = ['state', state.length, bad]
}
let stateEntry = null

const started = Date.now()
const group = await Group.join(groupName, { name: memberName, getState, setState, ...options })
const decoder = new TextDecoder()
let me = group.me
log.push(['start', me, started])
if (stateEntry) log.push(stateEntry)
let viewId = group.view.id
log.push(['view', me, group.view.id, [...group.view.members], Date.now()])
group.on('view', (v) => {
  if (v.id === viewId) return
  viewId = v.id
  log.push(['view', group.me, v.id, [...v.members], Date.now()])
  flushLog()
})
group.on('rejoining', () => {
  me = group.me
  log.push(['start', me, Date.now()])
})
group.on('message', (m) => {
  const key = decoder.decode(m.data.subarray(0, Math.min(64, m.data.length))).split('|')[0]
  sum = (sum + hash(key)) >>> 0
  log.push(['msg', m.sender, key, m.order, viewId])
  if (m.order === 'causal') lastCausal.set(m.sender, key)
})
process.send({ type: 'joined', me: group.me, view: group.view.members })
const flusher = setInterval(flushLog, 50)

let counter = 0
let sending = null
const lastCausal = new Map()
function startSending(rate) {
  const perTick = Math.max(1, Math.round(rate / 100))
  sending = setInterval(() => {
    const keys = []
    const deps = {}
    for (let i = 0; i < perTick; i++) {
      const key = `${group.me}/${++counter}`
      keys.push(key)
      if (orders[counter % orders.length] === 'causal') deps[key] = [...lastCausal.values()]
    }
    // The parent learns of the keys before the group does: a killed member
    // never has a message delivered that its log does not name.
    flushLog()
    process.send({ type: 'log', entries: [['sent', keys, deps]] }, () => {
      for (const k of keys) {
        const data = new TextEncoder().encode(`${k}|`.padEnd(100, '.'))
        group.send(data, { order: orders[Number(k.split('/')[1]) % orders.length] })
      }
    })
  }, 10)
}

process.on('message', async (m) => {
  if (m.cmd === 'send') startSending(m.rate)
  else if (m.cmd === 'stop') {
    clearInterval(sending)
    flushLog()
    process.send({ type: 'stopped' })
  } else if (m.cmd === 'busy') {
    const until = Date.now() + m.ms
    while (Date.now() < until) {} // the event loop is stuck; the engine's I/O thread is not
    process.send({ type: 'unblocked' })
  } else if (m.cmd === 'report') {
    flushLog()
    process.send({ type: 'report', state: sum, view: group.view, stats: group.stats() })
  } else if (m.cmd === 'leave') {
    clearInterval(sending)
    await group.leave()
    flushLog()
    clearInterval(flusher)
    process.send({ type: 'left' }, () => process.exit(0))
  }
})
