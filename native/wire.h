// Datagram codec. Every datagram starts with a 24-byte header; all integers
// are little-endian and read with memcpy (no alignment assumed). Decoding is
// bounds-checked: a datagram that is truncated, oversized, of another
// version or inconsistent is rejected with a reason and never half-used.
//
// Header (24 bytes):
//   0   u16 magic  0x5254 ("TR")
//   2   u8  version 1
//   3   u8  type   kData | kStatus | kNak | kLeave | kControl
//   4   u32 group  FNV-1a of the group name (other groups on the port are dropped)
//   8   u64 sender the sender's incarnation id (random, never 0)
//   16  u32 view   view id (0 until views are agreed by the flush)
//   20  u32 length total datagram length, must equal the bytes received
//
// DATA (kData): a run of consecutive messages of one sender.
//   24  u64 firstSeq   seq of the first message (seqs start at 1)
//   32  u16 count      messages in this datagram (>= 1)
//   34  u16 flags      kDataRetransmit | kDataRelayed (sent again by a member
//                      other than the sender, from what it kept: no sign that
//                      the sender is alive)
//   36  u32 reserved
//   40  count x { u16 len | u8 order | u8 frag | payload[len] }
//           order: 0 unordered, 1 fifo, 2 causal, 3 total, 4 safe, 5 sync,
//                  8..13 those orders as a room's message (requests, subjects: order | 8),
//                  14 the system channel (transfers, replies),
//                  15 an ORDER record of the total-order sequencer (ts/order/total.ts)
//           frag:  0 whole, 1 first, 2 middle, 3 last
//
// STATUS (kStatus): heartbeat + cumulative acks, multicast periodically.
//   24  u64 highestSent  the sender's last seq (lets receivers see tail loss)
//   32  u64 lowestKept   oldest seq still in the sender's retransmit log
//   40  u8  nameLen (<= kMaxName) | u8 flags | u16 ackCount (<= kMaxMembers)
//   44  u32 reserved
//   48  name[nameLen] then ackCount x { u64 sender | u64 ackSeq }
//
// NAK (kNak): ask for ranges of `target`'s seqs, from `target` itself or
// (in a flush) from another member that kept them.
//   24  u64 target
//   32  u16 rangeCount (<= kMaxNakRanges) | u16 reserved | u32 reserved
//   40  rangeCount x { u64 first | u64 last }  (inclusive, first <= last)
//
// LEAVE (kLeave): header only; the sender leaves the group.
//
// CONTROL (kControl): header + an opaque payload of the membership protocol
// (ts/membership/wire.ts encodes and checks it). Unreliable: the protocol in
// TypeScript retries what must arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "boundary.h"

namespace troupe {

constexpr uint16_t kMagic = 0x5254;
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = 24;
constexpr size_t kDataHeaderBytes = 40;
constexpr size_t kMsgHeaderBytes = 4;
constexpr size_t kStatusFixedBytes = 48;
constexpr size_t kNakFixedBytes = 40;
constexpr size_t kMaxDatagram = 65507;  // largest UDP/IPv4 payload
constexpr size_t kMinDatagram = 512;
constexpr size_t kMaxName = 64;
constexpr size_t kMaxMembers = 256;
constexpr size_t kMaxNakRanges = 64;

enum PacketType : uint8_t { kData = 1, kStatus = 2, kNak = 3, kLeave = 4, kControl = 5 };
enum : uint16_t { kDataRetransmit = 1, kDataRelayed = 2 };

// Why a datagram was rejected; each has its own counter in the stats.
enum class Reject : uint8_t {
  kNone = 0,
  kTruncated,   // shorter than its header or its declared contents
  kMagic,       // not a troupe datagram
  kVersion,     // another protocol version
  kLength,      // declared length differs from the bytes received
  kMalformed,   // contents inconsistent (zero count, bad range, too many entries...)
  kForeign,     // another group on the same address and port
};

struct Header {
  uint8_t type;
  uint32_t group;
  uint64_t sender;
  uint32_t view;
  uint32_t length;
};

struct DataView {
  uint64_t firstSeq;
  uint16_t count;
  uint16_t flags;
  const uint8_t* messages;  // count x { u16 len | u8 order | u8 frag | payload }
  const uint8_t* end;
};

struct StatusView {
  uint64_t highestSent;
  uint64_t lowestKept;
  const char* name;
  uint8_t nameLen;
  uint16_t ackCount;
  const uint8_t* acks;  // ackCount x { u64 sender | u64 ackSeq }
};

struct NakView {
  uint64_t target;
  uint16_t rangeCount;
  const uint8_t* ranges;  // rangeCount x { u64 first | u64 last }
};

inline uint16_t Ld16(const uint8_t* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t Ld32(const uint8_t* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t Ld64(const uint8_t* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline void St16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void St32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void St64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

uint32_t GroupHash(const char* name, size_t len);

// Checks the header and, by type, the whole body. On success fills `h` and
// the matching view; on failure returns the reason.
Reject DecodeHeader(const uint8_t* p, size_t n, uint32_t group, Header* h);
Reject DecodeData(const uint8_t* p, size_t n, DataView* d);
Reject DecodeStatus(const uint8_t* p, size_t n, StatusView* s);
Reject DecodeNak(const uint8_t* p, size_t n, NakView* k);

void EncodeHeader(uint8_t* p, uint8_t type, uint32_t group, uint64_t sender, uint32_t view, uint32_t length);

}  // namespace troupe
