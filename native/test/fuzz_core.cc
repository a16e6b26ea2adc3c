// libFuzzer target: one troupe::Core (reliability.h) driven by a script of
// operations read from the fuzz input, with made-up time.
//
// Input:
//   byte 0      configuration: bit 0 autoRemove, bit 1 receiveOwn, bit 2
//               retainBytes 2048 (else 0), bits 3-4 receiveSlots 16 << 2k,
//               bits 5-6 datagramSize 512/1024/1472/8192, bit 7 windowBytes
//               64 KiB (else 4 KiB)
//   then ops, each an op byte and its fields, until the input ends:
//     op % 8 in 0..2  DATAGRAM  u16 len, u8 step, u8 route, then len bytes
//                     route: bits 0-1 source endpoint (one of 4 fake peers),
//                     bits 2-3 sender (0 = ourselves, 1-3 = peers 2-4),
//                     bit 4 keep the sender id of the bytes, bits 5-6 patch
//                     mode: 0 bytes as they are, 1 a valid header, 2 also a
//                     well-formed body, 3 also seqs small enough to meet the
//                     windows (see Patch)
//     3  TIMER     u8 step; OnTimer
//     4  SUBMIT    u8 len, u8 order|frag<<4, then len bytes; bit 3 of op: FlushData
//     5  LOOPBACK  u8 which: one of the last datagrams the core sent, back to itself
//     6  SINK      u8 budget: the sink takes that many more deliveries (255: all); Pump
//     7  MEMBER    u8 arg: bits 0-1 a peer, bits 2-4 the call (Exclude, Forget,
//                     Advance, Fetch, SetView, Leave, SendControl, Lags), bits 5-7
//                     its argument
//   After every op, OnTimer runs if its deadline has passed (as the engine does).
//
// The sink checks, and traps on any violation:
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
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "reliability.h"
#include "stats.h"
#include "wire.h"

using namespace troupe;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr uint32_t kGroup = 0x1234abcd;
constexpr uint64_t kSelf = 1;
constexpr uint64_t kPeerIds[4] = {kSelf, 2, 3, 4};
const Endpoint kEndpoints[4] = {{0x0100007f, 0x1000}, {0x0200007f, 0x1000}, {0x0300007f, 0x1000}, {0x0400007f, 0x1000}};

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

uint64_t MessageKey(uint64_t sender, uint64_t seq, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  uint64_t h = Mix(Mix(Mix(Mix(sender, seq), order), frag), n);
  for (size_t i = 0; i < n; i++) h = Mix(h, data[i]);
  return h;
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool empty() const { return at_ >= n_; }
  uint8_t u8() { return at_ < n_ ? p_[at_++] : 0; }
  uint16_t u16() { return uint16_t(u8() | u8() << 8); }
  // Up to `n` bytes (fewer at the end of the input).
  const uint8_t* bytes(size_t n, size_t* got) {
    *got = std::min(n, n_ - std::min(at_, n_));
    const uint8_t* q = p_ + at_;
    at_ += *got;
    return q;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
};

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

class Harness : public Sink {
 public:
  explicit Harness(uint8_t config) {
    autoRemove_ = config & 1;
    CoreConfig c;
    c.group = kGroup;
    c.self = kSelf;
    c.name = "fuzz";
    c.autoRemove = autoRemove_;
    c.receiveOwn = config & 2;
    receiveOwn_ = c.receiveOwn;
    c.retainBytes = config & 4 ? 2048 : 0;  // small: the oldest kept datagrams get dropped
    c.receiveSlots = 16u << (2 * ((config >> 3) & 3));           // 16, 64, 256, 1024
    static const uint32_t kSizes[4] = {512, 1024, 1472, 8192};
    c.datagramSize = kSizes[(config >> 5) & 3];
    c.windowBytes = config & 0x80 ? 64 * 1024 : 4 * 1024;
    c.statusIntervalNs = 10'000'000;
    c.nakDelayNs = 1'000'000;
    c.nakRetryNs = 10'000'000;
    c.xmitHoldNs = 2'000'000;
    c.suspectTimeoutNs = 200'000'000;
    c.slowTimeoutNs = 50'000'000;
    c.seed = 7;
    counters_.assign(kCounterCount, 0);
    joining_ = kSelf;
    joinHighest_ = 0;
    core_ = std::make_unique<Core>(c, this, counters_.data(), now_);
    joining_ = 0;
    Check(models_.size() == 1 && models_[0].up && models_[0].id == kSelf);
  }

  void Run(Reader& in) {
    while (!in.empty()) {
      const uint8_t op = in.u8();
      switch (op % 8) {
        case 0: case 1: case 2: Datagram(in); break;
        case 3: Step(in.u8()); core_->OnTimer(now_); break;
        case 4: Submit(in, op & 8); break;
        case 5: Loopback(in.u8()); break;
        case 6: budget_ = in.u8(); core_->Pump(now_); break;
        case 7: Member(in.u8()); break;
      }
      if (now_ >= core_->NextDeadline()) core_->OnTimer(now_);
      CheckGauges();
    }
    // Let everything held back for the sink out, and the timers run dry.
    budget_ = 255;
    core_->Pump(now_);
    for (int i = 0; i < 4; i++) { Step(200); core_->OnTimer(now_); }
    CheckGauges();
  }

  // ---------------------------------------------------------------- Sink

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

 private:
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

  // The time step of one byte: fine steps around the NAK timers, coarse ones
  // up to beyond the suspicion timeout.
  void Step(uint8_t b) { now_ += b < 200 ? uint64_t(b) * 50'000 : uint64_t(b - 199) * 20'000'000; }

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

  void Datagram(Reader& in) {
    const size_t want = in.u16();
    Step(in.u8());
    const uint8_t route = in.u8();
    size_t got;
    const uint8_t* q = in.bytes(want, &got);
    const int mode = (route >> 5) & 3;
    std::vector<uint8_t> dg(q, q + got);
    if (mode > 0) Patch(dg, mode, route & 0x10 ? 0 : kPeerIds[(route >> 2) & 3]);
    Feed(dg, kEndpoints[route & 3]);
  }

  // Hands one datagram to the core, noting what the checks need to know:
  // its messages (what may be delivered), the STATUS that may add a peer.
  void Feed(const std::vector<uint8_t>& bytes, const Endpoint& from) {
    // A heap block of exactly the datagram's size, so that ASan catches any
    // read past its end.
    std::unique_ptr<uint8_t[]> p(new uint8_t[bytes.size() ? bytes.size() : 1]);
    const size_t n = bytes.size();
    if (n) std::memcpy(p.get(), bytes.data(), n);
    Header h;
    if (DecodeHeader(p.get(), n, kGroup, &h) == Reject::kNone) {
      DataView d;
      StatusView s;
      if (h.type == kData && DecodeData(p.get(), n, &d) == Reject::kNone) {
        const uint8_t* m = d.messages;
        for (uint32_t i = 0; i < d.count; i++) {
          const uint16_t len = Ld16(m);
          received_.insert(MessageKey(h.sender, d.firstSeq + i, m[2], m[3], m + kMsgHeaderBytes, len));
          m += kMsgHeaderBytes + len;
        }
      } else if (h.type == kStatus && DecodeStatus(p.get(), n, &s) == Reject::kNone) {
        joining_ = h.sender;
        joinHighest_ = s.highestSent;
        statusFrom_ = ModelOf(h.sender);
      }
    }
    current_ = p.get();
    currentSize_ = n;
    core_->OnDatagram(p.get(), n, from, now_);
    CatchUp();
    current_ = nullptr;
    currentSize_ = 0;
    joining_ = 0;
    statusFrom_ = -1;
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

  // Makes the bytes a datagram the core gets past its header check, and (mode
  // >= 2) one whose body decodes, so that the fuzzer spends its time on what
  // the core does with datagrams rather than on the codec.
  void Patch(std::vector<uint8_t>& d, int mode, uint64_t sender) {
    if (d.size() < kHeaderBytes) d.resize(kHeaderBytes);
    uint8_t type = d[3];
    if (type < kData || type > kControl) type = uint8_t(kData + type % 5);
    if (mode >= 2) {
      switch (type) {
        case kData: PatchData(d, mode); break;
        case kStatus: PatchStatus(d, mode); break;
        case kNak: PatchNak(d, mode); break;
        default: break;
      }
    }
    if (sender == 0) sender = Ld64(d.data() + 8);
    EncodeHeader(d.data(), type, kGroup, sender, Ld32(d.data() + 16), uint32_t(d.size()));
  }

  static void PatchData(std::vector<uint8_t>& d, int mode) {
    if (d.size() < kDataHeaderBytes + kMsgHeaderBytes) d.resize(kDataHeaderBytes + kMsgHeaderBytes);
    uint64_t first = Ld64(d.data() + 24);
    if (mode == 3) first %= 256;
    if (first == 0) first = 1;
    // Keep the whole messages that fit; the last one is cut to what is left.
    size_t at = kDataHeaderBytes;
    uint32_t count = 0;
    while (at + kMsgHeaderBytes <= d.size() && count < 0xffff) {
      uint8_t* m = d.data() + at;
      if (m[2] > kOrderMax && m[2] != kOrder_record) m[2] %= kOrderMax + 1;
      m[3] &= 3;
      const size_t room = d.size() - at - kMsgHeaderBytes;
      if (Ld16(m) > room) St16(m, uint16_t(room));
      at += kMsgHeaderBytes + Ld16(m);
      count++;
    }
    d.resize(at);
    if (first > ~uint64_t(0) - count) first = 1;
    St64(d.data() + 24, first);
    St16(d.data() + 32, uint16_t(count));
  }

  static void PatchStatus(std::vector<uint8_t>& d, int mode) {
    if (d.size() < kStatusFixedBytes) d.resize(kStatusFixedBytes);
    uint64_t highest = Ld64(d.data() + 24), lowest = Ld64(d.data() + 32);
    if (mode == 3) highest %= 256;
    const uint64_t bound = highest + 1;  // what the decoder allows; 0 when highest is the top seq
    if (lowest > bound) lowest = bound == 0 ? 0 : lowest % (bound + 1);
    const size_t nameLen = std::min({size_t(d[40]), kMaxName, d.size() - kStatusFixedBytes});
    const size_t acks = std::min<size_t>((d.size() - kStatusFixedBytes - nameLen) / 16, kMaxMembers);
    d.resize(kStatusFixedBytes + nameLen + acks * 16);
    for (size_t i = 0; mode == 3 && i < acks; i++) {
      uint8_t* a = d.data() + kStatusFixedBytes + nameLen + i * 16;
      St64(a, kPeerIds[a[0] & 3]);
      St64(a + 8, Ld64(a + 8) % 256);
    }
    St64(d.data() + 24, highest);
    St64(d.data() + 32, lowest);
    d[40] = uint8_t(nameLen);
    St16(d.data() + 42, uint16_t(acks));
  }

  static void PatchNak(std::vector<uint8_t>& d, int mode) {
    if (d.size() < kNakFixedBytes + 16) d.resize(kNakFixedBytes + 16);
    const size_t ranges = std::min<size_t>((d.size() - kNakFixedBytes) / 16, kMaxNakRanges);
    d.resize(kNakFixedBytes + ranges * 16);
    if (mode == 3) St64(d.data() + 24, kPeerIds[d[24] & 3]);
    for (size_t i = 0; i < ranges; i++) {
      uint8_t* r = d.data() + kNakFixedBytes + i * 16;
      uint64_t first = Ld64(r), last = Ld64(r + 8);
      if (mode == 3) { first %= 256; last = first + last % 16; }
      if (first == 0) first = 1;
      if (last < first) last = first;
      St64(r, first);
      St64(r + 8, last);
    }
    St16(d.data() + 32, uint16_t(ranges));
  }

  void Submit(Reader& in, bool flush) {
    const uint8_t len = in.u8(), kind = in.u8();
    size_t got;
    const uint8_t* data = in.bytes(len, &got);
    const uint8_t order = uint8_t(kind % (kOrderMax + 1)), frag = uint8_t((kind >> 4) & 3);
    const bool handed = !receiveOwn_ && (order == kOrder_total || order == kOrder_safe || order == kOrder_sync);
    if (handed) ownExpected_.push_back(Own{ownNext_, order, frag, std::vector<uint8_t>(data, data + got)});
    if (core_->Submit(order, frag, data, got, now_) == Core::SubmitStatus::kOk) {
      ownNext_++;
    } else if (handed) {
      ownExpected_.pop_back();  // not taken, so not handed over either
    }
    if (flush) core_->FlushData(now_);
  }

  void Loopback(uint8_t which) {
    if (sentNext_ == 0) return;
    const size_t back = std::min<size_t>(which % kSentKept, std::min<uint64_t>(sentNext_, kSentKept) - 1);
    const std::vector<uint8_t> d = sent_[(sentNext_ - 1 - back) % kSentKept];  // a copy: Feed may send
    Feed(d, kEndpoints[0]);
  }

  void Member(uint8_t arg) {
    const uint64_t id = kPeerIds[arg & 3];
    switch ((arg >> 2) & 7) {
      case 0: core_->Exclude(id, arg & 0x80); break;
      case 1: core_->Forget(id); break;
      case 2: {
        // The membership protocol moves a window on by a few seqs, never by
        // an absurd amount: that argument is not network input.
        const int i = ModelOf(id);
        if (i < 0) break;
        PeerModel& m = models_[i];
        const uint64_t to = m.next + (arg >> 5);
        if (to < m.next) break;  // past the last seq
        m.next = to;  // before the call: it delivers what was held from `to` on
        Settle(m);
        core_->Advance(id, to);
        break;
      }
      case 3: {
        const uint64_t ranges[2] = {1u + (arg >> 5), 8u + (arg >> 5)};
        core_->Fetch(id, kPeerIds[(arg >> 5) & 3], ranges, 1);
        break;
      }
      case 4: core_->SetView(arg >> 5, now_); break;
      case 5: core_->Leave(now_); break;
      case 6: {
        const uint8_t payload[8] = {arg, 1, 2, 3, 4, 5, 6, 7};
        core_->SendControl(payload, arg >> 5, arg & 0x80 ? 0 : id, now_);
        break;
      }
      case 7: {
        std::vector<PeerLag> lags;
        core_->Lags(&lags, now_);
        for (const PeerLag& l : lags) {
          Check(l.id != kSelf && ModelOf(l.id) >= 0);
          Check(l.lag <= core_->HighestSent());
        }
        break;
      }
    }
  }

  void CheckGauges() {
    constexpr uint64_t kAbsurd = uint64_t(1) << 48;  // an underflow, not a count
    Check(counters_[k_heldMessages] < kAbsurd);
    Check(counters_[k_retainedBytes] < kAbsurd);
    Check(counters_[k_logBytes] < kAbsurd);
  }

  bool autoRemove_ = false;
  uint64_t now_ = 1'000'000'000;
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* p, size_t n) {
  if (n == 0) return 0;
  Reader in(p + 1, n - 1);
  Harness h(p[0]);
  h.Run(in);
  return 0;
}
