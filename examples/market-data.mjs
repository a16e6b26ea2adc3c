// Market-data fan-out with subjects: one publisher, two desks, one group.
// Each desk subscribes to the instruments it trades (NATS wildcard rules:
// `*` one token, `>` the rest) and gets only those, in the publisher's order.
//
//   node examples/market-data.mjs
import { Group } from 'troupe'

const group = `md-example-${process.pid}`
const publisher = await Group.join(group, { name: 'feed' })
const fx = await Group.join(group, { name: 'fx-desk' })
const rates = await Group.join(group, { name: 'rates-desk' })
try {
  const got = { eur: 0, all: 0, rates: 0 }
  let lastEurUsd = 0
  fx.subscribe('md.fx.EUR.*', (m) => {
    got.eur++
    if (m.subject === 'md.fx.EUR.USD') lastEurUsd = m.json().px
  })
  fx.subscribe('md.fx.>', () => got.all++)
  rates.subscribe('md.rates.>', () => got.rates++)
  while (publisher.view.members.length < 3) await new Promise((r) => publisher.once('view', r))

  const instruments = ['md.fx.EUR.USD', 'md.fx.EUR.GBP', 'md.fx.USD.JPY', 'md.rates.UST.10Y']
  const ticks = 10_000
  for (let i = 0; i < ticks; i++) {
    const subject = instruments[i % instruments.length]
    // send() returns false when the flow-control window is full: wait for 'drain'.
    if (!publisher.send(JSON.stringify({ px: 1 + i / 1e6, i }), { subject })) await new Promise((r) => publisher.once('drain', r))
  }
  await publisher.sync() // a barrier: every member has delivered every tick sent before it
  const deadline = Date.now() + 10_000
  while (got.rates < ticks / 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  console.log(`fx desk: ${got.eur} EUR ticks, ${got.all} fx ticks; rates desk: ${got.rates} ticks; last EUR/USD ${lastEurUsd}`)
  const ok = got.eur === ticks / 2 && got.all === (ticks * 3) / 4 && got.rates === ticks / 4
  console.log(ok ? 'ok' : 'MISMATCH')
  process.exitCode = ok ? 0 : 1
} finally {
  await Promise.all([publisher, fx, rates].map((g) => g.leave()))
}
