// The errors troupe throws, each with a stable `code` (Node's own codes for
// argument errors, ERR_TROUPE_* for the rest), the way Node's errors carry
// one. Match on `err.code`, not on the message: messages may improve.
//
//   TroupeError        Error       ERR_TROUPE_* (closed, backpressure, join timeout, name taken, ...)
//   TroupeTypeError    TypeError   ERR_INVALID_ARG_TYPE, ERR_TROUPE_UNKNOWN_OPTION
//   TroupeRangeError   RangeError  ERR_OUT_OF_RANGE, ERR_INVALID_ARG_VALUE, ERR_TROUPE_MESSAGE_TOO_LARGE
//   AbortError         Error       ABORT_ERR (an AbortSignal fired; `cause` is its reason)
//
// The native addon throws plain TypeError / RangeError / Error objects with
// the same codes (and `errno` for a failed system call: ERR_TROUPE_SOCKET).

/** Every code troupe's errors carry, and what it means (the README's table is made from the same list). */
export const ERROR_CODES = {
  ERR_INVALID_ARG_TYPE: 'An argument or option has the wrong type (the message names it and says what was given).',
  ERR_INVALID_ARG_VALUE: 'An argument or option has a value that is not one of those allowed (an unknown order, a malformed address).',
  ERR_OUT_OF_RANGE: 'A number is outside the range of its option.',
  ERR_TROUPE_UNKNOWN_OPTION: "An options object has a key troupe does not know (with a 'did you mean' for a near miss).",
  ERR_TROUPE_MESSAGE_TOO_LARGE: 'send(): the message is larger than maxMessageSize.',
  ERR_TROUPE_BACKPRESSURE: "send(): the send queue holds maxPending bytes already; wait for 'drain' when send() returns false.",
  ERR_TROUPE_CLOSED: 'The group was left (or closed by an error): nothing more can be sent.',
  ERR_TROUPE_JOIN_TIMEOUT: 'Group.join(): no view within joinTimeout.',
  ERR_TROUPE_NAME_TAKEN: 'Group.join(): a live member of the group already has this name.',
  ERR_TROUPE_CONNECT_TIMEOUT: 'Group.connect(): no member of the group welcomed the client within connectTimeout.',
  ERR_TROUPE_UNSUPPORTED: 'The call needs something this group does not have (rotateKey() without a key).',
  ERR_TROUPE_SOCKET: 'A system call on a socket failed (errno and syscall say which).',
  ERR_TROUPE_TRANSFER_INCOMPLETE: 'transfer(): some receivers do not hold the object (the TransferError names who holds it, who left the group first and who failed, and why).',
  ERR_TROUPE_TRANSFER_ABORTED: "A transfer's stream at a receiver: its source aborted it, or left the group before the end.",
  ERR_TROUPE_TRANSFER_CHECKSUM: "A transfer's stream at a receiver: the bytes received do not match the length and CRC-32C the source sent.",
  ERR_TROUPE_REQUEST_TIMEOUT: 'request(): not enough responses within its timeout (the message names who did not answer).',
  ERR_TROUPE_REQUEST_FAILED: "request(): in `failed` of its result, a member that answered with an error: its 'request' handler threw, or it had none.",
  ERR_TROUPE_ALREADY_REPLIED: 'reply(): the request was answered already (by reply() or by the handler\'s return value).',
  ERR_TROUPE_REJOINED: 'This member was left out of the view and rejoined as a new incarnation: the requests it was waiting for end (their replies went to the old one).',
  ERR_TROUPE_LOCK_TIMEOUT: 'LockService lock(): the lock was not granted within its timeout (the request left the queue).',
  ABORT_ERR: 'The AbortSignal given to join(), connect(), sync(), leave(), messages(), transfer(), request() or lock() fired.',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** A troupe error that is neither a TypeError nor a RangeError. */
export class TroupeError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
  override get name(): string {
    return 'TroupeError'
  }
}

/** A wrong type: an argument, an option, or an unknown option key. */
export class TroupeTypeError extends TypeError {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** A value out of range or not among those allowed. */
export class TroupeRangeError extends RangeError {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** An operation given an AbortSignal was aborted (Node's AbortError: name 'AbortError', code 'ABORT_ERR'). */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
  }
  override get name(): string {
    return 'AbortError'
  }
}

/** How a value that was given reads in a message: `type number (42)`, `null`, `an instance of Array`. */
export function received(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name
    return name ? `an instance of ${name}` : 'an object'
  }
  let shown = String(value)
  if (typeof value === 'string') shown = JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)
  return `type ${typeof value} (${shown})`
}

/** ERR_INVALID_ARG_TYPE: `what` must be `expected`; says what it got. */
export function argType(what: string, expected: string, value: unknown): TroupeTypeError {
  return new TroupeTypeError('ERR_INVALID_ARG_TYPE', `${what} must be ${expected}, got ${received(value)}`)
}

/** Throws an AbortError naming `what` if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} was aborted`, { cause: signal.reason })
}

/** Checks that `signal` is an AbortSignal (or undefined). */
export function checkSignal(what: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined
  if (!(signal instanceof AbortSignal)) throw argType(what, 'an AbortSignal', signal)
  return signal
}

/**
 * Waits for `done`; rejects with `timeout()` after `ms`, or with an
 * AbortError (`what` was aborted) when `signal` fires: join() and connect().
 */
export async function within(done: Promise<unknown>, ms: number, timeout: () => Error, signal: AbortSignal | undefined, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(timeout()), ms)
        onAbort = () => reject(new AbortError(`${what} was aborted`, { cause: signal!.reason }))
        signal?.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    clearTimeout(timer)
    if (onAbort) signal?.removeEventListener('abort', onAbort)
  }
}
