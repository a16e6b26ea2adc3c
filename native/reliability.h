// Reliable FIFO multicast as a sans-IO state machine.
//
// Input: datagrams (with the sender's endpoint), messages to send, and the
// time. Output, through a Sink: datagrams to send, messages delivered in
// per-sender order, and peers heard or lost. The core owns no socket, no
// thread and no clock, so tests and the simulator drive it with made-up time.
//
// Sender side: each message gets the next seq; messages are packed into the
// open datagram, which lives in a slot of the retransmit log. A full log is
// the flow-control window: Submit() returns false until STATUS acks from
// every member make old datagrams stable and free their slots.
//
// Receiver side, per sender: `next` is the next seq to deliver. In-order
// messages go straight to the sink; messages after a gap wait in a slot.
// A gap is NAKed after a jittered delay (reordering is normal); a seq once
// NAKed is not NAKed again before nakRetry; the sender ignores repeat NAKs for
// a datagram it retransmitted within xmitHold. STATUS carries the sender's
// highest seq, so a lost last message is noticed, and each member's
// cumulative acks, which give stability. See docs/ARCHITECTURE.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mapped_memory.h"
#include "stats.h"
#include "wire.h"

namespace troupe {

class DatagramPool;  // datagram_pool.h
struct KeptMemory;  // reliability_state.h

struct Endpoint {
  uint32_t ip = 0;    // IPv4, network byte order
  uint16_t port = 0;  // network byte order
  bool operator==(const Endpoint& o) const { return ip == o.ip && port == o.port; }
};

// kSilent with autoRemove off is a suspicion: the peer stays until Forget()
// (PeerUp is sent again if it is heard from after all).
enum class PeerDownReason : uint8_t { kLeft = kDown_left, kSilent = kDown_silent, kForgotten = kDown_forgotten };  // boundary.h

class Sink {
 public:
  virtual ~Sink() = default;
  // `to` == nullptr: multicast to the group. The bytes are only valid during the call.
  virtual void Send(const uint8_t* p, size_t n, const Endpoint* to) = 0;
  // The same for a datagram of the retransmit log: its bytes stay as they
  // are until the core is next asked to Submit (the only call that reuses
  // the log's memory), so they need not be copied before then.
  virtual void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) { Send(p, n, to); }
  // Returns false when there is no room; the core keeps the message and
  // tries again on Pump().
  // `view` is the view the sender stamped on the datagram (0 before views are agreed).
  virtual bool Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) = 0;
  virtual void PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) = 0;
  virtual void PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) = 0;
  // The peer's number is free from now on (another member may get it): what
  // the sink keeps of it (a message being put together) goes.
  virtual void PeerRemoved(uint32_t peer) {}
  // A CONTROL datagram (membership protocol) from `sender`; the payload only.
  virtual void Control(uint64_t sender, const uint8_t* p, size_t n) = 0;
  // Every member (not excluded) now holds `peer`'s stream up to `seq`: safe delivery.
  virtual void Stable(uint32_t peer, uint64_t seq) = 0;
  // `peer` has held our window full for slowTimeoutNs: it is `lag` of our
  // messages behind. Reported once per stretch (again after it catches up).
  virtual void Slow(uint32_t peer, uint64_t id, uint64_t lag) {}
};

// How far one member is behind our stream (Core::Lags).
struct PeerLag {
  uint64_t id = 0;
  uint64_t acked = 0;       // its cumulative ack of our stream
  uint64_t lag = 0;         // our messages it does not hold yet (highest sent - acked)
  uint64_t behindNs = 0;    // how long it has held our full window (0: it does not)
  uint64_t silentNs = 0;    // since we last heard from it
  bool excluded = false;    // leaving the view: not waited for
  Endpoint at;              // where its datagrams come from
  uint64_t multicastSilentNs = 0;  // transport 'auto': since its multicast last reached us (the engine's; max: never)
};

// The core's settings. Group (ts/options.ts) states the library's defaults
// and always passes them; the values here serve the native tests and a
// manual core given fewer options, and test/options.test.js checks that the
// ones Group also has agree with it.
struct CoreConfig {
  uint32_t group = 0;
  uint64_t self = 1;              // our incarnation id, never 0
  std::string name;               // our member name (<= kMaxName bytes)
  uint32_t datagramSize = kMaxDatagram;  // bytes, kMinDatagram..kMaxDatagram (Group: on loopback)
  uint64_t windowBytes = 2 << 20;  // flow-control window (it grows for large messages: kWindowGrowth)
  uint32_t receiveSlots = 65536;  // per-sender receive window, messages, power of 2
  uint64_t statusIntervalNs = 10'000'000;
  uint64_t nakDelayNs = 1'000'000;
  uint64_t nakRetryNs = 10'000'000;
  uint64_t xmitHoldNs = 2'000'000;
  uint64_t suspectTimeoutNs = 1'000'000'000;
  // A member that holds our window full this long is reported (Sink::Slow); 0: never.
  uint64_t slowTimeoutNs = 0;
  bool receiveOwn = true;
  // true: a silent peer is removed (heard-from membership). false: it is
  // only reported (suspected); the membership protocol decides, with
  // Exclude() and Forget().
  bool autoRemove = true;
  // Received DATA datagrams are kept until every member holds them, so that
  // this member can give them to one that misses them when the sender
  // cannot (the flush, after a crash): up to kWindowGrowth × this per sender
  // (KeptStream), all senders' together at most kKeptShares × this (past
  // either, the stream being kept gives up its oldest, then the largest
  // other: counted, keptDropped). 0: none kept.
  uint64_t retainBytes = 0;
  uint64_t seed = 1;
  // A client of the group (open groups, ts/clients/): it takes part in no
  // stream and no membership, and sends and receives CONTROL only: no
  // STATUS, no NAK, no LEAVE; what else reaches it is dropped, counted.
  bool client = false;
};

// Senders of CONTROL datagrams that are not peers (clients, to the member
// they talk to; members, to a client), and where they sent from: a reply
// goes back there. At most this many; the one heard from longest ago makes room.
constexpr size_t kMaxContacts = 4096;

// A STATUS carries the acks that moved since the last one; every this many
// STATUS, all of them.
constexpr uint64_t kFullStatusEvery = 8;

// Every member sends a STATUS to the group each interval, so each reads one
// from every member. Past this many members the interval grows with the
// group (statusInterval × members / this), so that a member reads about
// this many STATUS per statusInterval whatever the group's size; it never
// grows past suspectTimeout / kHeartbeatsPerSuspect (STATUS is also the
// heartbeat). Early STATUS (acks piling up, safe messages) are not spaced
// by it: a busy stream's acks do not wait for a large group's interval.
constexpr size_t kStatusFanIn = 16;
constexpr uint64_t kHeartbeatsPerSuspect = 8;

// The flow-control window follows the size of the messages sent: it holds
// kMessagesInFlight of the largest of several datagrams sent lately (each
// one's size counted as its fragments go; the largest decays by an eighth
// with each message after it), from windowBytes up to kWindowGrowth ×
// windowBytes. Measured
// (1 -> 3, loopback, 32 KiB datagrams, MB/s per receiver): a larger window
// helps messages of several datagrams (64 KiB: 495 with 2 MiB, 794 with 4,
// 809 with 8; 1 MiB: 466–507 with 2, 870–983 with 8) and hurts those of one
// (16 KiB: 337 with 2 MiB, 262 with 8; 8,000 B: 371 against 247; 1,000 B
// likewise): so only messages of several datagrams count, 64 of them in
// flight. What receivers keep of each sender for relaying may reach the
// same kWindowGrowth × retainBytes (KeptStream).
constexpr size_t kWindowGrowth = 4;
constexpr size_t kMessagesInFlight = 64;

// A message that does not fit what is left of the open datagram starts the
// next one, unless it is of kSplitMin bytes or more and kSplitRoom or more
// is left: then its start fills the open datagram as a fragment (receivers
// put it together: assembly.h) and the rest opens the next (Core::SplitRoom).
// A stream of 64 KiB messages (65,536 B: more than a datagram's 65,463)
// then takes ~1 datagram a message instead of 2 (the second of ~200 B: the
// same per-datagram cost for a few bytes). Small messages stay whole.
constexpr size_t kSplitMin = 4096;
constexpr size_t kSplitRoom = 1024;

// What a member keeps for relaying, all senders together: this many
// retainBytes (64 MiB at the default window: four senders far apart at
// their largest, or sixteen at their first size).
constexpr size_t kKeptShares = 16;

// The window also follows the rate at which every member takes our stream,
// measured from our own acks (Core::FollowAcks), by trying. A round lasts
// until every member acks what was sent when it began; only rounds in which
// the window was full count (a sender that sends little says nothing of the
// path). After some rounds at the held window (kProbeRounds, more after
// tries that failed: up to kProbeBackoff times as many), kProbeRounds at a
// window kProbeStep larger (or smaller), then kProbeRounds at the held one
// again (a stretch at the held window ends after kProbeHoldNs once it has
// kProbeRounds: a slow path's rounds are long); the larger stays if the
// members took kProbeGain as much in the same time as at the held one
// (before and after: a process warming up, a machine getting busier change
// the rate whatever the window), the smaller if at least kProbeKeep as much. A larger window is tried only where the
// round trip may be what holds the rate: kBdpGain × the rate × the shortest
// ack round trip seen (the bandwidth-delay product) exceeds the window.
// Within the same bounds: windowBytes .. kWindowGrowth × windowBytes.
//
// Measured: on a path of 5 ms each way (test/reliability.test.js) a 64 KiB
// window grows to ~4× and the rate with it (7.6 k -> 24 k msgs/s); on
// loopback here it stays as configured. There a larger window only
// lengthens the queues: every try of 1.25× measured slower (ratios
// 0.58-1.06), and trying at all cost 15-30% at 1,000 B (502-536 k against
// 324-378 k msgs/s without the product's gate), so the gate keeps it from
// trying. A window from the product alone was not used: under load the ack
// round trip is the queue itself (2-30 ms with a full 2 MiB window; the
// unloaded 0.07-0.7 ms only seen after a second), so it grew to 6 MB at the
// start of every run (1,000 B: 243-352 k against 395-446 k).
constexpr size_t kProbeRounds = 16;
constexpr double kProbeStep = 1.25;
constexpr double kProbeGain = 1.15;
constexpr double kProbeKeep = 0.93;
constexpr size_t kProbeBackoff = 16;
constexpr uint64_t kProbeHoldNs = 1'000'000'000;  // ... or at most this long
constexpr double kBdpGain = 2;

// Retransmissions a member's NAKs may ask of us: this many windows
// (windowBytes) at once, and this many a second after that.
constexpr double kXmitBurstWindows = 4;
constexpr double kXmitRateWindows = 16;

class Core {
 public:
  Core(const CoreConfig& config, Sink* sink, uint64_t* counters, uint64_t nowNs);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  enum class SubmitStatus { kOk, kWindowFull, kTooBig };
  // Queue one message (or fragment) of ours into the open datagram.
  SubmitStatus Submit(uint8_t order, uint8_t frag, const uint8_t* data, size_t n, uint64_t nowNs);
  // Send the open datagram now, if it holds anything.
  void FlushData(uint64_t nowNs);
  // `hold`: the transport's hold on the unit of receivePool() the datagram
  // lies in (Received::hold); the core may take the unit to keep the
  // datagram, leaving a fresh one there. nullptr: the bytes are the caller's.
  void OnDatagram(const uint8_t* p, size_t n, const Endpoint& from, uint64_t nowNs, uint8_t** hold = nullptr);
  // The units the transport should receive into, so that a datagram kept
  // for relaying is not copied (nullptr: nothing is kept).
  DatagramPool* receivePool();
  // Status, NAKs and suspicion. Call when NextDeadline() has passed.
  void OnTimer(uint64_t nowNs);
  uint64_t NextDeadline() const { return nextDeadline_; }
  // Retry deliveries held back because the sink was full. Returns true when
  // nothing is left held back for that reason.
  bool Pump(uint64_t nowNs);
  void Leave(uint64_t nowNs);

  // Membership protocol support (ts/membership/).
  // Sends a CONTROL datagram: unicast to peer `to` if it is known, else multicast.
  bool SendControl(const uint8_t* p, size_t n, uint64_t to, uint64_t nowNs);
  // The peer no longer holds back our stability (it is leaving the view);
  // its stream is still received.
  void Exclude(uint64_t id, bool excluded = true);
  // Drops the peer and its receive window (it is out of the view).
  void Forget(uint64_t id);
  // The peer's messages before `seq` belong to views before ours: its window moves on to `seq`.
  void Advance(uint64_t id, uint64_t seq);
  // Asks `holder` for seqs of `sender` (ranges: first, last pairs): the
  // holder sends what it kept, or the sender itself retransmits.
  void Fetch(uint64_t sender, uint64_t holder, const uint64_t* ranges, size_t count);
  // True between the first and the last fragment of a message of ours.
  bool InMessage() const { return inMessage_; }
  // Stamps our datagrams from now on with view `view` (the open one goes out first).
  void SetView(uint32_t view, uint64_t nowNs) { FlushData(nowNs); view_ = view; }
  uint64_t HighestSent() const { return highestSent_; }
  // Where the peer's datagrams come from ({0,0} for ourselves or unknown).
  Endpoint EndpointOf(uint32_t index) const;
  Endpoint EndpointOfId(uint64_t id);
  // Every other member's lag behind our stream.
  void Lags(std::vector<PeerLag>* out, uint64_t nowNs) const;

  bool WindowOpen() const { size_t at; return openCount_ > 0 || LogRoom(&at); }
  uint32_t MaxPayload() const { return config_.datagramSize - kDataHeaderBytes - kMsgHeaderBytes; }
  uint64_t self() const { return config_.self; }
  const CoreConfig& config() const { return config_; }
  // Bytes a DATA datagram of `n` bytes with `count` messages can need in the sink.
  static size_t DeliveryBound(size_t n, size_t count) { return n + count * 32; }

 private:
  struct Slot;
  struct Window;
  struct Peer;
  // One datagram of our stream in the retransmit log: its bytes are
  // logMem_[offset, offset + length).
  struct LogEntry {
    uint64_t firstSeq;
    uint32_t count;
    uint32_t length;
    uint64_t lastXmitNs;
    uint64_t sentNs;  // first sent (the ack round trip: FollowAcks)
    uint32_t offset;
  };

  Peer* FindPeer(uint64_t id);
  Peer* AddPeer(uint64_t id, const char* name, size_t nameLen, const Endpoint& from, uint64_t highestSent, uint64_t nowNs);
  void RemovePeer(Peer* p, PeerDownReason why);
  void OnData(Peer* p, const uint8_t* dg, size_t n, uint64_t nowNs, uint8_t** hold);
  void OnStatus(Peer* p, const StatusView& s, uint64_t nowNs);
  void AdvanceStreamStable(Peer* sender);
  void OnNak(Peer* asker, const NakView& k, uint64_t nowNs);
  void Relay(Peer* asker, const NakView& k, uint64_t nowNs);
  bool SpendXmit(Peer* asker, size_t bytes, uint64_t nowNs);
  void Retain(Peer* p, const uint8_t* dg, size_t n, uint64_t first, uint16_t count, uint8_t** hold);
  void Hold(Window& w, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n);
  void DrainHeld(Peer* p);
  void NoteHighest(Window& w, uint64_t highest, uint64_t nowNs);
  void SendNaks(Peer* p, uint64_t nowNs);
  void SendStatus(uint64_t nowNs);
  void NoteAcks(uint64_t messages, uint64_t bytes, uint64_t nowNs);
  uint64_t StatusIntervalNs() const;
  void AdvanceStable();
  void FollowAcks(uint64_t nowNs);
  void SetWindow();
  SubmitStatus WindowFull();
  size_t SplitRoom(uint8_t order, size_t n) const;
  void Append(uint8_t order, uint8_t frag, const uint8_t* data, size_t n);
  bool LogRoomAfter(size_t tail, size_t* at) const;
  // Where the log's tail is after a datagram that ends at `end` (8-aligned).
  static size_t LogTailAfter(size_t end) { return (end + 7) & ~size_t(7); }
  void CheckSlow(uint64_t nowNs);
  bool Hand(Peer* p, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n);
  void Retransmit(Peer* asker, uint64_t first, uint64_t last, uint64_t nowNs);
  uint8_t* LogData(const LogEntry& e) { return logMem_.get() + e.offset; }
  bool LogRoom(size_t* at) const;
  void FollowMessageSize(uint8_t frag, size_t n);
  uint64_t Jitter(uint64_t base);
  void Count(Counter c, uint64_t n = 1) { counters_[c] += n; }
  void Gauge(Counter c, uint64_t v) { counters_[c] = v; }
  void ScheduleAt(uint64_t t) { if (t < nextDeadline_) nextDeadline_ = t; }

  CoreConfig config_;
  Sink* sink_;
  uint64_t* counters_;
  uint64_t rng_;

  std::vector<std::unique_ptr<Peer>> peers_;  // index = peer number given to the sink
  std::unique_ptr<KeptMemory> kept_;          // what every peer's kept stream holds, and the units
  std::unordered_map<uint64_t, uint32_t> byId_;
  Peer* lastPeer_ = nullptr;                  // cache for runs of datagrams from one sender
  uint32_t selfIndex_ = 0;

  // Our stream.
  uint64_t nextSeq_ = 1;
  uint64_t highestSent_ = 0;
  uint64_t stable_ = 0;
  // The retransmit log: the window. Datagrams lie in logMem_ as a ring of
  // bytes, each where the one before ended (or at 0 when a whole
  // datagramSize no longer fits before window_), so the window counts the
  // bytes sent, not datagrams: a small datagram (one message sent alone, at
  // a low rate) takes its own size, not datagramSize. logMem_ has room for
  // the largest window (kWindowGrowth × windowBytes) but its pages are
  // touched only as far as the window reaches. log_ is a ring of their
  // entries, oldest at logHead_.
  struct Unmap { size_t bytes; void operator()(uint8_t* p) const { UnmapMemory(p, bytes); } };
  std::unique_ptr<uint8_t, Unmap> logMem_{nullptr, Unmap{0}};
  size_t logCapacity_ = 0, logTail_ = 0;      // logTail_: where the newest datagram ends
  size_t window_ = 0;                         // the window now: baseWindow_..logCapacity_
  size_t baseWindow_ = 0;                     // windowBytes (at least 4 datagrams)
  size_t messageBytes_ = 0;                   // of the message being submitted, so far
  size_t largestMessage_ = 0;                 // the largest sent lately (decaying)
  size_t sizeWindow_ = 0;                     // what the size of messages asks (FollowMessageSize)
  size_t pathWindow_ = 0;                     // what the measured rate asks (FollowAcks)
  // Rounds of acks, and the windows tried (FollowAcks).
  uint64_t freedBytes_ = 0;                   // freed from the log since FollowAcks last looked
  uint64_t newestFreedSentNs_ = 0;            // when the newest datagram freed was sent
  uint64_t minRttNs_ = 0;                     // the shortest ack round trip seen (a gauge for users)
  uint64_t roundStartNs_ = 0, roundStartSentNs_ = 0, roundEndSeq_ = 0, roundBytes_ = 0;
  bool roundLimited_ = false;                 // the window was full in this round
  struct Taken {                              // what every member took in rounds at one window
    uint64_t bytes = 0, ns = 0;
    size_t rounds = 0;
    double Rate() const { return ns ? double(bytes) * 1e9 / double(ns) : 0; }
  };
  // What the rounds measure now: the held window, a window tried, the held one again.
  enum class Phase : uint8_t { kHold, kTry, kCheck };
  Phase phase_ = Phase::kHold;
  Taken taken_[3];                            // by phase
  bool probeUp_ = true;                       // which way the next try goes
  size_t heldWindow_ = 0, triedWindow_ = 0;
  size_t holdRounds_ = kProbeRounds;          // rounds at the held window before the next try
  std::vector<LogEntry> log_;                 // circular, logSlots_ entries
  size_t logSlots_ = 0, logHead_ = 0, logCount_ = 0;
  uint64_t logBytes_ = 0;
  uint32_t openCount_ = 0;                    // messages in the open datagram (the newest log entry)
  uint32_t openLength_ = 0;
  bool inMessage_ = false;
  bool windowHit_ = false;                    // a Submit found the window full since the last timer
  bool safeDelivered_ = false;                // a safe message was delivered: tell the others soon
  uint64_t lastStatusNs_ = 0;
  uint32_t view_ = 0;

  uint64_t nextStatusNs_ = 0;
  uint64_t statusCount_ = 0;                  // STATUS sent: every kFullStatusEvery-th carries every ack
  uint64_t lastTimerNs_ = 0;
  uint64_t acksSinceStatus_ = 0;
  uint64_t ackedBytesSinceStatus_ = 0;         // DATA bytes taken in since our last STATUS
  uint64_t nextDeadline_ = 0;
  uint64_t heldForSink_ = 0;                  // windows blocked on a full sink
  std::vector<uint8_t> scratch_;              // control datagrams
  struct Contact {
    Endpoint at;
    uint64_t heardNs;
  };
  std::unordered_map<uint64_t, Contact> contacts_;  // kMaxContacts
  void NoteContact(uint64_t id, const Endpoint& from, uint64_t nowNs);
  // Our own total, safe and sync messages and ORDER records, for a member
  // that does not receive its own messages: handed to the sink as they are
  // submitted (ts/member.ts); these wait for room in it. Bounded by what JS
  // submits while its inbound ring is full (the outbound ring, the window).
  struct OwnRecord {
    uint64_t seq;
    uint32_t view;
    uint8_t order;
    uint8_t frag;
    std::vector<uint8_t> bytes;
  };
  std::vector<OwnRecord> ownRecords_;
  bool DeliverOwnRecords();
};

}  // namespace troupe
