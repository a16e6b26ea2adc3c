// Waiting for events with a deadline (never a bare sleep standing in for one).
export async function until(predicate, { timeout = 5000, what = 'condition', interval = 5, detail } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    if (predicate()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`)
    await new Promise((r) => setTimeout(r, interval))
  }
}

let counter = 0
/** A group name no other test (or concurrent run) uses. */
export const uniqueGroup = (tag) => `test-${tag}-${process.pid}-${Date.now().toString(36)}-${counter++}`
