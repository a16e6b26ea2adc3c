// Messages larger than one datagram, put together at the receiver before JS
// sees them. A sender splits such a message into fragments with consecutive
// seqs (first, middle..., last: wire.h); the core delivers each sender's
// fragments in seq order, so a sender has at most one message being put
// together at a time. Its bytes are appended to one buffer as they come, and
// no record is written for them; on the last fragment the sink writes one
// small `assembled` record where that fragment stood (its seqs first..last, a
// handle), and JS takes the buffer by the handle as an external ArrayBuffer,
// freed when JS lets go of it. So a byte of a large message is copied once
// here (from the datagram) instead of into the ring, out of it, and into a
// joined buffer in JS; and JS does one thing per message, not per fragment.
//
// Every seq the core delivers is still covered by exactly one record, so the
// member's streams (ts/node/receiver.ts) move on as before: a fragment that
// breaks its sender's run (a middle or last with nothing begun, a first while
// another message is begun) or takes a message past maxMessage drops that
// message, and the sink writes a `skipped` record for the seqs it had taken.
//
// Bounds: at most one message per sender in assembly, each at most
// maxMessage bytes; whole messages wait for JS (parked) under a limit the
// sink keeps (the engine stops taking datagrams past it, as for a full ring).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "records.h"

namespace troupe {

// A message's bytes outside any ring: malloc'd while small; past that, a
// block of one of a few sizes (of a 2 MiB slab, or a mapping of its own past
// 256 KiB), reused once JS lets go of it (assembly.cc).
struct MessageBytes {
  uint8_t* data = nullptr;
  size_t size = 0;
  size_t capacity = 0;  // mapped: the mapping's length; else the malloc'd bytes
  bool mapped = false;

  // Room for `more` bytes past size, and for `hint` bytes in all (what the
  // message may grow to: the sender's last); false if memory ran out.
  bool Reserve(size_t more, size_t hint = 0);
  // n bytes (size n), in a block of the next power of two's size: batches
  // come in every size, and so fall in a few of the pool's sizes, where one
  // let go of fits the next (a wake-up's copy: Engine::TakeInbound,
  // reusableBytes()).
  bool ReserveBatch(size_t n);
  void Append(const uint8_t* p, size_t n);
  // What frees `data` later (JS's finalizer): 0 for malloc'd, else the mapping's length.
  size_t FreeHint() const { return mapped ? capacity : 0; }
  static void Free(uint8_t* data, size_t hint);
  void Release() { Free(data, FreeHint()); *this = MessageBytes{}; }
};

// Memory for messages' bytes so far: mappings made fresh (a slab, or a large
// message's own) and blocks reused (JS had let go of them, or a slab's
// others), and the bytes kept for reuse now (a fresh slab's untouched blocks
// among them). Tests and diagnostics (addon messageMemory()).
struct MessageMemory {
  uint64_t mapped = 0, reused = 0, keptBytes = 0;
};
MessageMemory MessageMemoryCounts();

class Assembler {
 public:
  // What a fragment does to its sender's message.
  enum class Step : uint8_t {
    kKept,     // taken into the message being put together (no record)
    kWhole,    // the last: the message is whole (an assembled record)
    kDropped,  // a run broken or too large: seqs dropped (a skipped record)
  };
  struct Outcome {
    Step step = Step::kKept;
    uint64_t first = 0, last = 0;  // kWhole: the message's seqs; kDropped: the seqs dropped
    uint32_t view = 0;             // the view of the message's first fragment
    MessageBytes bytes;            // kWhole: the message (the caller parks or frees it)
  };

  explicit Assembler(size_t maxMessage) : maxMessage_(maxMessage) {}
  ~Assembler();
  Assembler(const Assembler&) = delete;
  Assembler& operator=(const Assembler&) = delete;

  // What Add will do with this fragment. The sink makes room for the
  // record in between: a delivery it cannot take must change nothing that
  // counts (Plan only makes room for the bytes, or gives up on a message
  // memory cannot be found for: its seqs are then dropped at its end).
  Step Plan(uint32_t peer, uint8_t frag, size_t n);
  // `peer`'s fragment (first, middle or last: not whole) at `seq`.
  Outcome Add(uint32_t peer, uint64_t seq, uint32_t view, uint8_t frag, const uint8_t* data, size_t n);
  // The peer's number is free for another (Sink::PeerRemoved): what it began is dropped.
  void Forget(uint32_t peer);

  // A whole message waits for JS under the handle returned.
  uint64_t Park(MessageBytes bytes);
  // JS takes it (any thread); false if no message has that handle.
  bool Take(uint64_t handle, MessageBytes* out);
  size_t parkedBytes() const { return parkedBytes_.load(std::memory_order_relaxed); }

  // Bytes of messages being put together now, and messages dropped so far.
  size_t assemblingBytes() const { return assembling_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Partial {
    bool active = false;
    bool failed = false;  // no memory for it: its seqs are dropped at its end
    size_t hint = 0;      // the sender's last message's size: room made for it at once
    uint64_t first = 0, last = 0;
    uint32_t view = 0;
    MessageBytes bytes;
  };
  Partial* At(uint32_t peer) { return peer < partial_.size() ? &partial_[peer] : nullptr; }
  void Fail(Partial& p);
  void End(Partial& p);

  const size_t maxMessage_;
  std::vector<Partial> partial_;  // by peer number
  size_t assembling_ = 0;
  uint64_t dropped_ = 0;

  std::mutex parkMu_;  // Park (the I/O thread) against Take (JS)
  std::unordered_map<uint64_t, MessageBytes> parked_;
  uint64_t nextHandle_ = 1;
  std::atomic<size_t> parkedBytes_{0};
};

// What a sink does with one delivered fragment (not whole): hands it to the
// assembler and writes the record that comes of it, if any, with
// `reserve(type, flags, payloadBytes)` (nullptr: no room; then nothing
// changed, and false is returned for the core to try again).
template <class Reserve>
bool DeliverFragment(Assembler& a, Reserve&& reserve, uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag,
                     const uint8_t* data, size_t n) {
  const Assembler::Step plan = a.Plan(peer, frag, n);
  uint8_t* p = nullptr;
  if (plan == Assembler::Step::kWhole) p = reserve(kRec_assembled, uint16_t(order | kFrag_whole << 4), kRecAssembledBytes);
  if (plan == Assembler::Step::kDropped) p = reserve(kRec_skipped, 0, kRecSkippedBytes);
  if (plan != Assembler::Step::kKept && !p) return false;
  Assembler::Outcome o = a.Add(peer, seq, view, frag, data, n);
  if (o.step == Assembler::Step::kWhole) {
    const size_t length = o.bytes.size;
    EncodeAssembled(p, peer, o.view, o.first, o.last, length, a.Park(std::move(o.bytes)));
  } else if (o.step == Assembler::Step::kDropped) {
    EncodeSkipped(p, peer, o.view, o.first, o.last);
  }
  return true;
}

}  // namespace troupe
