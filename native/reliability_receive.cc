// The reliability core (reliability.h): the others' streams. Datagrams are
// decoded, messages delivered in order or held in the receive window, and
// gaps NAKed after a jittered delay.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "reliability.h"
#include "reliability_state.h"

namespace troupe {

// ---------------------------------------------------------------- receiving

void Core::OnDatagram(const uint8_t* p, size_t n, const Endpoint& from, uint64_t nowNs, uint8_t** hold) {
  Header h;
  Reject r = DecodeHeader(p, n, config_.group, &h);
  if (r == Reject::kNone && config_.client) {
    // A client hears CONTROL only (its members'); the group's streams are not for it.
    if (h.type != kControl || h.sender == config_.self) { Count(k_rejectNotForClient); return; }
    NoteContact(h.sender, from, nowNs);
    Count(k_controlReceived);
    sink_->Control(h.sender, p + kHeaderBytes, n - kHeaderBytes);
    return;
  }
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
        OnData(peer, p, n, nowNs, hold);
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
        else NoteContact(h.sender, from, nowNs);  // (a client, or a joiner not heard yet)
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

void Core::NoteContact(uint64_t id, const Endpoint& from, uint64_t nowNs) {
  auto it = contacts_.find(id);
  if (it == contacts_.end() && contacts_.size() >= kMaxContacts) {
    auto oldest = contacts_.begin();
    for (auto c = contacts_.begin(); c != contacts_.end(); ++c) if (c->second.heardNs < oldest->second.heardNs) oldest = c;
    contacts_.erase(oldest);
  }
  contacts_[id] = Contact{from, nowNs};
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

void Core::OnData(Peer* peer, const uint8_t* dg, size_t n, uint64_t nowNs, uint8_t** hold) {
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
  // Kept for relaying a crashed sender's messages. Ours too: our log frees
  // what the view holds (stability leaves out members being left out or not
  // yet in the view), and such a member may still ask us (OnNak relays from
  // here); without our own the simulator's seeds 118, 120 and 181 end with
  // members missing messages. Kept until every member we know holds them
  // (AdvanceStreamStable).
  if (fresh && config_.retainBytes) Retain(peer, dg, n, first, count, hold);
  NoteHighest(w, first + count - 1, nowNs);
  if (w.held) DrainHeld(peer);
  NoteAcks(count, n, nowNs);
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

// Acks piling up (many messages, or a good part of a window of bytes): tell
// the others early, so that senders' windows open before they fill (and
// what members keep for relaying goes sooner); at most one early STATUS per
// kEagerStatusGapNs, and one held back by that gap goes when it ends, not at
// the next statusInterval (a sender may have stopped for our acks: no
// datagram would ask again).
void Core::NoteAcks(uint64_t messages, uint64_t bytes, uint64_t nowNs) {
  acksSinceStatus_ += messages;
  ackedBytesSinceStatus_ += bytes;
  if (acksSinceStatus_ < kEagerStatusAcks && ackedBytesSinceStatus_ < config_.windowBytes / kEagerStatusWindowShare) return;
  const uint64_t at = std::max(nowNs, lastStatusNs_ + kEagerStatusGapNs);
  if (at < nextStatusNs_) {
    nextStatusNs_ = at;
    ScheduleAt(at);
  }
}

// Every in-order delivery goes through here: a safe one asks for an early STATUS.
// Our own system-channel messages (bulk transfers, back by multicast loop with
// receiveOwn) come without their bytes: they keep the stream's seqs in step,
// and no room wants its own messages (a transfer's source skips a copy of
// everything it sends).
bool Core::Hand(Peer* p, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) {
  if (order == kOrder_system && p->index == selfIndex_) n = 0;
  if (!sink_->Deliver(p->index, seq, view, order, frag, data, n)) return false;
  if (BaseOrder(order) == kOrder_safe) safeDelivered_ = true;
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

}  // namespace troupe
