// A member for the open-group process tests, driven by its parent over IPC:
// it logs every message it delivers, in delivery order, as
// `sender-name:text`, and answers requests with its name.
// argv: groupName memberName optionsJSON
//   parent -> child  { cmd: 'send', count, order, prefix }   send count messages `${prefix}${i}` ({ type: 'sent' } after)
//                    { cmd: 'report' }                        reply { type: 'report', log, stats }
//   child -> parent  { type: 'joined', me } | { type: 'view', members }
import { Group } from '../../dist/index.js'

const [groupName, memberName, optionsJson] = process.argv.slice(2)
const group = await Group.join(groupName, { name: memberName, ...JSON.parse(optionsJson || '{}') })
const send = (m) => process.send(m)
const log = []
group.on('message', (m) => log.push(`${m.sender.split('#')[0]}:${m.text()}`))
group.on('request', (req) => `${memberName}:${req.text()}`)
group.on('view', (v) => send({ type: 'view', members: v.members }))
send({ type: 'joined', me: group.me })
send({ type: 'view', members: group.view.members })
// (The parent gone: so is this member.)
process.on('disconnect', () => process.exit(0))

process.on('message', async (m) => {
  if (m.cmd === 'send') {
    for (let i = 0; i < m.count; i++) {
      if (!group.send(`${m.prefix}${i}`, { order: m.order })) await new Promise((r) => group.once('drain', r))
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1))
    }
    send({ type: 'sent' })
  } else if (m.cmd === 'report') {
    send({ type: 'report', log, stats: group.stats() })
  }
})
