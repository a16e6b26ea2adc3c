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
// The sink (fuzz_core_sink.h) checks what the core hands over and traps on
// any violation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_core_sink.h"

namespace troupe::fuzz {
namespace {

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

class Harness : public CheckingSink {
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

 private:
  // The time step of one byte: fine steps around the NAK timers, coarse ones
  // up to beyond the suspicion timeout.
  void Step(uint8_t b) { now_ += b < 200 ? uint64_t(b) * 50'000 : uint64_t(b - 199) * 20'000'000; }

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
          // (Our own system-channel messages come back without their bytes: Core::Hand.)
          const bool ownSystem = h.sender == kSelf && m[2] == kOrder_system;
          received_.insert(MessageKey(h.sender, d.firstSeq + i, m[2], m[3], m + kMsgHeaderBytes, ownSystem ? 0 : len));
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
      if (BaseOrder(m[2]) > kOrderMax && m[2] != kOrder_system && m[2] != kOrder_record) m[2] %= kOrderMax + 1;
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
        CheckLags(lags);
        break;
      }
    }
  }

  uint64_t now_ = 1'000'000'000;
};

}  // namespace
}  // namespace troupe::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* p, size_t n) {
  if (n == 0) return 0;
  troupe::fuzz::Reader in(p + 1, n - 1);
  troupe::fuzz::Harness h(p[0]);
  h.Run(in);
  return 0;
}
