// A group member that streams its log, in its own process, for the tests that
// check the simulator's invariants on real processes (vs.test.js, and the
// multi-host test bed, netns.js). It sends named messages (`id/n`, the orders
// in turn), keeps a replicated state (an order-free sum over what it
// delivered, handed to joiners by state transfer, optionally padded with
// `bigState` bytes of a fixed pattern), and streams its log to the parent
// over IPC so that the parent can check the invariants even for members it
// kills. A partition's minority member: 'blocked', then 'rejoining' as a new
// incarnation, whose log starts with its own 'start' entry. It sends nothing while blocked or rejoining
// (its keys name the incarnation that sends them) and goes on with the new
// incarnation's first view. It exits when the test process is gone (the IPC
// channel closes), so that no member outlives a killed run. With partitions:
// 'merge' each view is logged with its line (its founder), and a merge of
// sides is logged and reported.
//
// argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'send', rate }    start sending `rate` messages per second
//                    { cmd: 'stop' }          stop sending
//                    { cmd: 'report' }        reply { type: 'report', me, state, view, stats }
//                    { cmd: 'leave' }         leave, then exit
//                    { cmd: 'busy', ms }      block the event loop for ms (a long GC pause, a busy loop)
//                    { cmd: 'watchSync' }     report the next sync message delivered here, at the first
//                                             send after it ({ type: 'synced' }, once that send's keys are logged)
//   child -> parent  { type: 'log', entries }  in order:
//                      ['start', id, atMs] ['view', id, viewId, members, atMs, founder] ['sent', keys, causalDeps]
//                      ['msg', sender, key, order, view] ['state', bytes, badBytes] ['blocked', id, blocked, atMs, reason]
//                      ['rejoining', oldId, reason, atMs] ['merge', id, viewId, sides, atMs]
//                    { type: 'joined', me, view }  { type: 'stopped' }  { type: 'report', ... }
//                    { type: 'blocked', me, blocked, reason }  { type: 'rejoined', me, was, reason }
//                    { type: 'unpaused', me } (sending again)  { type: 'error', message }
//                    { type: 'merge', me, view, sides }  { type: 'synced', key, view, sent, at }
import { Group } from '../../dist/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const options = JSON.parse(optionsJson || '{}')
const orders = options.orders ?? ['fifo']
delete options.orders
const bigState = options.bigState ?? 0 // extra bytes of state (a fixed pattern), to test large transfers
delete options.bigState
const pattern = (i) => (i * 131 + 7) & 255

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

let group = null
let me = null // the incarnation the log speaks for
let viewId = 0
let stateEntry = null
/** The line of views the member is in (view ids count within a line; a side of a 'merge' partition starts its own). */
const founder = () => group.live.member.gms.founder
const getState = () => {
  const state = new Uint8Array(4 + bigState)
  new DataView(state.buffer).setUint32(0, sum, true)
  for (let i = 0; i < bigState; i++) state[4 + i] = pattern(i)
  return state
}
const setState = (state) => {
  sum = new DataView(state.buffer, state.byteOffset, state.length).getUint32(0, true)
  let bad = 0
  for (let i = 4; i < state.length; i++) if (state[i] !== pattern(i - 4)) bad++
  const entry = ['state', state.length, bad]
  // At the first join setState runs before join() resolves: logged after 'start', below.
  if (!group) stateEntry = entry
  else {
    incarnation()
    log.push(entry)
  }
}

/** Starts the log of a new incarnation when group.me has changed (a rejoin). */
function incarnation() {
  if (group.me === me) return
  me = group.me
  viewId = 0
  lastCausal.clear()
  log.push(['start', me, Date.now()])
}

const started = Date.now()
const lastCausal = new Map()
group = await Group.join(groupName, { name: memberName, getState, setState, ...options })
const decoder = new TextDecoder()
me = group.me
log.push(['start', me, started])
if (stateEntry) log.push(stateEntry)
stateEntry = null
viewId = group.view.id
log.push(['view', me, group.view.id, [...group.view.members], Date.now(), founder()])

let paused = false // blocked, or between incarnations
let watchingSync = false // armed by 'watchSync'
let syncedKey = null // the sync message delivered since, not yet reported
group.on('view', (v) => {
  incarnation()
  if (v.id === viewId) return
  viewId = v.id
  log.push(['view', me, v.id, [...v.members], Date.now(), founder()])
  flushLog()
  if (paused && v.members.includes(me)) {
    paused = false
    process.send({ type: 'unpaused', me })
  }
})
group.on('blocked', ({ blocked, reason }) => {
  log.push(['blocked', me, blocked, Date.now(), reason])
  flushLog()
  paused = blocked
  process.send({ type: 'blocked', me, blocked, reason })
})
group.on('merge', ({ view, sides }) => {
  log.push(['merge', me, view.id, sides, Date.now()])
  flushLog()
  process.send({ type: 'merge', me, view: view.id, sides })
})
group.on('rejoining', (reason) => {
  const was = me
  paused = true
  log.push(['rejoining', was, reason, Date.now()])
  // group.me already names the new incarnation.
  incarnation()
  flushLog()
  process.send({ type: 'rejoined', me: group.me, was, reason })
})
group.on('message', (m) => {
  incarnation()
  const key = decoder.decode(m.data.subarray(0, Math.min(64, m.data.length))).split('|')[0]
  sum = (sum + hash(key)) >>> 0
  log.push(['msg', m.sender, key, m.order, viewId])
  if (m.order === 'causal') lastCausal.set(m.sender, key)
  if (m.order === 'sync' && watchingSync) {
    watchingSync = false
    syncedKey = key
  }
})
group.on('error', (err) => {
  console.error(`${memberName}: group error: ${err.stack ?? err}`)
  flushLog()
  process.send({ type: 'error', message: String(err.message ?? err) })
})
process.send({ type: 'joined', me: group.me, view: group.view.members })
const flusher = setInterval(flushLog, 50)

let counter = 0
let sending = null
function startSending(rate) {
  const perTick = Math.max(1, Math.round(rate / 100))
  sending = setInterval(() => {
    if (paused) return
    const keys = []
    const deps = {}
    const sender = group.me
    for (let i = 0; i < perTick; i++) {
      const key = `${sender}/${++counter}`
      keys.push(key)
      if (orders[counter % orders.length] === 'causal') deps[key] = [...lastCausal.values()]
    }
    // The parent learns of the keys before the group does: a killed member
    // never has a message delivered that its log does not name.
    flushLog()
    process.send({ type: 'log', entries: [['sent', keys, deps]] }, () => {
      if (group.me !== sender) return // rejoined meanwhile: these keys name the old incarnation
      for (const k of keys) {
        const data = new TextEncoder().encode(`${k}|`.padEnd(100, '.'))
        group.send(data, { order: orders[Number(k.split('/')[1]) % orders.length] })
      }
    })
    if (syncedKey) {
      process.send({ type: 'synced', key: syncedKey, view: viewId, sent: keys[0], at: Date.now() })
      syncedKey = null
    }
  }, 10)
}

// The test process is gone (killed, or it ended without killing us): so are we.
process.on('disconnect', () => process.exit(0))
process.on('message', async (m) => {
  if (m.cmd === 'send') startSending(m.rate)
  else if (m.cmd === 'watchSync') watchingSync = true
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
    process.send({ type: 'report', me: group.me, state: sum, view: group.view, stats: group.stats() })
  } else if (m.cmd === 'leave') {
    clearInterval(sending)
    await group.leave()
    flushLog()
    clearInterval(flusher)
    process.send({ type: 'left' }, () => process.exit(0))
  }
})
