// The reliability core (reliability.h): our stream. Submit packs messages into
// datagrams of the retransmit log, FlushData sends them, stability frees
// the log, NAKs are answered from it, and STATUS tells the others what we hold.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "reliability.h"
#include "reliability_state.h"

namespace troupe {

// ---------------------------------------------------------------- sending

Core::SubmitStatus Core::Submit(uint8_t order, uint8_t frag, const uint8_t* data, size_t n, uint64_t nowNs) {
  if (n > MaxPayload()) return SubmitStatus::kTooBig;
  // The window counts messages too: no more in flight than a receiver's
  // window has slots for (past them it would drop them: overrun).
  if (nextSeq_ - stable_ > config_.receiveSlots) return WindowFull();
  if (openCount_ > 0 && (openLength_ + kMsgHeaderBytes + n > config_.datagramSize || openCount_ == 0xffff)) {
    // Its start fills the open datagram, if it may be split (SplitRoom);
    // the rest opens the next (whose room SplitRoom found).
    if (const size_t head = SplitRoom(order, n)) {
      Append(order, frag == kFrag_whole || frag == kFrag_first ? kFrag_first : kFrag_middle, data, head);
      data += head;
      n -= head;
      frag = frag == kFrag_whole || frag == kFrag_last ? kFrag_last : kFrag_middle;
    }
    FlushData(nowNs);
  }
  if (openCount_ == 0) {
    size_t at;
    if (!LogRoom(&at)) return WindowFull();
    const size_t index = (logHead_ + logCount_) % logSlots_;
    log_[index] = LogEntry{nextSeq_, 0, uint32_t(kDataHeaderBytes), 0, 0, uint32_t(at)};
    logCount_++;
    openLength_ = kDataHeaderBytes;
  }
  Append(order, frag, data, n);
  return SubmitStatus::kOk;
}

// How much of a message of n bytes that does not fit the open datagram
// goes into it as a fragment (0: none; it starts the next datagram). A
// message splits if it is large (kSplitMin: small ones stay whole, no
// assembly at the receivers), the open datagram has kSplitRoom left, the
// window has room for the rest in a datagram of its own (so the message is
// taken whole or not at all), and its order counts no pieces: total, safe
// and sync messages and ORDER records are placed by the sequencer, and a
// member without its own messages is handed them, as they were written.
size_t Core::SplitRoom(uint8_t order, size_t n) const {
  const uint8_t base = BaseOrder(order);
  if (n < kSplitMin || openCount_ == 0xffff) return 0;
  if (base != kOrder_unordered && base != kOrder_fifo && base != kOrder_causal && base != kOrder_system) return 0;
  if (openLength_ + kMsgHeaderBytes + kSplitRoom > config_.datagramSize) return 0;
  if (nextSeq_ + 1 - stable_ > config_.receiveSlots) return 0;
  const size_t head = config_.datagramSize - openLength_ - kMsgHeaderBytes;
  const LogEntry& open = log_[(logHead_ + logCount_ - 1) % logSlots_];
  size_t at;
  return LogRoomAfter(LogTailAfter(open.offset + openLength_ + kMsgHeaderBytes + head), &at) ? head : 0;
}

// One message record into the open datagram.
void Core::Append(uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  const size_t need = kMsgHeaderBytes + n;
  LogEntry& e = log_[(logHead_ + logCount_ - 1) % logSlots_];
  uint8_t* m = LogData(e) + openLength_;
  St16(m, uint16_t(n));
  m[2] = order;
  m[3] = frag;
  if (n) std::memcpy(m + kMsgHeaderBytes, data, n);
  openLength_ += uint32_t(need);
  openCount_++;
  e.count = openCount_;
  e.length = openLength_;
  // A member that does not receive its own messages still needs those whose
  // order places them among everyone's (total, safe, sync) and, as the
  // sequencer, its own ORDER records: it gets each one here, stamped as it
  // goes out, in the order it goes out (JS does not deliver them).
  const uint8_t base = BaseOrder(order);
  if (!config_.receiveOwn && (base == kOrder_record || base == kOrder_total || base == kOrder_safe || base == kOrder_sync)) {
    ownRecords_.push_back(OwnRecord{nextSeq_, view_, order, frag, std::vector<uint8_t>(data, data + n)});
    DeliverOwnRecords();
  }
  nextSeq_++;
  // frag: 0 whole, 1 first, 2 middle, 3 last (ts/node/outbox.ts)
  inMessage_ = frag == kFrag_first || frag == kFrag_middle;
  FollowMessageSize(frag, n);
}

// A send found the window full: counted, and noted for the slow-receiver
// check (CheckSlow) and the round being measured (FollowAcks).
Core::SubmitStatus Core::WindowFull() {
  Count(k_windowFull);
  windowHit_ = roundLimited_ = true;
  return SubmitStatus::kWindowFull;
}

// The window follows the largest message of several datagrams sent lately
// (kWindowGrowth); a message of one only lets it shrink.
void Core::FollowMessageSize(uint8_t frag, size_t n) {
  if (frag == kFrag_whole) {
    largestMessage_ -= largestMessage_ / 8;
  } else {
    messageBytes_ = frag == kFrag_first ? n : messageBytes_ + n;
    if (messageBytes_ > largestMessage_) largestMessage_ = messageBytes_;
    else if (frag == kFrag_last) largestMessage_ -= largestMessage_ / 8;
  }
  sizeWindow_ = largestMessage_ * kMessagesInFlight;
  SetWindow();
}

void Core::SetWindow() {
  window_ = std::clamp(std::max(sizeWindow_, pathWindow_), baseWindow_, logCapacity_);
  Gauge(k_window, window_);
}

// Called with each ack of our stream. At the end of a round (every member
// acked what was sent when it began) in which the window was full, what they
// took in that round counts for the window being measured; after
// kProbeRounds of them, the next window to try, or the verdict on the one
// tried (reliability.h, kProbeStep).
void Core::FollowAcks(uint64_t nowNs) {
  if (freedBytes_ == 0) return;
  const uint64_t rtt = nowNs - std::min(nowNs, newestFreedSentNs_);
  if (minRttNs_ == 0 || rtt < minRttNs_) {
    minRttNs_ = rtt;
    Gauge(k_ackRoundTripNs, rtt);
  }
  roundBytes_ += freedBytes_;
  freedBytes_ = 0;
  if (stable_ < roundEndSeq_) return;
  // Over the longer of the round's acks and its sends: acks that come
  // bunched (a STATUS frees much at once) would make it look faster.
  const uint64_t elapsed = std::max(nowNs - roundStartNs_, newestFreedSentNs_ - std::min(newestFreedSentNs_, roundStartSentNs_));
  const bool counts = roundStartNs_ != 0 && roundLimited_ && elapsed > 0;
  Taken& taken = taken_[size_t(phase_)];
  if (counts) { taken.bytes += roundBytes_; taken.ns += elapsed; taken.rounds++; }
  // The next round starts now, or, with nothing in flight, at the next send
  // (FlushData): a pause would count as a slow round.
  roundStartNs_ = stable_ >= highestSent_ ? 0 : nowNs;
  roundStartSentNs_ = newestFreedSentNs_;
  roundEndSeq_ = highestSent_ + 1;
  roundBytes_ = 0;
  roundLimited_ = false;
  // (A held window's stretch ends after holdRounds_, or kProbeHoldNs of
  // rounds once it has kProbeRounds: rounds of a slow path are long.)
  const bool held = phase_ == Phase::kHold && (taken.rounds >= holdRounds_ || taken.ns >= kProbeHoldNs);
  if (taken.rounds < kProbeRounds || (phase_ == Phase::kHold && !held)) return;
  switch (phase_) {
    case Phase::kHold: {
      Gauge(k_deliveryRate, uint64_t(taken.Rate()));
      const size_t up = std::min(logCapacity_, size_t(double(pathWindow_) * kProbeStep));
      const size_t down = std::max(baseWindow_, size_t(double(pathWindow_) / kProbeStep));
      // Larger only where the round trip may hold the rate (kBdpGain), and
      // past what the size of messages asks for already.
      const double bdp = taken.Rate() * double(minRttNs_) * 1e-9;
      const bool canUp = up > pathWindow_ && up > sizeWindow_ && kBdpGain * bdp > double(pathWindow_);
      const bool canDown = down < pathWindow_;
      heldWindow_ = pathWindow_;
      if (canUp && (probeUp_ || !canDown)) triedWindow_ = up;
      else if (canDown) triedWindow_ = down;
      else { taken = Taken{}; return; }
      pathWindow_ = triedWindow_;
      phase_ = Phase::kTry;
      break;
    }
    case Phase::kTry:
      pathWindow_ = heldWindow_;
      phase_ = Phase::kCheck;
      break;
    case Phase::kCheck: {
      const double held = (taken_[size_t(Phase::kHold)].Rate() + taken.Rate()) / 2;
      const double ratio = taken_[size_t(Phase::kTry)].Rate() / std::max(held, 1.0);
      const bool up = triedWindow_ > heldWindow_;
      const bool keep = up ? ratio >= kProbeGain : ratio >= kProbeKeep;
      if (keep) pathWindow_ = triedWindow_;
      // A way that paid is tried again; one that did not, the other way
      // next, and tries that fail come less often.
      probeUp_ = up == keep;
      holdRounds_ = keep ? kProbeRounds : std::min(holdRounds_ * 2, kProbeRounds * kProbeBackoff);
      phase_ = Phase::kHold;
      break;
    }
  }
  taken_[size_t(phase_)] = Taken{};
  SetWindow();
}

// Where the next datagram may go in the log: a whole datagramSize free
// after the newest one (or at 0 when that does not fit before the end), and
// an entry free. False: the window is full.
bool Core::LogRoom(size_t* at) const { return LogRoomAfter(logTail_, at); }

// Room for one more datagram if the log's tail were at `tail`.
bool Core::LogRoomAfter(size_t tail, size_t* at) const {
  const size_t need = config_.datagramSize;
  if (logCount_ == 0) { *at = 0; return true; }
  if (logCount_ == logSlots_) return false;
  const size_t head = log_[logHead_].offset;
  if (tail > head) {
    // Not wrapped: free after the tail, and before the head.
    if (tail + need <= window_) { *at = tail; return true; }
    if (need <= head) { *at = 0; return true; }
    return false;
  }
  // Wrapped: free between the tail and the head.
  if (tail + need <= head) { *at = tail; return true; }
  return false;
}

void Core::FlushData(uint64_t nowNs) {
  if (openCount_ == 0) return;
  const size_t index = (logHead_ + logCount_ - 1) % logSlots_;
  LogEntry& e = log_[index];
  uint8_t* dg = LogData(e);
  logTail_ = LogTailAfter(e.offset + e.length);
  EncodeHeader(dg, kData, config_.group, config_.self, view_, e.length);
  St64(dg + 24, e.firstSeq);
  St16(dg + 32, uint16_t(e.count));
  St16(dg + 34, 0);
  St32(dg + 36, 0);
  e.lastXmitNs = 0;
  e.sentNs = nowNs;
  if (roundStartNs_ == 0) roundStartNs_ = roundStartSentNs_ = nowNs;  // (a round of acks begins: FollowAcks)
  openCount_ = 0;
  openLength_ = 0;
  highestSent_ = e.firstSeq + e.count - 1;
  logBytes_ += e.length;
  Gauge(k_logBytes, logBytes_);
  if (logBytes_ > counters_[k_logPeakBytes]) Gauge(k_logPeakBytes, logBytes_);
  Gauge(k_highestSent, highestSent_);
  Count(k_messagesSent, e.count);
  sink_->SendLasting(dg, e.length, nullptr);
  // A sender whose own messages do not come back to it acks its stream as
  // all it sent (SendStatus): that ack piles up as it sends, and the others
  // keep its stream for relaying until they hear it.
  if (!config_.receiveOwn) NoteAcks(e.count, e.length, nowNs);
}

// Frees log entries that every member holds.
void Core::AdvanceStable() {
  uint64_t stable = highestSent_;
  for (auto& p : peers_) {
    if (!p || !p->active) continue;
    if (p->index == selfIndex_) {
      if (config_.receiveOwn) stable = std::min(stable, p->win.next - 1);
      continue;
    }
    if (p->excluded) continue;
    stable = std::min(stable, p->ackForUs);
  }
  if (stable <= stable_) return;
  stable_ = stable;
  Gauge(k_stableSeq, stable_);
  const size_t closed = logCount_ - (openCount_ > 0 ? 1 : 0);
  size_t freed = 0;
  while (freed < closed) {
    LogEntry& e = log_[logHead_];
    if (e.firstSeq + e.count - 1 > stable_) break;
    freedBytes_ += e.length;
    newestFreedSentNs_ = e.sentNs;
    logBytes_ -= e.length;
    logHead_ = (logHead_ + 1) % logSlots_;
    logCount_--;
    freed++;
  }
  Gauge(k_logBytes, logBytes_);
}

void Core::Retransmit(Peer* asker, uint64_t first, uint64_t last, uint64_t nowNs) {
  const size_t closed = logCount_ - (openCount_ > 0 ? 1 : 0);
  if (closed == 0) return;
  // Binary search for the first entry that ends at or after `first`.
  size_t lo = 0, hi = closed;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const LogEntry& e = log_[(logHead_ + mid) % logSlots_];
    if (e.firstSeq + e.count - 1 < first) lo = mid + 1; else hi = mid;
  }
  for (size_t i = lo; i < closed; i++) {
    const size_t index = (logHead_ + i) % logSlots_;
    LogEntry& e = log_[index];
    if (e.firstSeq > last) break;
    if (e.lastXmitNs && nowNs - e.lastXmitNs < config_.xmitHoldNs) { Count(k_xmitSuppressed); continue; }
    if (!SpendXmit(asker, e.length, nowNs)) return;
    e.lastXmitNs = nowNs;
    uint8_t* dg = LogData(e);
    // (A first send of it still queued by reference goes out flagged too:
    // receivers do not act on the flag.)
    St16(dg + 34, kDataRetransmit);
    Count(k_retransmits);
    sink_->SendLasting(dg, e.length, &asker->endpoint);
  }
}

void Core::OnNak(Peer* asker, const NakView& k, uint64_t nowNs) {
  Count(k_naksReceived);
  const uint64_t oldest = logCount_ ? log_[logHead_].firstSeq : nextSeq_;
  bool older = false;
  for (uint32_t i = 0; i < k.rangeCount; i++) {
    const uint64_t first = Ld64(k.ranges + i * 16), last = Ld64(k.ranges + i * 16 + 8);
    Retransmit(asker, first, std::min(last, highestSent_), nowNs);
    if (first < oldest) older = true;
  }
  // Freed from the log already (the asker was left out of our stability for
  // a while): what we kept of our own stream may still have it.
  if (older) Relay(asker, k, nowNs);
}

// Each member may have kXmitBurstWindows windows re-sent to it at once, and
// kXmitRateWindows windows a second after that. What is over the budget is
// skipped (counted): the asker NAKs again later.
bool Core::SpendXmit(Peer* asker, size_t bytes, uint64_t nowNs) {
  const double burst = double(config_.windowBytes) * kXmitBurstWindows;
  if (asker->xmitBudget < 0) {
    asker->xmitBudget = burst;
    asker->xmitRefillNs = nowNs;
  }
  const double refill = double(nowNs - asker->xmitRefillNs) * 1e-9 * double(config_.windowBytes) * kXmitRateWindows;
  asker->xmitBudget = std::min(burst, asker->xmitBudget + refill);
  asker->xmitRefillNs = nowNs;
  if (asker->xmitBudget < double(bytes)) { Count(k_xmitLimited); return false; }
  asker->xmitBudget -= double(bytes);
  return true;
}

void Core::SendStatus(uint64_t nowNs) {
  lastStatusNs_ = nowNs;
  uint8_t* p = scratch_.data();
  const size_t nameLen = std::min(config_.name.size(), kMaxName);
  uint8_t* a = p + kStatusFixedBytes + nameLen;
  uint16_t acks = 0;
  // Acks are cumulative: a STATUS carries those that moved since our last
  // one, and every kFullStatusEvery-th all of them (a member that missed one,
  // or is new, has them by then). A member's STATUS costs the others what
  // moved, not one ack per member of the group every interval.
  const bool full = statusCount_++ % kFullStatusEvery == 0;
  for (auto& peer : peers_) {
    // A peer being left out (or not yet in our view) gets no ack from us: its
    // stream is not one we deliver, and an ack would tell it we hold what we
    // skipped (a member forgotten and heard again restarts at its newest seq).
    if (!peer || !peer->active || peer->excluded) continue;
    // Our own stream, when it does not come back to us: we hold all we sent
    // (as AdvanceStreamStable counts it). Acked as 0, the others would keep
    // it for relaying to us until their rings overflowed.
    const uint64_t ack = peer->index == selfIndex_ && !config_.receiveOwn ? highestSent_ : peer->win.next - 1;
    if (!full && ack == peer->ackSent) continue;
    peer->ackSent = ack;
    St64(a, peer->id);
    St64(a + 8, ack);
    a += 16;
    acks++;
  }
  if (!full) Count(k_statusDeltas);
  const size_t len = a - p;
  EncodeHeader(p, kStatus, config_.group, config_.self, 0, uint32_t(len));
  St64(p + 24, highestSent_);
  const uint64_t lowestKept = logCount_ ? log_[logHead_].firstSeq : nextSeq_;
  St64(p + 32, std::min(lowestKept, highestSent_ + 1));
  p[40] = uint8_t(nameLen);
  p[41] = 0;
  St16(p + 42, acks);
  St32(p + 44, 0);
  std::memcpy(p + kStatusFixedBytes, config_.name.data(), nameLen);
  sink_->Send(p, len, nullptr);
  Count(k_statusSent);
  acksSinceStatus_ = 0;
  ackedBytesSinceStatus_ = 0;
}

}  // namespace troupe
