// joinWith(): joins a group with building blocks in it. The group's state
// transfer carries every block's snapshot (and the application's own state,
// if it gives getState/setState too), so a joiner starts from exactly the
// state the others had at the view that added it; each block is attached
// before any message of that view is handed out.
import { Group } from '../group.js'
import { argType, TroupeRangeError } from '../errors.js'
import type { JoinOptions } from '../options.js'
import { Block } from './block.js'

const utf8 = new TextDecoder()

interface Snapshot {
  blocks: Record<string, unknown>
  app: string | null // the application's own state, base64
}

/**
 * Joins `name` (as Group.join does, with the same options) with `blocks`
 * running in it; resolves with the group, which the application may use for
 * its own messages too (blocks talk on their own `$blocks.` subjects).
 */
export async function joinWith(name: string, blocks: readonly Block[], options: JoinOptions = {}): Promise<Group> {
  if (!Array.isArray(blocks) || !blocks.every((b) => b instanceof Block)) throw argType('the blocks of joinWith()', 'an array of blocks (ReplicatedMap, LockService, Counter)', blocks)
  const bySubject = new Map<string, Block>()
  for (const b of blocks) {
    if (bySubject.has(b.subject)) throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', `joinWith(): two blocks are both ${b.kind} '${b.name}': give each its own name`)
    bySubject.set(b.subject, b)
  }
  if (options !== null && typeof options === 'object' && options.receiveOwn === false) {
    throw new TroupeRangeError('ERR_INVALID_ARG_VALUE', 'joinWith(): option receiveOwn must be true with blocks (each member applies its own operations too)')
  }
  const { getState, setState } = options
  const group = await Group.join(name, {
    ...options,
    getState: () => {
      const snapshot: Snapshot = { blocks: {}, app: getState ? Buffer.from(getState()).toString('base64') : null }
      for (const [subject, b] of bySubject) snapshot.blocks[subject] = b.snapshot()
      return Buffer.from(JSON.stringify(snapshot))
    },
    setState: (bytes) => {
      const snapshot = JSON.parse(utf8.decode(bytes)) as Snapshot
      for (const [subject, b] of bySubject) b.restore(snapshot.blocks?.[subject])
      if (setState && typeof snapshot.app === 'string') setState(Buffer.from(snapshot.app, 'base64'))
    },
  })
  for (const b of blocks) b.attach(group)
  return group
}
