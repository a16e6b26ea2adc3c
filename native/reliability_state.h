// The reliability core's own state, shared by its files (reliability.cc:
// peers, timers and membership calls; reliability_send.cc; reliability_receive.cc;
// reliability_stability.cc) and by nothing else.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "reliability.h"

namespace troupe {

enum SlotState : uint8_t { kEmpty = 0, kHeld = 1, kDeliveredEarly = 2 };
inline constexpr uint64_t kNever = ~uint64_t(0);
inline constexpr uint64_t kEagerStatusAcks = 4096;  // acks that make STATUS go out early
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
  std::vector<Slot> slots;  // mask + 1 of them, made when first needed (a peer
                            // that never sends costs no window)
  uint64_t mask = 0;
  Slot& at(uint64_t seq) {
    if (slots.empty()) slots.resize(mask + 1);
    return slots[seq & mask];
  }
  bool inWindow(uint64_t seq) const { return seq >= next && seq - next <= mask; }
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
  uint64_t lowestKept = 1;
  Window win;
  // Datagrams of its stream kept for other members (retainBytes), oldest first.
  // What this peer acked of each sender's stream (by sender incarnation), from its STATUS.
  std::unordered_map<uint64_t, uint64_t> acks;
  uint64_t streamStable = 0;  // every member holds this peer's stream up to here (reported to the sink)
  struct Kept { uint64_t first; uint16_t count; std::vector<uint8_t> bytes; };
  std::deque<Kept> kept;
  size_t keptBytes = 0;
  uint64_t behindSinceNs = 0;  // since when it holds our full window (0: it does not)
  // What we may still send it in answer to its NAKs (bytes; a token bucket).
  double xmitBudget = -1;      // < 0: full, not yet used
  uint64_t xmitRefillNs = 0;
  bool slowReported = false;
};

}  // namespace troupe
