// What crosses between the engine and JS besides a message's bytes: the
// order and fragment codes (also on the wire, in each message's header), the
// ring record types, and the layout of each record's payload. One list each,
// like the counters in stats.h: the addon exports them (addon.boundary) and
// ts/boundary.ts reads them from there, so C++ and TypeScript cannot
// disagree, and test/boundary.test.js checks docs/ARCHITECTURE.md's ring
// table against them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace troupe {

// X(name, code). The delivery orders of ts/options.ts ORDERS, in that order;
// `system`: the messages of the library's own rooms built on the group (bulk
// transfers, ts/transfer.ts), in their sender's stream order and never
// delivered to the application; and `record`: the sequencer's ORDER records,
// numbered in its stream like messages but never delivered to the application.
#define TROUPE_ORDERS(X) \
  X(unordered, 0)        \
  X(fifo, 1)             \
  X(causal, 2)           \
  X(total, 3)            \
  X(safe, 4)             \
  X(sync, 5)             \
  X(system, 14)          \
  X(record, 15)

// X(name, code): where a message's piece sits in a fragmented message.
#define TROUPE_FRAGS(X) \
  X(whole, 0)           \
  X(first, 1)           \
  X(middle, 2)          \
  X(last, 3)

// X(name, type, doc). Every record is `u32 length | u16 type | u16 flags |
// payload` (ring.h). A message's flags are `order | frag << 4`, in both rings.
#define TROUPE_RECORDS(X)                                                                          \
  X(pad, 1, "either ring: the padding at the wrap (skipped)")                                       \
  X(message, 2, "outbound: a message to send (payload: its bytes); inbound: a message delivered")   \
  X(peerUp, 3, "inbound: a member is heard for the first time")                                     \
  X(peerDown, 4, "inbound: a member left, fell silent or was forgotten (reason 1, 2, 3)")           \
  X(control, 5, "inbound: a membership (CONTROL) datagram's payload")                               \
  X(stable, 6, "inbound: every member holds this sender's stream up to seq")                        \
  X(slow, 7, "inbound: a member held our flow-control window full for slowReceiverTimeout")     \
  X(skipped, 8, "inbound: a sender's messages first..last, of one view, that no subscription here wants (subject_filter.h), or fragments of a message dropped in assembly: their seqs only") \
  X(assembled, 9, "inbound: a message of fragments first..last put together in the engine (assembly.h); JS takes its bytes by handle") \
  X(messageAt, 10, "inbound: a message delivered whose bytes stay in the unit it was received into (the engine's receive memory, at offset); JS reads them there or takes a copy")

// X(name, code): why a member's stream ended (a peerDown record's reason).
#define TROUPE_PEER_DOWN_REASONS(X) \
  X(left, 1)                        \
  X(silent, 2)                      \
  X(forgotten, 3)

// X(record, field, offset, bytes) of the inbound records' payloads; bytes 0:
// the rest of the record (variable length). Little-endian, like the wire.
#define TROUPE_RECORD_FIELDS(X) \
  X(message, seq, 0, 8)         \
  X(message, peer, 8, 4)        \
  X(message, view, 12, 4)       \
  X(message, data, 16, 0)       \
  X(peerUp, peer, 0, 4)         \
  X(peerUp, nameLength, 4, 4)   \
  X(peerUp, id, 8, 8)           \
  X(peerUp, name, 16, 0)        \
  X(peerDown, peer, 0, 4)       \
  X(peerDown, reason, 4, 4)     \
  X(peerDown, id, 8, 8)         \
  X(control, sender, 0, 8)      \
  X(control, payload, 8, 0)     \
  X(stable, peer, 0, 4)         \
  X(stable, seq, 8, 8)          \
  X(slow, peer, 0, 4)           \
  X(slow, id, 8, 8)             \
  X(slow, lag, 16, 8)           \
  X(skipped, peer, 0, 4)        \
  X(skipped, view, 4, 4)        \
  X(skipped, first, 8, 8)       \
  X(skipped, last, 16, 8)        \
  X(assembled, first, 0, 8)      \
  X(assembled, peer, 8, 4)       \
  X(assembled, view, 12, 4)      \
  X(assembled, last, 16, 8)      \
  X(assembled, length, 24, 8)    \
  X(assembled, handle, 32, 8)    \
  X(messageAt, seq, 0, 8)        \
  X(messageAt, peer, 8, 4)       \
  X(messageAt, view, 12, 4)      \
  X(messageAt, offset, 16, 4)    \
  X(messageAt, length, 20, 4)

#define TROUPE_ORDER_CONST(name, code) constexpr uint8_t kOrder_##name = code;
TROUPE_ORDERS(TROUPE_ORDER_CONST)
#undef TROUPE_ORDER_CONST
constexpr uint8_t kOrderMax = kOrder_sync;  // the highest code of an order the application asks for

// An application order's code | kOrderRoom (8..13): the message starts with
// the frame of one of the library's rooms built on the application channel
// (requests, ts/rpc/). It is numbered, ordered and delivered in its order like
// any message, then handed to that room instead of the application.
constexpr uint8_t kOrderRoom = 8;
// The order that decides how a message is delivered: the code without the room bit.
constexpr uint8_t BaseOrder(uint8_t code) { return code < kOrder_system ? uint8_t(code & ~kOrderRoom) : code; }

#define TROUPE_FRAG_CONST(name, code) constexpr uint8_t kFrag_##name = code;
TROUPE_FRAGS(TROUPE_FRAG_CONST)
#undef TROUPE_FRAG_CONST

#define TROUPE_REASON_CONST(name, code) constexpr uint8_t kDown_##name = code;
TROUPE_PEER_DOWN_REASONS(TROUPE_REASON_CONST)
#undef TROUPE_REASON_CONST

#define TROUPE_RECORD_CONST(name, type, doc) constexpr uint16_t kRec_##name = type;
TROUPE_RECORDS(TROUPE_RECORD_CONST)
#undef TROUPE_RECORD_CONST

// kAt_<record>_<field>: the field's offset in the record's payload.
#define TROUPE_FIELD_CONST(record, field, offset, bytes) constexpr size_t kAt_##record##_##field = offset;
TROUPE_RECORD_FIELDS(TROUPE_FIELD_CONST)
#undef TROUPE_FIELD_CONST

// The fixed part of each inbound record's payload (its variable part follows).
constexpr size_t kRecMessageFixed = kAt_message_data;
constexpr size_t kRecPeerUpFixed = kAt_peerUp_name;
constexpr size_t kRecPeerDownBytes = kAt_peerDown_id + 8;
constexpr size_t kRecControlFixed = kAt_control_payload;
constexpr size_t kRecStableBytes = kAt_stable_seq + 8;
constexpr size_t kRecSlowBytes = kAt_slow_lag + 8;
constexpr size_t kRecSkippedBytes = kAt_skipped_last + 8;
constexpr size_t kRecAssembledBytes = kAt_assembled_handle + 8;
constexpr size_t kRecMessageAtBytes = kAt_messageAt_length + 4;

}  // namespace troupe
