// A member for the application-layer process tests (requests), driven by
// its parent over IPC. argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'request', data, options }   ask the group; reply { type: 'responses' | 'requestFailed' }
//                    { cmd: 'hold', text }               hold (never answer) requests whose text is `text`
//   child -> parent  { type: 'joined', me } | { type: 'view', members }
//                    { type: 'hold', text }                 the hold is in place
//                    { type: 'holding', text, from }     a held request arrived
//                    { type: 'responses', responses: [{ member, text }], left, failed: [{ member, code }], ms }
//                    { type: 'requestFailed', code, message, ms }
import { Group } from '../../dist/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const group = await Group.join(groupName, { name: memberName, ...JSON.parse(optionsJson || '{}') })
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
  else if (m.cmd === 'leave') {
    await group.leave()
    process.exit(0)
  }
})
