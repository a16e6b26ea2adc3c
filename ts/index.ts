// Public exports only.
export { Group, counterDocs } from './group.js'
export type { BlockedInfo, Data, GroupEvents, GroupStats, LeaveOptions, MemberLag, MergeInfo, MessagesOptions, SendOptions, SlowInfo, SyncOptions } from './api.js'
export { AbortError, ERROR_CODES, TroupeError, TroupeRangeError, TroupeTypeError } from './errors.js'
export type { ErrorCode } from './errors.js'
export { Message } from './message.js'
export type { View } from './message.js'
export { JOIN_OPTIONS, ORDERS } from './options.js'
export type { InjectOptions, JoinOptions, Order } from './options.js'
