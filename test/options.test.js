// Each option's default and allowed values are stated once, in its spec
// (ts/options.ts): resolving no options gives those defaults, the docs say
// them, a value outside the allowed ones is refused with them, and the native
// core's own defaults (reliability.h) agree where Group has the same setting.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { addon } from '../dist/engine.js'
import { JOIN_OPTIONS } from '../dist/index.js'
import { resolveJoinOptions } from '../dist/options.js'
import { throwsWith } from './helpers/assert.js'

test('options – no options resolve to the defaults the specs state, and each doc ends with its default', () => {
  const resolved = resolveJoinOptions('g', {})
  const stated = Object.entries(JOIN_OPTIONS).filter(([, spec]) => spec.default !== undefined || spec.values)
  assert.ok(stated.length >= 15, `most options have a stated default (${stated.length})`)
  for (const [name, spec] of stated) {
    assert.is(resolved[name], spec.default ?? spec.values[0], `the default of ${name}`)
    assert.match(spec.doc, /Default: .+\.$/, `the doc of ${name} ends with its default`)
  }
  for (const [name, spec] of Object.entries(JOIN_OPTIONS)) {
    if (spec.defaultIs) assert.ok(spec.doc.endsWith(`Default: ${spec.defaultIs}.`), `the doc of ${name} says its computed default`)
  }
})

test('options – a string option with allowed values refuses others, naming them (and a near miss)', async () => {
  for (const [name, spec] of Object.entries(JOIN_OPTIONS).filter(([, s]) => s.values)) {
    await throwsWith(() => resolveJoinOptions('g', { [name]: 'nope' }), RangeError, new RegExp(`option ${name} must be one of ${spec.values.map((v) => `'${v}'`).join(', ')}`), 'ERR_INVALID_ARG_VALUE')
  }
  await throwsWith(() => resolveJoinOptions('g', { partitions: 'merg' }), RangeError, /did you mean 'merge'/, 'ERR_INVALID_ARG_VALUE')
})

test("options – the native core's own defaults agree with Group's", () => {
  const core = addon.coreDefaults
  const resolved = resolveJoinOptions('g', {}) // loopback
  assert.is(core.datagramSize, resolved.datagramSize)
  assert.is(core.windowBytes, resolved.window)
  assert.is(core.statusIntervalNs, resolved.statusInterval * 1e6)
  assert.is(core.nakDelayNs, resolved.nakDelay * 1e6)
  assert.is(core.suspectTimeoutNs, resolved.suspectTimeout * 1e6)
  assert.is(core.receiveOwn, resolved.receiveOwn)
})

test.run()
