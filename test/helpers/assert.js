// Assertions the suites share.
import * as assert from 'uvu/assert'

/** `fn` (sync or async) throws an instance of `Kind` whose message matches `pattern` (and whose code is `code`, if given). */
export async function throwsWith(fn, Kind, pattern, code) {
  try {
    await fn()
  } catch (e) {
    assert.instance(e, Kind, `expected ${Kind.name}, got ${e?.constructor?.name}: ${e?.message}`)
    assert.match(e.message, pattern)
    if (code !== undefined) assert.is(e.code, code, `the code of: ${e.message}`)
    return
  }
  assert.unreachable(`expected ${Kind.name} matching ${pattern}`)
}
