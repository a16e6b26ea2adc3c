#include "reliability.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

namespace troupe {

namespace {
enum SlotState : uint8_t { kEmpty = 0, kHeld = 1, kDeliveredEarly = 2 };
constexpr uint64_t kNever = ~uint64_t(0);
constexpr uint64_t kEagerStatusAcks = 4096;  // acks that make STATUS go out early
constexpr uint64_t kEagerStatusGapNs = 1'000'000;
constexpr uint64_t kSafeStatusGapNs = 200'000;  // at most one early STATUS per this, for safe messages
}  // namespace

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

Core::Core(const CoreConfig& config, Sink* sink, uint64_t* counters, uint64_t nowNs)
    : config_(config), sink_(sink), counters_(counters), rng_(config.seed | 1) {
  logSlots_ = std::max<size_t>(4, (config_.windowBytes + config_.datagramSize - 1) / config_.datagramSize);
  // new[] without () leaves the pages untouched until used: the window costs
  // memory only as far as it fills.
  logMem_.reset(new uint8_t[logSlots_ * config_.datagramSize]);
  log_.resize(logSlots_);
  scratch_.resize(kMaxDatagram);
  lastTimerNs_ = nowNs;
  nextStatusNs_ = nowNs;  // announce ourselves at once
  nextDeadline_ = nowNs;
  // We are always our own first peer; our datagrams come back by multicast loop.
  Peer* self = AddPeer(config_.self, config_.name.data(), config_.name.size(), Endpoint{}, 0, nowNs);
  selfIndex_ = self->index;
}

Core::~Core() {
  for (auto& p : peers_) {
    if (!p) continue;
    for (Slot& s : p->win.slots) std::free(s.data);
  }
}

uint64_t Core::Jitter(uint64_t base) {
  rng_ ^= rng_ << 13; rng_ ^= rng_ >> 7; rng_ ^= rng_ << 17;
  return base / 2 + (base ? rng_ % base : 0);  // uniform in [base/2, 3*base/2)
}

// ---------------------------------------------------------------- peers

Core::Peer* Core::FindPeer(uint64_t id) {
  if (lastPeer_ && lastPeer_->id == id && lastPeer_->active) return lastPeer_;
  auto it = byId_.find(id);
  if (it == byId_.end()) return nullptr;
  lastPeer_ = peers_[it->second].get();
  return lastPeer_;
}

Core::Peer* Core::AddPeer(uint64_t id, const char* name, size_t nameLen, const Endpoint& from,
                          uint64_t highestSent, uint64_t nowNs) {
  uint32_t index = 0;
  while (index < peers_.size() && peers_[index] && peers_[index]->active) index++;
  if (index == kMaxMembers) return nullptr;
  if (index == peers_.size()) peers_.emplace_back();
  auto p = std::make_unique<Peer>();
  p->id = id;
  p->index = index;
  p->active = true;
  p->endpoint = from;
  p->lastHeardNs = nowNs;
  p->name.assign(name, nameLen);
  // A new peer's stream is joined at its current end: we deliver what it
  // sends from now on.
  // Until its first STATUS about us arrives, a new member holds our stability
  // where it is: we cannot know what it has.
  p->ackForUs = stable_;
  p->win.next = highestSent + 1;
  p->win.highest = highestSent;
  p->win.mask = config_.receiveSlots - 1;
  peers_[index] = std::move(p);
  byId_[id] = index;
  sink_->PeerUp(index, id, name, nameLen);
  return peers_[index].get();
}

// A member holds our window when the window is full (a send was refused
// since the last timer, or no slot is free) and its ack is the one that
// stability waits for.
void Core::CheckSlow(uint64_t nowNs) {
  const bool full = windowHit_ || logCount_ == logSlots_;
  windowHit_ = false;
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_) continue;
    if (!full || p->excluded || p->ackForUs > stable_) {
      p->behindSinceNs = 0;
      p->slowReported = false;
      continue;
    }
    if (p->behindSinceNs == 0) p->behindSinceNs = nowNs;
    if (config_.slowTimeoutNs && !p->slowReported && nowNs - p->behindSinceNs >= config_.slowTimeoutNs) {
      p->slowReported = true;
      Count(k_slowReceivers);
      sink_->Slow(p->index, p->id, highestSent_ - std::min(highestSent_, p->ackForUs));
    }
  }
  if (config_.slowTimeoutNs && full) ScheduleAt(nowNs + std::max<uint64_t>(config_.slowTimeoutNs / 4, 1'000'000));
}

void Core::Lags(std::vector<PeerLag>* out, uint64_t nowNs) const {
  out->clear();
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_) continue;
    PeerLag l;
    l.id = p->id;
    l.acked = p->ackForUs;
    l.lag = highestSent_ - std::min(highestSent_, p->ackForUs);
    l.behindNs = p->behindSinceNs ? nowNs - p->behindSinceNs : 0;
    l.silentNs = nowNs - std::min(nowNs, p->lastHeardNs);
    l.excluded = p->excluded;
    out->push_back(l);
  }
}

Endpoint Core::EndpointOf(uint32_t index) const {
  return index < peers_.size() && peers_[index] ? peers_[index]->endpoint : Endpoint{};
}

void Core::RemovePeer(Peer* p, PeerDownReason why) {
  for (Slot& s : p->win.slots) { std::free(s.data); s = Slot{}; }
  Gauge(k_retainedBytes, counters_[k_retainedBytes] - p->keptBytes);
  p->kept.clear();
  p->keptBytes = 0;
  if (p->win.blocked) heldForSink_--;
  Gauge(k_heldMessages, counters_[k_heldMessages] - p->win.held);
  p->active = false;
  byId_.erase(p->id);
  for (auto& other : peers_) if (other && other->active) other->acks.erase(p->id);
  if (lastPeer_ == p) lastPeer_ = nullptr;
  sink_->PeerDown(p->index, p->id, why);
  AdvanceStable();  // it no longer holds our window back
}

// ---------------------------------------------------------------- sending

Core::SubmitStatus Core::Submit(uint8_t order, uint8_t frag, const uint8_t* data, size_t n, uint64_t nowNs) {
  if (n > MaxPayload()) return SubmitStatus::kTooBig;
  const size_t need = kMsgHeaderBytes + n;
  if (openCount_ > 0 && (openLength_ + need > config_.datagramSize || openCount_ == 0xffff)) FlushData(nowNs);
  if (openCount_ == 0) {
    if (logCount_ == logSlots_) { Count(k_windowFull); windowHit_ = true; return SubmitStatus::kWindowFull; }
    const size_t index = (logHead_ + logCount_) % logSlots_;
    log_[index] = LogEntry{nextSeq_, 0, uint32_t(kDataHeaderBytes), 0};
    logCount_++;
    openLength_ = kDataHeaderBytes;
  }
  LogEntry& e = log_[(logHead_ + logCount_ - 1) % logSlots_];
  uint8_t* m = LogBuffer((logHead_ + logCount_ - 1) % logSlots_) + openLength_;
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
  if (!config_.receiveOwn && (order == kOrder_record || order == kOrder_total || order == kOrder_safe || order == kOrder_sync)) {
    ownRecords_.push_back(OwnRecord{nextSeq_, view_, order, frag, std::vector<uint8_t>(data, data + n)});
    DeliverOwnRecords();
  }
  nextSeq_++;
  // frag: 0 whole, 1 first, 2 middle, 3 last (ts/fragments.ts)
  inMessage_ = frag == 1 || frag == 2;
  return SubmitStatus::kOk;
}

void Core::FlushData(uint64_t nowNs) {
  if (openCount_ == 0) return;
  const size_t index = (logHead_ + logCount_ - 1) % logSlots_;
  LogEntry& e = log_[index];
  uint8_t* dg = LogBuffer(index);
  EncodeHeader(dg, kData, config_.group, config_.self, view_, e.length);
  St64(dg + 24, e.firstSeq);
  St16(dg + 32, uint16_t(e.count));
  St16(dg + 34, 0);
  St32(dg + 36, 0);
  e.lastXmitNs = 0;
  openCount_ = 0;
  openLength_ = 0;
  highestSent_ = e.firstSeq + e.count - 1;
  logBytes_ += e.length;
  Gauge(k_logBytes, logBytes_);
  if (logBytes_ > counters_[k_logPeakBytes]) Gauge(k_logPeakBytes, logBytes_);
  Gauge(k_highestSent, highestSent_);
  Count(k_messagesSent, e.count);
  sink_->Send(dg, e.length, nullptr);
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
    uint8_t* dg = LogBuffer(index);
    St16(dg + 34, kDataRetransmit);
    Count(k_retransmits);
    sink_->Send(dg, e.length, &asker->endpoint);
  }
}

// ---------------------------------------------------------------- receiving

void Core::OnDatagram(const uint8_t* p, size_t n, const Endpoint& from, uint64_t nowNs) {
  Header h;
  Reject r = DecodeHeader(p, n, config_.group, &h);
  if (r == Reject::kNone) {
    Peer* peer = FindPeer(h.sender);
    // Data another member relays for the sender says nothing of the sender.
    const bool relayed = h.type == kData && n >= kDataHeaderBytes && (Ld16(p + 34) & kDataRelayed);
    if (peer && peer->suspected && h.type != kLeave && !relayed) {
      peer->suspected = false;
      sink_->PeerUp(peer->index, peer->id, peer->name.data(), peer->name.size());
    }
    switch (h.type) {
      case kData: {
        DataView d;
        r = DecodeData(p, n, &d);
        if (r != Reject::kNone) break;
        if (!peer) { Count(k_rejectUnknownSender); return; }
        if (h.sender == config_.self && !config_.receiveOwn) return;
        if (!relayed) peer->lastHeardNs = nowNs;
        OnData(peer, p, n, nowNs);
        return;
      }
      case kStatus: {
        StatusView s;
        r = DecodeStatus(p, n, &s);
        if (r != Reject::kNone) break;
        if (!peer) {
          peer = AddPeer(h.sender, s.name, s.nameLen, from, s.highestSent, nowNs);
          if (!peer) return;
        }
        peer->endpoint = from;
        peer->lastHeardNs = nowNs;
        OnStatus(peer, s, nowNs);
        return;
      }
      case kNak: {
        NakView k;
        r = DecodeNak(p, n, &k);
        if (r != Reject::kNone) break;
        // Only a member we know, from its own address, is answered (a NAK
        // costs us much more to answer than to send: no reflection).
        if (!peer || !(peer->endpoint == from)) { Count(k_nakRefused); return; }
        peer->lastHeardNs = nowNs;
        if (k.target == config_.self) OnNak(peer, k, nowNs);
        else Relay(peer, k, nowNs);
        return;
      }
      case kLeave:
        if (peer && peer->index != selfIndex_) {
          if (config_.autoRemove) RemovePeer(peer, PeerDownReason::kLeft);
          else sink_->PeerDown(peer->index, peer->id, PeerDownReason::kLeft);
        }
        return;
      case kControl:
        if (h.sender == config_.self) return;  // our own, back by multicast loop
        if (peer) peer->lastHeardNs = nowNs;
        Count(k_controlReceived);
        sink_->Control(h.sender, p + kHeaderBytes, n - kHeaderBytes);
        return;
    }
  }
  switch (r) {
    case Reject::kTruncated: Count(k_rejectTruncated); break;
    case Reject::kMagic: Count(k_rejectMagic); break;
    case Reject::kVersion: Count(k_rejectVersion); break;
    case Reject::kLength: Count(k_rejectLength); break;
    case Reject::kForeign: Count(k_rejectForeign); break;
    default: Count(k_rejectMalformed); break;
  }
}

void Core::Hold(Window& w, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  Slot& s = w.at(seq);
  s.view = view;
  s.data = static_cast<uint8_t*>(std::malloc(n ? n : 1));
  if (n) std::memcpy(s.data, data, n);
  s.state = kHeld;
  s.order = order;
  s.frag = frag;
  s.length = uint32_t(n);
  w.held++;
  Count(k_heldMessages);
}

void Core::OnData(Peer* peer, const uint8_t* dg, size_t n, uint64_t nowNs) {
  Window& w = peer->win;
  const uint32_t view = Ld32(dg + 16);
  const uint64_t first = Ld64(dg + 24);
  const uint16_t count = Ld16(dg + 32);
  const uint8_t* m = dg + kDataHeaderBytes;
  uint32_t fresh = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint64_t seq = first + i;
    const uint16_t len = Ld16(m);
    const uint8_t order = m[2], frag = m[3];
    const uint8_t* data = m + kMsgHeaderBytes;
    m += kMsgHeaderBytes + len;
    if (seq < w.next) { Count(k_duplicates); continue; }
    if (!w.inWindow(seq)) { Count(k_overrun); continue; }
    Slot& s = w.at(seq);
    if (s.state != kEmpty) { Count(k_duplicates); continue; }
    fresh++;
    if (s.nakAt) Count(k_repaired);
    if (seq == w.next && w.held == 0 && !w.blocked) {
      // The fast path: in order, nothing waiting.
      if (Hand(peer, seq, view, order, frag, data, len)) {
        s.nakAt = 0;
        w.next++;
        Count(k_messagesDelivered);
        continue;
      }
      w.blocked = true;
      heldForSink_++;
    } else if (order == kOrder_unordered && frag == kFrag_whole && !w.blocked &&
               Hand(peer, seq, view, order, frag, data, len)) {
      // Unordered: delivered on arrival; the slot remembers it so that it is
      // neither delivered again nor NAKed.
      s.state = kDeliveredEarly;
      s.nakAt = 0;
      w.held++;
      Count(k_heldMessages);
      Count(k_messagesDelivered);
      continue;
    }
    s.nakAt = 0;
    Hold(w, seq, view, order, frag, data, len);
  }
  if (fresh && config_.retainBytes) Retain(peer, dg, n, first, count);
  NoteHighest(w, first + count - 1, nowNs);
  if (w.held) DrainHeld(peer);
  acksSinceStatus_ += count;
  if (acksSinceStatus_ >= kEagerStatusAcks && nowNs + config_.statusIntervalNs - nextStatusNs_ >= kEagerStatusGapNs) {
    // Acks are piling up: tell the senders early so their windows open.
    nextStatusNs_ = nowNs;
    ScheduleAt(nowNs);
  }
  if (safeDelivered_) {
    // A safe message waits until every member is known to hold it: our ack
    // goes out soon (at most one early STATUS per kSafeStatusGapNs), not
    // at the next statusInterval.
    safeDelivered_ = false;
    const uint64_t at = std::max(nowNs, lastStatusNs_ + kSafeStatusGapNs);
    if (at < nextStatusNs_) {
      nextStatusNs_ = at;
      ScheduleAt(at);
    }
  }
}

// Every in-order delivery goes through here: a safe one asks for an early STATUS.
bool Core::Hand(Peer* p, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  if (!sink_->Deliver(p->index, seq, view, order, frag, data, n)) return false;
  if (order == kOrder_safe) safeDelivered_ = true;
  return true;
}

// Marks seqs between the old and the new highest as missing; they are NAKed
// after a jittered delay unless they arrive first.
void Core::NoteHighest(Window& w, uint64_t highest, uint64_t nowNs) {
  if (highest <= w.highest) return;
  const uint64_t from = std::max(w.highest + 1, w.next);
  const uint64_t to = std::min(highest, w.next + w.mask);
  // One jittered deadline for everything found missing now, so that a gap
  // of many seqs goes out as one NAK.
  const uint64_t nakAt = nowNs + Jitter(config_.nakDelayNs);
  for (uint64_t seq = from; seq <= to; seq++) {
    Slot& s = w.at(seq);
    if (s.state == kEmpty && s.nakAt == 0) {
      s.nakAt = nakAt;
      if (s.nakAt < w.nakCheckAt) w.nakCheckAt = s.nakAt;
    }
  }
  w.highest = highest;
  if (w.nakCheckAt != kNever) ScheduleAt(w.nakCheckAt);
}

void Core::DrainHeld(Peer* peer) {
  Window& w = peer->win;
  while (w.held) {
    Slot& s = w.at(w.next);
    if (s.state == kEmpty) break;
    if (s.state == kHeld) {
      if (!Hand(peer, w.next, s.view, s.order, s.frag, s.data, s.length)) {
        if (!w.blocked) { w.blocked = true; heldForSink_++; }
        return;
      }
      std::free(s.data);
      Count(k_messagesDelivered);
    }
    s = Slot{};
    w.held--;
    counters_[k_heldMessages]--;
    w.next++;
  }
  if (w.blocked) { w.blocked = false; heldForSink_--; }
}

bool Core::DeliverOwnRecords() {
  size_t done = 0;
  while (done < ownRecords_.size()) {
    const OwnRecord& r = ownRecords_[done];
    if (!sink_->Deliver(selfIndex_, r.seq, r.view, r.order, r.frag, r.bytes.data(), r.bytes.size())) break;
    done++;
  }
  ownRecords_.erase(ownRecords_.begin(), ownRecords_.begin() + done);
  return ownRecords_.empty();
}

bool Core::Pump(uint64_t nowNs) {
  if (!ownRecords_.empty() && !DeliverOwnRecords()) return false;
  if (heldForSink_ == 0) return true;
  for (auto& p : peers_) {
    if (p && p->active && p->win.blocked) {
      p->win.blocked = false;
      heldForSink_--;
      DrainHeld(p.get());
    }
  }
  return heldForSink_ == 0;
}

void Core::OnStatus(Peer* peer, const StatusView& s, uint64_t nowNs) {
  // Our own STATUS, back by multicast loop: it tells our own receive window
  // where our stream ends, unless we do not receive our own messages at all.
  if (peer->index == selfIndex_ && !config_.receiveOwn) return;
  Window& w = peer->win;
  peer->lowestKept = s.lowestKept;
  // Seqs the sender no longer keeps cannot be repaired: skip them, counted.
  // Not with agreed membership (autoRemove off): there a member never skips
  // a message; one that fell that far behind was excluded from the view and
  // learns so from the membership protocol.
  if (config_.autoRemove && peer->index != selfIndex_ && w.next < s.lowestKept && w.held == 0) {
    const uint64_t skip = std::min(s.lowestKept, s.highestSent + 1) - w.next;
    Count(k_unrecoverable, skip);
    for (uint64_t seq = w.next; seq < w.next + skip && seq - w.next <= w.mask; seq++) w.at(seq) = Slot{};
    w.next += skip;
    if (w.highest < w.next - 1) w.highest = w.next - 1;
  }
  NoteHighest(w, s.highestSent, nowNs);
  // Their acks of every stream: ours frees our log; every sender's, with
  // everyone else's, tells what all members hold (safe delivery).
  if (peer->index == selfIndex_) return;
  for (uint32_t i = 0; i < s.ackCount; i++) {
    const uint64_t sender = Ld64(s.acks + i * 16);
    const uint64_t ack = Ld64(s.acks + i * 16 + 8);
    // Only streams we know (a STATUS could name any number of made-up
    // senders); acks are cumulative and come again with the next STATUS.
    Peer* p = FindPeer(sender);
    if (!p) continue;
    uint64_t& known = peer->acks[sender];
    if (ack <= known) continue;
    known = ack;
    if (sender == config_.self) {
      if (ack > peer->ackForUs) peer->ackForUs = ack;
      AdvanceStable();
    }
    AdvanceStreamStable(p);
  }
}

// The minimum over the members (not excluded, ourselves included) of what
// they acked of `sender`'s stream; the sink hears when it grows.
void Core::AdvanceStreamStable(Peer* sender) {
  // Ours: what we hold of it (of our own stream, all we sent, if our own
  // messages do not come back to us).
  uint64_t stable = sender->index == selfIndex_ && !config_.receiveOwn ? highestSent_ : sender->win.next - 1;
  for (auto& p : peers_) {
    if (!p || !p->active || p->index == selfIndex_ || p->excluded) continue;
    if (p.get() == sender) continue;  // the sender holds its own stream
    auto it = p->acks.find(sender->id);
    stable = std::min(stable, it == p->acks.end() ? 0 : it->second);
  }
  if (stable <= sender->streamStable) return;
  sender->streamStable = stable;
  sink_->Stable(sender->index, stable);
}

void Core::Retain(Peer* p, const uint8_t* dg, size_t n, uint64_t first, uint16_t count) {
  p->kept.push_back(Peer::Kept{first, count, std::vector<uint8_t>(dg, dg + n)});
  p->keptBytes += n;
  counters_[k_retainedBytes] += n;
  while (p->keptBytes > config_.retainBytes && !p->kept.empty()) {
    const size_t len = p->kept.front().bytes.size();
    p->keptBytes -= len;
    counters_[k_retainedBytes] -= len;
    p->kept.pop_front();
  }
}

// Another member misses seqs of `target` and asks us: send what we kept,
// marked relayed, to it alone.
void Core::Relay(Peer* asker, const NakView& k, uint64_t nowNs) {
  Peer* p = FindPeer(k.target);
  if (!p) return;
  const Endpoint to = asker->endpoint;
  for (const Peer::Kept& d : p->kept) {
    const uint64_t last = d.first + d.count - 1;
    for (uint32_t i = 0; i < k.rangeCount; i++) {
      const uint64_t a = Ld64(k.ranges + i * 16), b = Ld64(k.ranges + i * 16 + 8);
      if (d.first > b || last < a) continue;
      if (!SpendXmit(asker, d.bytes.size(), nowNs)) return;
      std::memcpy(scratch_.data(), d.bytes.data(), d.bytes.size());
      St16(scratch_.data() + 34, kDataRetransmit | kDataRelayed);
      Count(k_relayed);
      sink_->Send(scratch_.data(), d.bytes.size(), &to);
      break;
    }
  }
}

void Core::Fetch(uint64_t sender, uint64_t holder, const uint64_t* ranges, size_t count) {
  Peer* h = FindPeer(holder);
  if (!h || h->index == selfIndex_ || h->endpoint.port == 0) return;
  uint8_t* p = scratch_.data();
  size_t done = 0;
  while (done < count) {
    const size_t batch = std::min(count - done, kMaxNakRanges);
    const size_t len = kNakFixedBytes + batch * 16;
    EncodeHeader(p, kNak, config_.group, config_.self, 0, uint32_t(len));
    St64(p + 24, sender);
    St16(p + 32, uint16_t(batch));
    St16(p + 34, 0);
    St32(p + 36, 0);
    for (size_t i = 0; i < batch; i++) {
      St64(p + kNakFixedBytes + i * 16, ranges[(done + i) * 2]);
      St64(p + kNakFixedBytes + i * 16 + 8, ranges[(done + i) * 2 + 1]);
    }
    Count(k_naksSent);
    sink_->Send(p, len, &h->endpoint);
    done += batch;
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

// ---------------------------------------------------------------- timers

void Core::SendNaks(Peer* peer, uint64_t nowNs) {
  Window& w = peer->win;
  if (nowNs < w.nakCheckAt) return;
  w.nakCheckAt = kNever;
  uint8_t* p = scratch_.data();
  uint32_t ranges = 0;
  uint64_t seqs = 0;
  auto flush = [&] {
    if (!ranges) return;
    const size_t len = kNakFixedBytes + ranges * 16;
    EncodeHeader(p, kNak, config_.group, config_.self, 0, uint32_t(len));
    St64(p + 24, peer->id);
    St16(p + 32, uint16_t(ranges));
    St16(p + 34, 0);
    St32(p + 36, 0);
    sink_->Send(p, len, &peer->endpoint);
    Count(k_naksSent);
    ranges = 0;
  };
  const uint64_t last = std::min(w.highest, w.next + w.mask);
  for (uint64_t seq = w.next; seq <= last; seq++) {
    Slot& s = w.at(seq);
    if (s.state != kEmpty) continue;
    if (s.nakAt == 0) {  // missing but not yet noted (e.g. skipped past the window before)
      s.nakAt = nowNs + Jitter(config_.nakDelayNs);
    }
    if (s.nakAt > nowNs) { w.nakCheckAt = std::min(w.nakCheckAt, s.nakAt); continue; }
    s.nakAt = nowNs + config_.nakRetryNs;
    w.nakCheckAt = std::min(w.nakCheckAt, s.nakAt);
    seqs++;
    uint8_t* r = p + kNakFixedBytes + (ranges - (ranges ? 1 : 0)) * 16;
    if (ranges && Ld64(r + 8) + 1 == seq) { St64(r + 8, seq); continue; }
    if (ranges == kMaxNakRanges) flush();
    r = p + kNakFixedBytes + ranges * 16;
    St64(r, seq);
    St64(r + 8, seq);
    ranges++;
  }
  flush();
  Count(k_nakedSeqs, seqs);
  if (w.nakCheckAt != kNever) ScheduleAt(w.nakCheckAt);
}

void Core::SendStatus(uint64_t nowNs) {
  lastStatusNs_ = nowNs;
  uint8_t* p = scratch_.data();
  const size_t nameLen = std::min(config_.name.size(), kMaxName);
  uint8_t* a = p + kStatusFixedBytes + nameLen;
  uint16_t acks = 0;
  for (auto& peer : peers_) {
    // A peer being left out (or not yet in our view) gets no ack from us: its
    // stream is not one we deliver, and an ack would tell it we hold what we
    // skipped (a member forgotten and heard again restarts at its newest seq).
    if (!peer || !peer->active || peer->excluded) continue;
    St64(a, peer->id);
    St64(a + 8, peer->win.next - 1);
    a += 16;
    acks++;
  }
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
}

void Core::OnTimer(uint64_t nowNs) {
  // If this thread itself was stopped (SIGSTOP, a debugger, an overloaded
  // machine) for longer than half the suspicion timeout, the silence we see
  // is ours: give everyone a fresh start instead of suspecting them all.
  const bool weStalled = nowNs - lastTimerNs_ > config_.suspectTimeoutNs / 2;
  lastTimerNs_ = nowNs;
  nextDeadline_ = kNever;
  if (nowNs >= nextStatusNs_) {
    SendStatus(nowNs);
    nextStatusNs_ = nowNs + config_.statusIntervalNs;
  }
  ScheduleAt(nextStatusNs_);
  // Our own receive window (and, alone in a group, nothing else) moves
  // stability without any STATUS from others; so does a member leaving.
  AdvanceStable();
  for (auto& p : peers_) if (p && p->active) AdvanceStreamStable(p.get());
  CheckSlow(nowNs);
  for (auto& p : peers_) {
    if (!p || !p->active) continue;
    if (weStalled) p->lastHeardNs = nowNs;
    if (p->index != selfIndex_ && nowNs - p->lastHeardNs > config_.suspectTimeoutNs) {
      if (config_.autoRemove) {
        Count(k_suspicions);
        RemovePeer(p.get(), PeerDownReason::kSilent);
        continue;
      }
      if (!p->suspected) {
        Count(k_suspicions);
        p->suspected = true;
        sink_->PeerDown(p->index, p->id, PeerDownReason::kSilent);
      }
    }
    SendNaks(p.get(), nowNs);
    if (p->win.nakCheckAt != kNever) ScheduleAt(p->win.nakCheckAt);
  }
}

bool Core::SendControl(const uint8_t* payload, size_t n, uint64_t to, uint64_t nowNs) {
  if (n + kHeaderBytes > config_.datagramSize) return false;
  uint8_t* p = scratch_.data();
  EncodeHeader(p, kControl, config_.group, config_.self, 0, uint32_t(n + kHeaderBytes));
  if (n) std::memcpy(p + kHeaderBytes, payload, n);
  Peer* peer = to ? FindPeer(to) : nullptr;
  const bool unicast = peer && peer->index != selfIndex_ && peer->endpoint.port != 0;
  Count(k_controlSent);
  sink_->Send(p, n + kHeaderBytes, unicast ? &peer->endpoint : nullptr);
  return true;
}

void Core::Exclude(uint64_t id, bool excluded) {
  Peer* p = FindPeer(id);
  if (!p || p->index == selfIndex_ || p->excluded == excluded) return;
  p->excluded = excluded;
  // Counted again: it holds stability from where it acked (what was freed
  // meanwhile, it fetches from other members in the flush).
  AdvanceStable();
}

void Core::Advance(uint64_t id, uint64_t seq) {
  Peer* p = FindPeer(id);
  if (!p) return;
  Window& w = p->win;
  while (w.next < seq) {
    Slot& s = w.at(w.next);
    if (s.state != kEmpty) {
      std::free(s.data);
      w.held--;
      counters_[k_heldMessages]--;
    }
    s = Slot{};
    w.next++;
  }
  if (w.highest < w.next - 1) w.highest = w.next - 1;
  if (w.held) DrainHeld(p);
}

void Core::Forget(uint64_t id) {
  Peer* p = FindPeer(id);
  if (!p || p->index == selfIndex_) return;
  RemovePeer(p, PeerDownReason::kForgotten);
}

void Core::Leave(uint64_t nowNs) {
  FlushData(nowNs);
  uint8_t* p = scratch_.data();
  EncodeHeader(p, kLeave, config_.group, config_.self, 0, kHeaderBytes);
  sink_->Send(p, kHeaderBytes, nullptr);
}

}  // namespace troupe
