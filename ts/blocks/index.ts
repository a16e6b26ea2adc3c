// troupe/blocks: building blocks made of a group's public API (Group.join's
// state transfer, subjects, total order, views), each a replicated state
// machine. Run several in one group with joinWith().
export { joinWith } from './join.js'
export { Block } from './block.js'
export { ReplicatedMap } from './map.js'
export type { MapChange, ReplicatedMapEvents } from './map.js'
export { LockService, LockHandle } from './locks.js'
export type { LockEvent, LockOptions, LockServiceEvents } from './locks.js'
export { Counter } from './counter.js'
