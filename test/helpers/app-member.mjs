// A member for the application-layer process tests (requests, building
// blocks), driven by its parent over IPC. It joins with a ReplicatedMap, a
// LockService and a Counter. argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'request', data, options }   ask the group; reply { type: 'responses' | 'requestFailed' }
//                    { cmd: 'hold', text }               hold (never answer) requests whose text is `text`
//                    { cmd: 'lock', lock } | { cmd: 'unlock', lock }   ({ type: 'granted' | 'unlocked', lock } follow)
//                    { cmd: 'work', count }              count map sets and counter adds, in turn ({ type: 'worked' })
//                    { cmd: 'set', key, value }          one map set ({ type: 'set', key })
//                    { cmd: 'state' }                    { type: 'state', map, counter, grants, queue }
//   options: Group.join's, and mapMerge (the map's option merge, 'union')
//   child -> parent  also { type: 'merge', sides }
//   child -> parent  { type: 'joined', me } | { type: 'view', members }
//                    { type: 'hold', text }                 the hold is in place
//                    { type: 'holding', text, from }     a held request arrived
//                    { type: 'responses', responses: [{ member, text }], left, failed: [{ member, code }], ms }
//                    { type: 'requestFailed', code, message, ms }
import { Counter, joinWith, LockService, ReplicatedMap } from '../../dist/blocks/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const { mapMerge, ...joinOptions } = JSON.parse(optionsJson || '{}')
const map = new ReplicatedMap('kv', mapMerge ? { merge: mapMerge } : {})
const locks = new LockService('locks')
const counter = new Counter('n')
const grants = [] // every 'granted' event here: `${lock} ${member}`
locks.on('granted', (e) => grants.push(`${e.lock} ${e.member}`))
const group = await joinWith(groupName, [map, locks, counter], { name: memberName, ...joinOptions })
const handles = new Map()
const send = (m) => process.send(m)
const holding = new Set()

group.on('request', (req) => {
  if (holding.has(req.text())) {
    send({ type: 'holding', text: req.text(), from: req.sender })
    return // never answered
  }
  return `${memberName}:${req.text()}`
})
group.on('view', (v) => send({ type: 'view', members: v.members }))
group.on('merge', ({ sides }) => send({ type: 'merge', sides }))
send({ type: 'joined', me: group.me })
send({ type: 'view', members: group.view.members })

process.on('message', async (m) => {
  if (m.cmd === 'hold') {
    holding.add(m.text)
    send({ type: 'hold', text: m.text })
  }
  else if (m.cmd === 'request') {
    const t0 = performance.now()
    try {
      const r = await group.request(m.data, m.options)
      send({
        type: 'responses',
        responses: r.map((x) => ({ member: x.member, text: x.text() })),
        left: r.left,
        failed: r.failed.map((f) => ({ member: f.member, code: f.error.code })),
        ms: performance.now() - t0,
      })
    } catch (e) {
      send({ type: 'requestFailed', code: e.code, message: e.message, ms: performance.now() - t0 })
    }
  }
  else if (m.cmd === 'lock') {
    handles.set(m.lock, await locks.lock(m.lock))
    send({ type: 'granted', lock: m.lock })
  }
  else if (m.cmd === 'unlock') {
    await handles.get(m.lock).unlock()
    send({ type: 'unlocked', lock: m.lock })
  }
  else if (m.cmd === 'work') {
    for (let i = 0; i < m.count; i++) {
      await map.set(`${memberName}.${i % 7}`, i)
      await counter.add(1)
    }
    send({ type: 'worked' })
  }
  else if (m.cmd === 'set') {
    await map.set(m.key, m.value)
    send({ type: 'set', key: m.key })
  }
  else if (m.cmd === 'state') send({ type: 'state', map: map.toJSON(), counter: counter.value, grants, queue: m.lock ? locks.queue(m.lock) : [] })
  else if (m.cmd === 'leave') {
    await group.leave()
    process.exit(0)
  }
})
