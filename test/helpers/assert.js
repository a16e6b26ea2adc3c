// Assertions the suites share.
import * as assert from 'uvu/assert'

/** `fn` (sync or async) throws an instance of `Kind` whose message matches `pattern`. */
export async function throwsWith(fn, Kind, pattern) {
  try {
    await fn()
  } catch (e) {
    assert.instance(e, Kind, `expected ${Kind.name}, got ${e?.constructor?.name}: ${e?.message}`)
    assert.match(e.message, pattern)
    return
  }
  assert.unreachable(`expected ${Kind.name} matching ${pattern}`)
}
