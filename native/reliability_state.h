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

#include "datagram_pool.h"
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

// What every kept stream of a core shares (KeptStream): the units, with the
// transport's (a quarter more than the bound for what copied datagrams
// leave unused at units' ends; `receiveUnits` for the transport), and what
// all streams hold together (the bound: kKeptShares × retainBytes).
struct KeptMemory {
  KeptMemory(size_t bound, size_t receiveUnits) : pool(bound + bound / 4, receiveUnits) {}
  DatagramPool pool;
  size_t held = 0;
};

// The datagrams of one sender's stream that a member keeps for the others
// (relayed when one misses them: a flush after a crash), oldest first. A
// large datagram (kKeepInPlaceMin or more) is kept where the transport
// received it, the stream taking its unit (DatagramPool); a smaller one is
// copied where the newest ended in the stream's open unit. A stream keeps
// up to `ceiling` bytes (a datagram kept in place counts its whole unit),
// past which its oldest go; one emptied gives its units back, so an idle
// sender costs nothing. (A ring of retainBytes per stream, which this
// replaced, grew only when the lag filled it exactly at its end: a lag past
// the ring at any other point overwrote the oldest, 8–19 MB at each receiver
// of a 3 s 64 KiB bench that a flush after a crash could not relay.)
class KeptStream {
 public:
  struct Entry {
    uint64_t first;
    uint16_t count;
    uint32_t length;
    uint32_t cost;  // what it counts against the bounds: length, or a unit when kept in place
    const uint8_t* data;
  };
  static constexpr size_t kKeepInPlaceMin = DatagramPool::kBytes / 2;

  // Keeps dg[0, n) within `ceiling` bytes, the oldest going first to make
  // room (their bytes added to *dropped): copied, or, when `unit` is given
  // (the pool's unit dg lies in, which the caller gives up), where it lies.
  // false if not kept (more than the ceiling, or no unit free: the caller
  // makes room elsewhere); the caller then still owns `unit`.
  bool Add(KeptMemory& m, size_t ceiling, uint64_t first, uint16_t count, const uint8_t* dg, size_t n, uint8_t* unit, size_t* dropped) {
    const size_t cost = unit ? DatagramPool::kBytes : n;
    if (cost > ceiling) return false;
    while (bytes_ + cost > ceiling) *dropped += Drop(m);
    const uint8_t* at = dg;
    if (unit) {
      m.pool.live(unit)++;  // (the engine may hold it too: JS's records point into it)
    } else {
      if (!open_ || used_ + n > DatagramPool::kBytes) {
        uint8_t* fresh = m.pool.Get();
        if (!fresh) return false;
        CloseOpen(m);
        open_ = fresh;
        used_ = 0;
      }
      std::memcpy(open_ + used_, dg, n);
      at = open_ + used_;
      used_ += n;
      m.pool.live(open_)++;
    }
    entries_.push_back(Entry{first, count, uint32_t(n), uint32_t(cost), at});
    bytes_ += cost;
    m.held += cost;
    return true;
  }
  // Drops what every member holds (seqs through `stable`: nobody will ask
  // for them); returns the bytes dropped.
  size_t DropThrough(KeptMemory& m, uint64_t stable) {
    size_t dropped = 0;
    while (!entries_.empty() && entries_.front().first + entries_.front().count - 1 <= stable) dropped += Drop(m);
    return dropped;
  }
  // Drops the oldest datagram kept (0: none); returns its bytes.
  size_t DropOldest(KeptMemory& m) { return entries_.empty() ? 0 : Drop(m); }
  const std::deque<Entry>& entries() const { return entries_; }
  size_t bytes() const { return bytes_; }
  void Clear(KeptMemory& m) {
    while (!entries_.empty()) Drop(m);
  }

 private:
  // A unit whose last datagram goes is given back at once (the open one
  // when another takes its place, or the stream empties).
  size_t Drop(KeptMemory& m) {
    const Entry e = entries_.front();
    entries_.pop_front();
    bytes_ -= e.cost;
    m.held -= e.cost;
    uint8_t* unit = m.pool.UnitOf(e.data);
    if (--m.pool.live(unit) == 0 && unit != open_) m.pool.Put(unit);
    if (entries_.empty()) CloseOpen(m);
    return e.length;
  }
  void CloseOpen(KeptMemory& m) {
    if (open_ && m.pool.live(open_) == 0) m.pool.Put(open_);
    open_ = nullptr;
  }
  std::deque<Entry> entries_;
  size_t bytes_ = 0;
  uint8_t* open_ = nullptr;  // where the next copied datagram goes, at used_
  size_t used_ = 0;
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
