// A member that consumes with `for await (const msg of group.messages())` and
// stalls once: after `stallAfter` messages its loop body waits `stallMs`
// before taking the next one (a consumer that falls behind). Messages carry
// their index in their first 4 bytes (little-endian). Reports over IPC:
//   { type: 'joined', me }
//   { type: 'stalled', before, after }           process.memoryUsage() around the stall
//   { type: 'done', count, outOfOrder, rssStart, rssMax, views }
import { Group } from '../../dist/index.js'

const [group, name, optionsJson] = process.argv.slice(2)
const { highWaterMark, stallAfter, stallMs, expect } = JSON.parse(optionsJson)
const g = await Group.join(group, { name })
let views = 0
g.on('view', () => views++)
process.send({ type: 'joined', me: g.me })

const rssStart = process.memoryUsage().rss
let rssMax = rssStart
const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 10)
let count = 0
let outOfOrder = 0
let last = -1
for await (const msg of g.messages({ highWaterMark })) {
  const index = new DataView(msg.data.buffer, msg.data.byteOffset, 4).getUint32(0, true)
  if (index !== last + 1) outOfOrder++
  last = index
  count++
  if (count === stallAfter) {
    const before = process.memoryUsage()
    await new Promise((resolve) => setTimeout(resolve, stallMs)) // the consumer is slow: this is the scenario
    process.send({ type: 'stalled', before, after: process.memoryUsage() })
  }
  if (count === expect) break
}
clearInterval(sampler)
process.send({ type: 'done', count, outOfOrder, rssStart, rssMax: Math.max(rssMax, process.memoryUsage().rss), views })
await g.leave()
process.disconnect()
