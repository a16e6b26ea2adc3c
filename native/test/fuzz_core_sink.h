// The sink of the core fuzz target: fuzz_core.cc drives one Core with this
// as its Sink, and tells the model here what it fed in; the sink holds what
// the core hands over against that model and traps on any violation:
//   - per sender: deliveries come in seq order, each seq at most once; only
//     unordered whole messages (order 0, frag 0) may come early, ahead of a
//     gap. Seqs are skipped only where the core is allowed to: the join
//     point (highestSent + 1 of the STATUS that added the peer), Advance(),
//     and (autoRemove) seqs counted unrecoverable.
//   - a delivered message is one that was received for that sender and seq,
//     byte for byte; a delivery that points into the datagram being handled
//     lies inside it (held copies are read whole, so ASan checks them);
//   - Stable() grows per peer and never passes what we delivered; Slow() and
//     Lags() name only peers that are up, never us, lagging no more than we sent;
//   - peers come up only from a STATUS of that sender, go down only while
//     up, and never are we (the self peer) reported down;
//   - every datagram the core sends decodes cleanly (a relayed one carries
//     its original sender; everything else is ours);
//   - the gauges never underflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "reliability.h"
#include "stats.h"
#include "wire.h"

namespace troupe::fuzz {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr uint32_t kGroup = 0x1234abcd;
constexpr uint64_t kSelf = 1;
constexpr uint64_t kPeerIds[4] = {kSelf, 2, 3, 4};
const Endpoint kEndpoints[4] = {{0x0100007f, 0x1000}, {0x0200007f, 0x1000}, {0x0300007f, 0x1000}, {0x0400007f, 0x1000}};

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

inline uint64_t MessageKey(uint64_t sender, uint64_t seq, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  uint64_t h = Mix(Mix(Mix(Mix(sender, seq), order), frag), n);
  for (size_t i = 0; i < n; i++) h = Mix(h, data[i]);
  return h;
}

// What the sink knows of one peer number, to check the core's outputs.
struct PeerModel {
  bool up = false;
  bool suspected = false;
  uint64_t id = 0;
  std::string name;
  uint64_t next = 1;            // the lowest seq not delivered (nor skipped)
  std::set<uint64_t> early;     // delivered ahead of `next` (unordered)
  uint64_t stable = 0;
};

// The core's outputs, checked. What the driver feeds in (received_, the
// STATUS being handled, our own messages submitted, the datagram at hand)
// it notes in the fields below before the core sees it.
class CheckingSink : public Sink {
 public:
  void Send(const uint8_t* p, size_t n, const Endpoint* to) override {
    Check(n >= kHeaderBytes && n <= kMaxDatagram);
    Header h;
    Check(DecodeHeader(p, n, kGroup, &h) == Reject::kNone);
    switch (h.type) {
      case kData: {
        DataView d;
        Check(DecodeData(p, n, &d) == Reject::kNone);
        // Others' datagrams go out only as relays of what we kept, unicast.
        if (h.sender != kSelf) Check((d.flags & kDataRelayed) && to != nullptr);
        break;
      }
      case kStatus: { StatusView s; Check(h.sender == kSelf && DecodeStatus(p, n, &s) == Reject::kNone); break; }
      case kNak: { NakView k; Check(h.sender == kSelf && DecodeNak(p, n, &k) == Reject::kNone); break; }
      default: Check(h.sender == kSelf); break;
    }
    sent_[sentNext_ % kSentKept].assign(p, p + n);
    sentNext_++;
  }

  bool Deliver(uint32_t peer, uint64_t seq, uint32_t /*view*/, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) override {
    CatchUp();
    Check(peer < models_.size() && models_[peer].up);
    if (peer == 0 && !receiveOwn_) {
      // Without receiveOwn only our own total, safe and sync messages come,
      // as they are submitted: each once, in order.
      if (budget_ == 0) return false;
      if (budget_ != 255) budget_--;
      Check(!ownExpected_.empty() && ownExpected_.front().seq == seq && ownExpected_.front().order == order && ownExpected_.front().frag == frag);
      Check(ownExpected_.front().bytes == std::vector<uint8_t>(data, data + n));
      ownExpected_.pop_front();
      return true;
    }
    // Inside the datagram being handled, or a copy held by the core (read
    // whole below, so that ASan sees any overrun or use after free).
    if (data >= current_ && data < current_ + currentSize_) Check(n <= size_t(current_ + currentSize_ - data));
    const uint64_t key = MessageKey(models_[peer].id, seq, order, frag, data, n);
    if (budget_ == 0) return false;
    if (budget_ != 255) budget_--;
    Check(received_.count(key) == 1);  // received for that sender and seq, as it is
    PeerModel& m = models_[peer];
    Check(seq >= m.next && m.early.count(seq) == 0);  // exactly once
    if (seq == m.next) {
      m.next++;
      Settle(m);
    } else {
      Check(order == 0 && frag == 0);  // only unordered whole messages jump a gap
      m.early.insert(seq);
    }
    return true;
  }

  void PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) override {
    CatchUp();
    Check(nameLen <= kMaxName);
    const std::string named(name, nameLen);  // a copy: ASan checks the range
    if (peer >= models_.size()) models_.resize(peer + 1);
    PeerModel& m = models_[peer];
    if (m.up) {
      // Heard from again after being suspected: the same peer, same window.
      Check(m.id == id && m.suspected && m.name == named);
      m.suspected = false;
      return;
    }
    // A new peer: only from a STATUS of that sender, joined at its end.
    Check(joining_ == id);
    for (const PeerModel& o : models_) Check(!o.up || o.id != id);
    m = PeerModel{};
    m.up = true;
    m.id = id;
    m.name = named;
    m.next = joinHighest_ + 1;
  }

  void PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) override {
    CatchUp();
    Check(peer < models_.size() && models_[peer].up && models_[peer].id == id);
    Check(id != kSelf);
    PeerModel& m = models_[peer];
    if (autoRemove_ || why == PeerDownReason::kForgotten) {
      m.up = false;
    } else if (why == PeerDownReason::kSilent) {
      Check(!m.suspected);
      m.suspected = true;
    }
  }

  void Control(uint64_t sender, const uint8_t* p, size_t n) override {
    Check(sender != kSelf);
    Check(p == current_ + kHeaderBytes && n == currentSize_ - kHeaderBytes);
  }

  void Slow(uint32_t peer, uint64_t id, uint64_t lag) override {
    CatchUp();
    Check(peer < models_.size() && models_[peer].up && models_[peer].id == id && id != kSelf);
    Check(lag <= core_->HighestSent());
  }

  void Stable(uint32_t peer, uint64_t seq) override {
    CatchUp();
    Check(peer < models_.size() && models_[peer].up);
    PeerModel& m = models_[peer];
    // (Our own stream, without receiveOwn: stable up to what we sent.)
    Check(seq > m.stable && seq < (peer == 0 && !receiveOwn_ ? ownNext_ : m.next));
    m.stable = seq;
  }

  void CheckLags(const std::vector<PeerLag>& lags) {
    for (const PeerLag& l : lags) {
      Check(l.id != kSelf && ModelOf(l.id) >= 0);
      Check(l.lag <= core_->HighestSent());
    }
  }

  void CheckGauges() {
    constexpr uint64_t kAbsurd = uint64_t(1) << 48;  // an underflow, not a count
    Check(counters_[k_heldMessages] < kAbsurd);
    Check(counters_[k_retainedBytes] < kAbsurd);
    Check(counters_[k_logBytes] < kAbsurd);
  }

 protected:
  static constexpr size_t kSentKept = 8;
  // Our own messages the core should hand over (receiveOwn off), in order.
  struct Own {
    uint64_t seq;
    uint8_t order, frag;
    std::vector<uint8_t> bytes;
  };
  std::deque<Own> ownExpected_;
  uint64_t ownNext_ = 1;  // the seq our next submitted message gets
  bool receiveOwn_ = true;

  // `next` moves past seqs that were delivered early.
  static void Settle(PeerModel& m) {
    while (!m.early.empty() && *m.early.begin() <= m.next) {
      if (*m.early.begin() == m.next) m.next++;
      m.early.erase(m.early.begin());
    }
  }

  int ModelOf(uint64_t id) const {
    for (size_t i = 0; i < models_.size(); i++) if (models_[i].up && models_[i].id == id) return int(i);
    return -1;
  }

  // Seqs a sender no longer keeps are skipped (autoRemove only) when its
  // STATUS says so, and counted: the model skips them too, before it checks
  // anything the core does next.
  void CatchUp() {
    const uint64_t skipped = counters_[k_unrecoverable] - unrecoverableSeen_;
    if (!skipped) return;
    unrecoverableSeen_ = counters_[k_unrecoverable];
    Check(autoRemove_ && statusFrom_ >= 0 && models_[statusFrom_].up);
    PeerModel& m = models_[statusFrom_];
    Check(m.early.empty());  // the core skips only with nothing held
    m.next += skipped;
  }

  bool autoRemove_ = false;
  std::vector<uint64_t> counters_;
  std::unique_ptr<Core> core_;
  std::vector<PeerModel> models_;
  std::unordered_set<uint64_t> received_;
  uint8_t budget_ = 255;
  uint64_t joining_ = 0;      // sender of the STATUS being handled (may add a peer)
  uint64_t joinHighest_ = 0;  // its highestSent
  int statusFrom_ = -1;       // the model of that sender, if it was known already
  uint64_t unrecoverableSeen_ = 0;
  const uint8_t* current_ = nullptr;
  size_t currentSize_ = 0;
  std::vector<uint8_t> sent_[kSentKept];
  uint64_t sentNext_ = 0;
};

}  // namespace troupe::fuzz
