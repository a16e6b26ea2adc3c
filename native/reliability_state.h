// The reliability core's own state, shared by its files (reliability.cc:
// peers, timers and membership calls; reliability_send.cc; reliability_receive.cc;
// reliability_stability.cc) and by nothing else.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
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

// The datagrams of one sender's stream that a member keeps for the others
// (relayed when one misses them: a flush after a crash): a ring of bytes,
// made when first used, each datagram copied where the newest ended (or at
// 0 when it does not fit before the ring's end); what it would overwrite,
// the oldest, goes first. One copy a datagram, and no allocation after the
// first (a vector each cost a malloc, a free and page faults).
//
// The ring's end moves: it starts at `base` bytes, and rather than drop a
// datagram not every member holds yet it moves on (doubling, up to
// `ceiling`: the sender's window grows for large messages, and members may
// be that far apart); emptied, the ring starts again at its beginning and
// at `base`. So a stream of small messages touches `base` bytes at most.
class KeptRing {
 public:
  struct Entry { uint64_t first; uint16_t count; uint32_t offset; uint32_t length; };

  // Keeps dg[0, n); returns how the bytes kept changed (n less what was dropped).
  int64_t Add(size_t base, size_t ceiling, uint64_t first, uint16_t count, const uint8_t* dg, size_t n) {
    if (n == 0 || n > ceiling) return 0;
    if (!mem_) { mem_.reset(new uint8_t[ceiling]); capacity_ = ceiling; tail_ = 0; }
    if (end_ == 0) end_ = std::min(std::max(base, n), capacity_);
    int64_t change = int64_t(n);
    size_t at = tail_;
    if (at + n > end_) {
      if (!entries_.empty() && entries_.front().offset < tail_ && entries_.front().offset < n) {
        // Not wrapped, and wrapping would overwrite the oldest: move the end on instead.
        while (end_ < capacity_ && at + n > end_) end_ = std::min(capacity_, end_ * 2);
      }
      if (at + n > end_) {
        // Wrap: what lies between the tail and the end is the oldest; drop it.
        while (!entries_.empty() && entries_.front().offset >= tail_) change -= Drop();
        at = 0;
      }
    }
    while (!entries_.empty() && Overlaps(entries_.front(), at, n)) change -= Drop();
    std::memcpy(mem_.get() + at, dg, n);
    entries_.push_back(Entry{first, count, uint32_t(at), uint32_t(n)});
    tail_ = at + n;
    bytes_ += n;
    return change;
  }
  // Drops what every member holds (seqs through `stable`: nobody will ask
  // for them); returns the bytes dropped. Emptied, the ring starts again at
  // its beginning and its smallest end: a stream whose datagrams become
  // stable soon touches only the first pages of its ring.
  size_t DropThrough(uint64_t stable) {
    size_t dropped = 0;
    while (!entries_.empty() && entries_.front().first + entries_.front().count - 1 <= stable) dropped += Drop();
    if (entries_.empty()) tail_ = end_ = 0;
    return dropped;
  }
  // Drops the oldest datagram kept (0: none); returns its bytes.
  size_t DropOldest() {
    if (entries_.empty()) return 0;
    const size_t n = Drop();
    if (entries_.empty()) tail_ = end_ = 0;
    return n;
  }
  const uint8_t* Data(const Entry& e) const { return mem_.get() + e.offset; }
  const std::deque<Entry>& entries() const { return entries_; }
  size_t bytes() const { return bytes_; }
  void Clear() { entries_.clear(); bytes_ = 0; tail_ = end_ = 0; }

 private:
  static bool Overlaps(const Entry& e, size_t at, size_t n) { return e.offset < at + n && at < size_t(e.offset) + e.length; }
  size_t Drop() {
    const size_t n = entries_.front().length;
    entries_.pop_front();
    bytes_ -= n;
    return n;
  }
  std::unique_ptr<uint8_t[]> mem_;
  size_t capacity_ = 0, end_ = 0, tail_ = 0, bytes_ = 0;
  std::deque<Entry> entries_;
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
  KeptRing kept;
  uint64_t behindSinceNs = 0;  // since when it holds our full window (0: it does not)
  // What we may still send it in answer to its NAKs (bytes; a token bucket).
  double xmitBudget = -1;      // < 0: full, not yet used
  uint64_t xmitRefillNs = 0;
  bool slowReported = false;
};

}  // namespace troupe
