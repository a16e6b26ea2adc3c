// The reliability core's own state, shared by its files (reliability.cc:
// peers, timers and membership calls; reliability_send.cc; reliability_receive.cc;
// reliability_stability.cc) and by nothing else.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "reliability.h"

namespace troupe {

enum SlotState : uint8_t { kEmpty = 0, kHeld = 1, kDeliveredEarly = 2 };
inline constexpr uint64_t kNever = ~uint64_t(0);
inline constexpr uint64_t kEagerStatusAcks = 4096;  // acks that make STATUS go out early
inline constexpr uint64_t kEagerStatusWindowShare = 4;  // ... or bytes: window / this (large messages fill it in fewer acks)
inline constexpr uint64_t kEagerStatusGapNs = 1'000'000;
inline constexpr uint64_t kSafeStatusGapNs = 200'000;  // at most one early STATUS per this, for safe messages

// One receive slot: a message that arrived after a gap (or while the sink
// was full), or the NAK timing of a seq that is still missing.
struct Core::Slot {
  uint8_t state = kEmpty;
  uint8_t order = 0;
  uint8_t frag = 0;
  uint32_t length = 0;
  uint32_t view = 0;
  uint8_t* data = nullptr;  // malloc'd copy while kHeld
  uint64_t nakAt = 0;       // missing: when to NAK next (0 = not known missing)
};

struct Core::Window {
  uint64_t next = 1;     // next seq to deliver
  uint64_t highest = 0;  // highest seq known to exist
  uint64_t nakCheckAt = kNever;
  uint32_t held = 0;     // slots in kHeld or kDeliveredEarly
  bool blocked = false;  // the sink refused a delivery
  // A power of 2 of them, at most mask + 1: made when first needed (a peer
  // that never sends costs no window) and grown only as far as a gap
  // reaches (in order, a stream uses one), so that a member of a large group
  // does not hold a whole window of slots for each sender.
  std::vector<Slot> slots;
  uint64_t mask = 0;  // the window: seqs next .. next + mask
  // seq: from next to next + mask.
  Slot& at(uint64_t seq) {
    if (seq - next >= slots.size() && slots.size() <= mask) Grow(std::min<uint64_t>(seq - next, mask) + 1);
    return slots[seq & (slots.size() - 1)];
  }
  bool inWindow(uint64_t seq) const { return seq >= next && seq - next <= mask; }

 private:
  static constexpr size_t kFirstSlots = 64;
  // Room for `need` seqs from next: the slots of next .. next + size - 1 move
  // to their places in the larger ring (every other slot is empty: a ring's
  // slots behind next are cleared as it moves on).
  void Grow(uint64_t need) {
    size_t size = std::max(slots.size(), kFirstSlots);
    while (size < need) size *= 2;
    size = std::min<size_t>(size, mask + 1);
    std::vector<Slot> grown(size);
    const size_t old = slots.size();
    for (uint64_t seq = next; seq < next + old; seq++) grown[seq & (size - 1)] = slots[seq & (old - 1)];
    slots.swap(grown);
  }
};

// The memory every kept stream of a core writes into (KeptStream): chunks
// of one reservation, the last given back given out first.
class KeptChunks {
 public:
  // Larger than any datagram (kMaxDatagram): a chunk wastes at most one
  // datagram's bytes at its end.
  static constexpr size_t kBytes = 256 << 10;

  // Room for `bytes` kept (the core's bound) and a quarter more for what
  // chunks waste at their ends, at least kMinChunks: one reservation of
  // address space whose pages are touched only as chunks are first used,
  // so that getting and giving back a chunk costs no allocation (256 KiB
  // mallocs were mappings: mapping, faulting and unmapping them as lag
  // came and went cost more than the copies).
  explicit KeptChunks(size_t bytes);
  ~KeptChunks();
  KeptChunks(const KeptChunks&) = delete;
  KeptChunks& operator=(const KeptChunks&) = delete;

  // A chunk (nullptr: all are in use).
  uint8_t* Get() {
    if (free_.empty()) return nullptr;
    const uint32_t i = free_.back();
    free_.pop_back();
    return base_ + size_t(i) * kBytes;
  }
  void Put(uint8_t* chunk) { free_.push_back(uint32_t(size_t(chunk - base_) / kBytes)); }

 private:
  static constexpr size_t kMinChunks = 64;
  uint8_t* base_ = nullptr;
  size_t length_ = 0;
  std::vector<uint32_t> free_;  // last given back on top
};
static_assert(KeptChunks::kBytes >= kMaxDatagram, "a chunk holds any datagram");

// The datagrams of one sender's stream that a member keeps for the others
// (relayed when one misses them: a flush after a crash), oldest first, each
// copied once where the newest ended in its stream's last chunk. Chunks
// come from a pool the core keeps for all its streams, the last given back
// first given out, so a stream touches about as much memory as it keeps.
// A stream keeps up to `ceiling` bytes, past which its oldest go; a stream
// emptied gives its chunks back, so an idle sender costs nothing. (A ring
// of retainBytes per stream, which this replaced, grew only when the lag
// filled it exactly at its end: a lag past the ring at any other point
// overwrote the oldest, 8–19 MB at each receiver of a 3 s 64 KiB bench
// (members a few ms apart) that a flush after a crash could not relay.)
class KeptStream {
 public:
  struct Entry { uint64_t first; uint16_t count; uint32_t length; const uint8_t* data; };

  // Keeps dg[0, n) (a datagram) within `ceiling` bytes, the oldest going
  // first to make room (their bytes added to *dropped); false if dg is not
  // kept (larger than the ceiling, or no chunk free: the caller makes room
  // elsewhere).
  bool Add(KeptChunks& pool, size_t ceiling, uint64_t first, uint16_t count, const uint8_t* dg, size_t n, size_t* dropped) {
    if (n > ceiling) return false;
    while (bytes_ + n > ceiling) *dropped += Drop(pool);
    if (chunks_.empty() || chunks_.back().used + n > KeptChunks::kBytes) {
      uint8_t* mem = pool.Get();
      if (!mem) return false;
      chunks_.push_back(Chunk{mem, 0, 0});
    }
    Chunk& c = chunks_.back();
    uint8_t* at = c.mem + c.used;
    std::memcpy(at, dg, n);
    c.used += uint32_t(n);
    c.live++;
    entries_.push_back(Entry{first, count, uint32_t(n), at});
    bytes_ += n;
    return true;
  }
  // Drops what every member holds (seqs through `stable`: nobody will ask
  // for them); returns the bytes dropped.
  size_t DropThrough(KeptChunks& pool, uint64_t stable) {
    size_t dropped = 0;
    while (!entries_.empty() && entries_.front().first + entries_.front().count - 1 <= stable) dropped += Drop(pool);
    return dropped;
  }
  // Drops the oldest datagram kept (0: none); returns its bytes.
  size_t DropOldest(KeptChunks& pool) { return entries_.empty() ? 0 : Drop(pool); }
  const std::deque<Entry>& entries() const { return entries_; }
  size_t bytes() const { return bytes_; }
  void Clear(KeptChunks& pool) {
    while (!entries_.empty()) Drop(pool);
  }

 private:
  struct Chunk {
    uint8_t* mem;   // the pool's
    uint32_t used;  // bytes written from its start
    uint32_t live;  // entries in it not dropped yet
  };
  // Entries and chunks are both oldest first, so the oldest entry lies in
  // the oldest chunk; a chunk whose last entry goes is given back at once.
  size_t Drop(KeptChunks& pool) {
    const size_t n = entries_.front().length;
    entries_.pop_front();
    bytes_ -= n;
    if (--chunks_.front().live == 0) {
      pool.Put(chunks_.front().mem);
      chunks_.pop_front();
    }
    return n;
  }
  std::deque<Chunk> chunks_;
  std::deque<Entry> entries_;
  size_t bytes_ = 0;
};

struct Core::Peer {
  uint64_t id = 0;
  uint32_t index = 0;
  bool active = false;
  bool suspected = false;  // reported silent (autoRemove off); cleared when heard
  bool excluded = false;   // leaving the view: not counted for our stability
  std::string name;
  Endpoint endpoint;
  uint64_t lastHeardNs = 0;
  uint64_t ackForUs = 0;  // their cumulative ack of our stream
  uint64_t ackSent = ~uint64_t(0);  // our ack of their stream in our last STATUS (none yet: all ones)
  uint64_t lowestKept = 1;
  Window win;
  // What this peer acked of each sender's stream (by sender incarnation), from its STATUS.
  std::unordered_map<uint64_t, uint64_t> acks;
  uint64_t streamStable = 0;  // every member holds this peer's stream up to here (reported to the sink)
  // Datagrams of its stream kept for other members (retainBytes), oldest first.
  KeptStream kept;
  uint64_t behindSinceNs = 0;  // since when it holds our full window (0: it does not)
  // What we may still send it in answer to its NAKs (bytes; a token bucket).
  double xmitBudget = -1;      // < 0: full, not yet used
  uint64_t xmitRefillNs = 0;
  bool slowReported = false;
};

}  // namespace troupe
