// The threaded shell around the reliability core: one I/O thread per group
// member (epoll over the transport's sockets and an eventfd), the rings
// shared with JS, the counters. Knows nothing of N-API (the addon gives it a
// wake-up callback), nor which transport it has (transport.h).
//
// Shared memory (one region, handed to JS as an ArrayBuffer):
//
//   0                 u64 counters[kCounterCount]   (stats.h; written by C++)
//   4096              outbound ring  JS -> C++      (ring.h layout)
//   4096 + out        inbound ring   C++ -> JS
//
// Outbound records: type kSend, flags = order | frag << 4, payload = bytes.
// Inbound records (payload layouts, little-endian):
//   kMessage   flags = order | frag << 4;  u64 seq | u32 peer | u32 view | bytes
//   kPeerUp    u32 peer | u32 nameLen | u64 id | name
//   kPeerDown  u32 peer | u32 reason (1 left, 2 silent, 3 forgotten) | u64 id
//   kControl   u64 sender | payload (a CONTROL datagram of the membership protocol)
//   kStable    u32 peer | u32 0 | u64 seq (every member holds that stream up to seq)
//   kSlow      u32 peer | u32 0 | u64 id | u64 lag (it held our full window for slowTimeoutNs)
//
// Locking: the core is guarded by one mutex. The I/O thread holds it while it
// works; the JS thread takes it only with try_lock, in Flush() (packs and
// sends) and ReceiveOnCaller() (Node's loop found a socket readable), and
// otherwise leaves the work to the I/O thread (kicked through the eventfd).
// Neither side ever blocks on the other on the message path. The rare calls
// of the membership protocol (Control, Pause, Resume, Exclude, Forget) take
// the lock and wait for it: the I/O thread holds it for one short batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "assembly.h"
#include "inject.h"
#include "records.h"
#include "reliability.h"
#include "ring.h"
#include "seal.h"
#include "subject_filter.h"
#include "transport.h"

namespace troupe {

static_assert(kRec_pad == kRecordPad, "boundary.h and ring.h name the same padding record");
// CONTROL datagrams waiting for ring space beyond this are dropped (counted).
constexpr size_t kMaxQueuedControl = 4096;
constexpr size_t kCountersBytes = 4096;

struct EngineConfig {
  CoreConfig core;
  TransportConfig transport;
  InjectConfig inject;
  uint32_t outboundBytes = 4 << 20;  // ring capacities, powers of two
  uint32_t inboundBytes = 8 << 20;
  size_t maxMessageBytes = 8 << 20;  // the largest message put together (assembly.h)
  // Closed group: every datagram sealed with this key (seal.h). The core's
  // datagramSize is then the plain size, kSealOverhead below what is sent.
  bool sealed = false;
  uint8_t key[kKeyBytes] = {};
};

struct SharedRegion {
  uint8_t* base = nullptr;
  size_t size = 0;
  ~SharedRegion();
};

class Engine final : public Sink {
 public:
  using WakeFn = void (*)(void* ctx);
  Engine(const EngineConfig& config, WakeFn wake, void* wakeCtx);
  ~Engine() override;

  // Opens the sockets and starts the I/O thread. Returns 0 or an errno,
  // with `what` naming the failed step.
  int Start(std::string* what);
  // JS -> C++: outbound records are published; send them soon.
  void Flush();
  // Wake the I/O thread (JS freed inbound space, or closing).
  void Kick();
  // Called on the JS thread when a socket is readable (the addon polls the
  // sockets on Node's loop too): receives right here if the I/O thread is not
  // already at it, which saves a thread wake-up on the latency path. Returns
  // false while receiving is paused for a full inbound ring: stop polling
  // until the next Kick().
  // `fd`: the socket Node's loop found readable (only it is read: each
  // socket has its own poll, so a wake-up costs one recvmmsg, not one per
  // socket); -1: every socket (busy polling).
  bool ReceiveOnCaller(int fd = -1);
  void SetCallerPolls(bool on) { callerPolls_.store(on, std::memory_order_relaxed); Kick(); }
  // Sends LEAVE, stops the thread, closes the sockets. Idempotent.
  void Close();

  // Membership protocol (see Core). Control() returns false if too large.
  bool Control(const uint8_t* p, size_t n, uint64_t to);
  // Stops taking messages from the outbound ring at the next message
  // boundary. Returns the highest seq sent once everything taken is sent,
  // or -1 while a fragmented message is still going out (call again).
  int64_t Pause();
  void Resume();
  void Exclude(uint64_t id, bool excluded);
  void Forget(uint64_t id);
  void SetView(uint32_t view);
  void Advance(uint64_t id, uint64_t seq);
  void Fetch(uint64_t sender, uint64_t holder, const uint64_t* ranges, size_t count);
  // Closed groups: seal with `key` from now on, accept the old one for graceNs.
  // False if the group was not started with a key.
  bool Rekey(const uint8_t key[kKeyBytes], uint64_t graceNs);
  void Lags(std::vector<PeerLag>* out);
  // Addresses of members (discovery, gossip): a unicast-only group sends to them too.
  void AddPeers(const std::vector<Endpoint>& peers);
  // transport 'auto': the member `peer` does not (on) hear our multicast: unicast to it too
  // (our own id: our own multicast does not come back to us).
  void SetUnicast(uint64_t peer, bool on);
  // transport 'auto': since our own multicast last came back to us (max: never).
  uint64_t OwnMulticastSilentNs();
  // The patterns of JS's subscriptions (ts/subjects.ts); null: no filtering.
  void SetSubjects(const std::vector<std::string>* patterns);

  std::shared_ptr<SharedRegion> region() const { return region_; }
  uint32_t outboundOffset() const { return kCountersBytes; }
  uint32_t inboundOffset() const { return uint32_t(kCountersBytes + RingView::TotalBytes(config_.outboundBytes)); }
  uint64_t self() const { return config_.core.self; }
  // After Start(): our address, and the sockets Node's loop polls too.
  Endpoint local() const { return transport_->local(); }
  std::array<int, Transport::kSockets> sockets() const { return transport_->sockets(); }
  uint32_t maxPayload() const { return core_->MaxPayload(); }
  // JS takes a message put together here (an assembled record's handle); any thread.
  bool TakeMessage(uint64_t handle, MessageBytes* out);
  // The memory messageAt records point into (null: none), and its length.
  std::shared_ptr<uint8_t> ReceiveMemory(size_t* bytes) const;
  // JS's thread, as the inbound ring's consumer (no lock): copies the
  // published records, at most maxBytes of them (or one), into `out`, a
  // messageAt record as the message record it stands for (its bytes
  // copied in), and hands their space back.
  enum class Taken { kNone, kTaken, kNoMemory };
  Taken TakeInbound(size_t maxBytes, MessageBytes* out);

  // Sink
  void Send(const uint8_t* p, size_t n, const Endpoint* to) override;
  void SendLasting(const uint8_t* p, size_t n, const Endpoint* to) override;
  bool Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) override;
  void PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) override;
  void PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) override;
  void PeerRemoved(uint32_t peer) override;
  void Control(uint64_t sender, const uint8_t* p, size_t n) override;
  void Stable(uint32_t peer, uint64_t seq) override;
  void Slow(uint32_t peer, uint64_t id, uint64_t lag) override;

 private:
  void Run();
  void ReceiveFrom(int fd, uint64_t now);
  void ReceiveHeld(uint64_t now);
  bool ProcessPending(uint64_t now);
  bool RoomFor(size_t bound);
  uint8_t* Pin(const Received& d);
  void Unpin(uint8_t* unit, uint8_t* spare);
  void ReleasePins();
  bool BatchPending() const { return pendingNext_ < received_.count; }
  void DrainOutbound(uint64_t now);
  void PublishInbound();
  bool FlushControl();
  void WatchSockets(bool on);

  // Who may touch what. Two threads: JS's (the addon's calls, and receiving
  // on Node's loop through ReceiveOnCaller) and the I/O thread (Run). One
  // mutex, mu_, guards everything that changes while both run; the rest is
  // set before the thread starts, or atomic, as each field says.

  // Set in the constructor and Start(), read-only once the thread runs.
  EngineConfig config_;
  WakeFn wake_;
  void* wakeCtx_;
  std::shared_ptr<SharedRegion> region_;
  uint64_t* counters_;          // in region_; written under mu_, read by JS without a lock (gauges)
  RingView outView_, inView_;   // their head/tail/wake/blocked words are atomics (ring.h)
  int epoll_ = -1, event_ = -1;
  // Chosen in Start() from config_ (wrapped in the fault injector when a test
  // asks). Its sockets stay fixed until Close() and are read by both threads;
  // everything else, sending and receiving, happens under mu_.
  std::unique_ptr<Transport> transport_;
  std::thread thread_;          // JS thread only (Start, Close)

  // Guarded by mu_ (the I/O thread takes it for each round; JS takes it, or
  // try_locks it on the receive path, for every call).
  std::mutex mu_;
  RingConsumer outbound_;       // JS produces into this ring without the lock (SPSC)
  RingProducer inbound_;        // JS consumes from this ring without the lock (SPSC)
  std::unique_ptr<Core> core_;  // (the pointer is set before the thread starts)
  std::unique_ptr<Sealer> sealer_;  // (likewise); the transport seals and opens with it
  bool watching_ = true;        // the I/O thread's epoll watches the sockets
  bool inboundDirty_ = false;   // records committed, not yet published
  bool paused_ = false;         // a flush: stop taking messages at a boundary

  // Atomics, read by both threads without the lock.
  std::atomic<bool> running_{false};      // release on start/stop, acquire in Run
  std::atomic<bool> callerPolls_{false};  // relaxed: a hint; Kick() follows a change

  // JS thread only.
  bool closed_ = false;

  // Everything below: guarded by mu_.

  // The transport's last batch. While the inbound ring is full the rest of
  // it waits here and the sockets are not read.
  Transport::Batch received_;
  int pendingNext_ = 0;

  // Peer events and CONTROL datagrams that found the ring full; they go out
  // before any message.
  std::deque<std::vector<uint8_t>> control_;
  // The subjects JS subscribed to (null: every message goes to JS), and the
  // skipped record that the next dropped message may extend.
  std::unique_ptr<SubjectFilter> filter_;
  SkipRun skipRun_;
  // Messages larger than a datagram, put together for JS (its Park/Take
  // have their own lock: JS takes without mu_). While more bytes of them
  // wait for JS than the inbound ring holds, datagrams wait, as for a full ring.
  Assembler assembler_;
  // Units of the core's receive pool (DatagramPool) that JS's records point
  // into (messageAt), each until JS's head passes its last record (`end`,
  // a ring position): a whole message of a large datagram reaches JS as a
  // reference, not a copy. At most kPinnedUnits; past that, copies.
  struct Pinned {
    uint8_t* unit;
    uint32_t end;
  };
  DatagramPool* pool_ = nullptr;   // set in Start(); null: no pins
  std::deque<Pinned> pins_;
  uint8_t* pinning_ = nullptr;     // the unit of the datagram being handed to the core
  bool pinUsed_ = false;           // a record points into it
  uint32_t pinEnd_ = 0;
  // transport 'auto': when each address's multicast last reached us.
  std::unordered_map<uint64_t, uint64_t> multicastHeard_;
  static uint64_t EndpointKey(const Endpoint& e) { return uint64_t(e.ip) << 16 | e.port; }
  void NoteMulticast(const Endpoint& from, uint64_t now);
  uint64_t MulticastSilentNs(const Endpoint& from, uint64_t now) const;  // UINT64_MAX: never heard
};

uint64_t MonotonicNs();

}  // namespace troupe
