// The boundary between the engine and JS is declared once (native/boundary.h)
// and read from the addon: the codes agree with the public names, every
// inbound record's fields fit and do not overlap, and docs/ARCHITECTURE.md's
// table of ring records is the one boundary.h gives.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { addon } from '../dist/engine.js'
import { FragCode, OrderCode, RecordType } from '../dist/boundary.js'
import { ORDERS } from '../dist/index.js'

const { records } = addon.boundary

/** The ring-record table, as docs/ARCHITECTURE.md must hold it. */
function recordTable() {
  const width = { 8: 'u64', 4: 'u32' }
  const rows = Object.entries(records).map(([name, r]) => {
    const fields = Object.entries(r.fields).map(([field, [offset, bytes]]) => `${offset}: ${field}${bytes ? ` ${width[bytes]}` : ' (the rest)'}`)
    return `| ${r.type} | ${name} | ${fields.join(', ') || '–'} | ${r.doc} |`
  })
  return ['| type | record | inbound payload (offset: field) | what |', '|---|---|---|---|', ...rows].join('\n')
}

test('boundary – order and fragment codes: the public orders in their order, ORDER records apart, four fragment places', () => {
  assert.equal(ORDERS.map((o) => OrderCode[o]), [0, 1, 2, 3, 4, 5])
  assert.ok(OrderCode.record > 5 && OrderCode.record < 16, 'ORDER records fit the 4 bits of a record\'s flags, apart from the orders')
  assert.equal(Object.values(FragCode).sort(), [0, 1, 2, 3], 'fragment places fit 2 bits (flags >> 4)')
  assert.is(RecordType.message, 2)
})

test('boundary – every inbound record\'s fields are aligned, in order, and do not overlap; a variable part comes last', () => {
  for (const [name, r] of Object.entries(records)) {
    let end = 0
    const fields = Object.entries(r.fields)
    fields.forEach(([field, [offset, bytes]], i) => {
      assert.ok(offset >= end, `${name}.${field} at ${offset} overlaps the field before (ends at ${end})`)
      if (bytes > 0) assert.is(offset % bytes, 0, `${name}.${field} is aligned to its size`)
      else assert.is(i, fields.length - 1, `${name}.${field}, the variable part, is last`)
      end = offset + bytes
    })
  }
})

test('boundary – docs/ARCHITECTURE.md lists the ring records as native/boundary.h declares them', () => {
  const doc = readFileSync(new URL('../docs/ARCHITECTURE.md', import.meta.url), 'utf8')
  const table = recordTable()
  assert.ok(doc.includes(table), `docs/ARCHITECTURE.md should hold this table (from native/boundary.h):\n\n${table}\n`)
})

test.run()
