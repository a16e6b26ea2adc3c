// Public exports only.
export { Group, counterDocs } from './group.js'
export type { BlockedInfo, GroupStats, MemberLag, MergeInfo, SendOptions, SlowInfo } from './group.js'
export { Message } from './message.js'
export type { View } from './message.js'
export { JOIN_OPTIONS, ORDERS } from './options.js'
export type { InjectOptions, JoinOptions, Order } from './options.js'
