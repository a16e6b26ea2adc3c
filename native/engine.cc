#include "engine.h"
#include "datagram_pool.h"
#include "mapped_memory.h"
#include "reliability_state.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace troupe {

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

SharedRegion::~SharedRegion() {
  UnmapMemory(base, size);
}

namespace {
constexpr uint64_t kMaxIdleWaitNs = 100'000'000;
}  // namespace

Engine::Engine(const EngineConfig& config, WakeFn wake, void* wakeCtx)
    : config_(config), wake_(wake), wakeCtx_(wakeCtx), assembler_(config.maxMessageBytes) {
  region_ = std::make_shared<SharedRegion>();
  region_->size = kCountersBytes + RingView::TotalBytes(config_.outboundBytes) + RingView::TotalBytes(config_.inboundBytes);
  region_->base = MapMemory(region_->size, Touch::kLater);
  counters_ = reinterpret_cast<uint64_t*>(region_->base);
  outView_ = RingView{region_->base + outboundOffset(), config_.outboundBytes};
  inView_ = RingView{region_->base + inboundOffset(), config_.inboundBytes};
  outbound_ = RingConsumer(outView_);
  inbound_ = RingProducer(inView_);
}

Engine::~Engine() { Close(); }

int Engine::Start(std::string* what) {
  if (!region_->base) { *what = "mmap"; return ENOMEM; }
  if (config_.sealed) {
    sealer_ = std::make_unique<Sealer>(config_.key, config_.core.self);
    if (!sealer_->ok()) { *what = "AES-256-GCM (OpenSSL)"; return ENOSYS; }
  }
  // The largest datagram the core sends (a STATUS may be larger than
  // datagramSize), sealed.
  const size_t maxDatagram = std::max<size_t>(config_.core.datagramSize, kStatusFixedBytes + kMaxName + kMaxMembers * 16) + kSealOverhead;
  config_.transport.receiveOwn = config_.core.receiveOwn;
  config_.transport.self = config_.core.self;
  transport_ = MakeTransport(config_.transport, sealer_.get(), counters_, maxDatagram);
  if (config_.inject.enabled()) transport_ = std::make_unique<FaultInjector>(std::move(transport_), config_.inject, counters_);
  int err = transport_->Open(config_.transport, what);
  if (err) return err;
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  event_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_ < 0 || event_ < 0) { *what = "epoll/eventfd"; return errno; }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = event_;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, event_, &ev);
  for (int fd : transport_->sockets()) {
    if (fd < 0) continue;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
  core_ = std::make_unique<Core>(config_.core, this, counters_, MonotonicNs());
  transport_->ReceiveInto(core_->receivePool());  // a datagram kept for relaying is then not copied
  // (A messageAt record's offset is 32 bits.)
  if (core_->receivePool() && core_->receivePool()->memory() && core_->receivePool()->bytes() <= UINT32_MAX) pool_ = core_->receivePool();
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { Run(); });
  return 0;
}

void Engine::Kick() {
  if (event_ < 0) return;
  const uint64_t one = 1;
  ssize_t r = write(event_, &one, sizeof one);
  (void)r;
}

void Engine::Flush() {
  if (!core_) return;
  if (mu_.try_lock()) {
    const uint64_t now = MonotonicNs();
    DrainOutbound(now);
    transport_->Flush();
    PublishInbound();
    mu_.unlock();
  } else {
    Kick();
  }
}

bool Engine::ReceiveOnCaller(int fd) {
  if (!core_ || closed_) return false;
  if (!mu_.try_lock()) return true;
  const uint64_t now = MonotonicNs();
  const uint64_t deadline = core_->NextDeadline();
  bool room = core_->Pump(now) && ProcessPending(now);
  if (room) {
    if (fd >= 0) ReceiveFrom(fd, now);
    else for (int s : transport_->sockets()) ReceiveFrom(s, now);
    ReceiveHeld(now);
    room = !BatchPending();
  }
  WatchSockets(room);
  DrainOutbound(now);
  // What we received may want a STATUS now (safe messages, piled-up acks):
  // send it here, or wake the I/O thread if it sleeps past the new deadline.
  if (MonotonicNs() >= core_->NextDeadline()) core_->OnTimer(MonotonicNs());
  const bool sooner = core_->NextDeadline() < deadline;
  transport_->Flush();
  PublishInbound();
  mu_.unlock();
  if (sooner) Kick();
  return room;
}

void Engine::Close() {
  if (closed_) return;
  closed_ = true;
  if (core_ && running_.load(std::memory_order_acquire)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      const uint64_t now = MonotonicNs();
      DrainOutbound(now);
      core_->Leave(now);
      transport_->Flush();
    }
    running_.store(false, std::memory_order_release);
    Kick();
    thread_.join();
  }
  if (transport_) transport_->Close();
  if (epoll_ >= 0) close(epoll_);
  if (event_ >= 0) close(event_);
  epoll_ = event_ = -1;
}

bool Engine::Control(const uint8_t* p, size_t n, uint64_t to) {
  if (!core_ || closed_) return false;
  std::lock_guard<std::mutex> lock(mu_);
  const bool ok = core_->SendControl(p, n, to, MonotonicNs());
  transport_->Flush();
  return ok;
}

int64_t Engine::Pause() {
  if (!core_ || closed_) return -1;
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = true;
  DrainOutbound(MonotonicNs());
  transport_->Flush();
  PublishInbound();
  return core_->InMessage() ? -1 : int64_t(core_->HighestSent());
}

void Engine::Resume() {
  if (!core_ || closed_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
  }
  Flush();
}

void Engine::Exclude(uint64_t id, bool excluded) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  core_->Exclude(id, excluded);
}

void Engine::Advance(uint64_t id, uint64_t seq) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  core_->Advance(id, seq);
  PublishInbound();
}

void Engine::Fetch(uint64_t sender, uint64_t holder, const uint64_t* ranges, size_t count) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  core_->Fetch(sender, holder, ranges, count);
  transport_->Flush();
}

bool Engine::Rekey(const uint8_t key[kKeyBytes], uint64_t graceNs) {
  if (!sealer_ || closed_) return false;
  std::lock_guard<std::mutex> lock(mu_);
  sealer_->Rekey(key, graceNs, MonotonicNs());
  return true;
}

void Engine::Lags(std::vector<PeerLag>* out) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now = MonotonicNs();
  core_->Lags(out, now);
  for (PeerLag& l : *out) l.multicastSilentNs = MulticastSilentNs(l.at, now);
}

uint64_t Engine::MulticastSilentNs(const Endpoint& from, uint64_t now) const {
  auto it = multicastHeard_.find(EndpointKey(from));
  return it == multicastHeard_.end() ? UINT64_MAX : now - std::min(now, it->second);
}

void Engine::NoteMulticast(const Endpoint& from, uint64_t now) {
  if (multicastHeard_.size() >= 4 * kMaxMembers && !multicastHeard_.count(EndpointKey(from))) multicastHeard_.clear();
  multicastHeard_[EndpointKey(from)] = now;
}

void Engine::SetUnicast(uint64_t peer, bool on) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  transport_->SetUnicast(peer == config_.core.self ? transport_->local() : core_->EndpointOfId(peer), on);
}

uint64_t Engine::OwnMulticastSilentNs() {
  if (!core_ || closed_) return UINT64_MAX;
  std::lock_guard<std::mutex> lock(mu_);
  return MulticastSilentNs(transport_->local(), MonotonicNs());
}

void Engine::AddPeers(const std::vector<Endpoint>& peers) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Endpoint& e : peers) transport_->Learn(e);
}

void Engine::SetView(uint32_t view) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  core_->SetView(view, MonotonicNs());
  transport_->Flush();
}

void Engine::Forget(uint64_t id) {
  if (!core_ || closed_) return;
  std::lock_guard<std::mutex> lock(mu_);
  core_->Forget(id);
  PublishInbound();
}

// ---------------------------------------------------------------- the I/O thread

void Engine::Run() {
  epoll_event events[4];
  while (running_.load(std::memory_order_acquire)) {
    uint64_t now = MonotonicNs();
    const uint64_t deadline = std::min(core_->NextDeadline(), transport_->NextDueNs());
    const uint64_t wait = deadline > now ? std::min(deadline - now, kMaxIdleWaitNs) : 0;
    // Round up so that we never spin just short of a deadline.
    const int n = epoll_wait(epoll_, events, 4, int((wait + 999'999) / 1'000'000));
    if (!running_.load(std::memory_order_acquire)) break;
    std::lock_guard<std::mutex> lock(mu_);
    now = MonotonicNs();
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == event_) {
        uint64_t v;
        ssize_t r = read(event_, &v, sizeof v);
        (void)r;
      }
    }
    // Deliveries held for a full ring first, then datagrams waiting in the
    // batch; only then read the sockets again.
    bool room = core_->Pump(now);
    if (!room) {
      inView_.blocked().store(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      room = core_->Pump(now);
    }
    room = room && ProcessPending(now);
    if (room) {
      for (int fd : transport_->sockets()) ReceiveFrom(fd, now);
      ReceiveHeld(now);
    }
    WatchSockets(room && !BatchPending());
    DrainOutbound(now);
    if (MonotonicNs() >= core_->NextDeadline()) core_->OnTimer(MonotonicNs());
    transport_->Flush();
    PublishInbound();
  }
}

void Engine::WatchSockets(bool on) {
  // When Node's loop polls the sockets (callerPolls_), the I/O thread sleeps
  // on timers and the eventfd only: one thread woken per datagram, not two.
  if (callerPolls_.load(std::memory_order_relaxed)) on = false;
  if (on == watching_) return;
  watching_ = on;
  if (!on && BatchPending()) counters_[k_ringFullStalls]++;
  if (on) inView_.blocked().store(0, std::memory_order_relaxed);
  epoll_event ev{};
  ev.events = on ? uint32_t(EPOLLIN) : 0u;
  for (int fd : transport_->sockets()) {
    if (fd < 0) continue;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
  }
}

void Engine::ReceiveFrom(int fd, uint64_t now) {
  if (fd < 0) return;
  const bool group = config_.transport.autoFallback && transport_->IsGroupSocket(fd);
  // Bounded per wake-up so that timers and sends are never starved.
  for (int round = 0; round < 8 && !BatchPending(); round++) {
    const int n = transport_->Receive(fd, now, &received_);
    if (n <= 0) return;
    pendingNext_ = 0;
    // transport 'auto': whose multicast reaches us (Lags: multicastSilentNs).
    if (group) for (int i = 0; i < received_.count; i++) NoteMulticast(received_.at[i].from, now);
    if (!ProcessPending(now)) return;
    if (n < Transport::kBatch) return;
  }
}

// Datagrams the transport held back (tests: reordered, or delayed and now
// due) go in after the rest of their batch; a few batches of them at most.
void Engine::ReceiveHeld(uint64_t now) {
  for (int round = 0; round < 8 && !BatchPending(); round++) {
    transport_->TakeHeld(now, &received_);
    pendingNext_ = 0;
    if (received_.count == 0) return;
    ProcessPending(now);
  }
}

// Hands the datagrams of the current batch to the core while the inbound ring
// surely has room for what each can deliver. Returns false when it stopped
// for lack of room.
bool Engine::ProcessPending(uint64_t now) {
  ReleasePins();
  while (BatchPending()) {
    const Received& d = received_.at[pendingNext_];
    if (d.size >= kDataHeaderBytes && d.data[3] == kData) {
      const size_t bound = Core::DeliveryBound(d.size, Ld16(d.data + 32));
      if (!control_.empty() || !RoomFor(bound)) {
        // Ask JS to kick us when it frees space, then look once more: JS may
        // have drained everything between our check and the flag (both
        // sides store, then load, sequentially consistent).
        inView_.blocked().store(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!FlushControl() || !RoomFor(bound)) {
          inboundDirty_ = true;  // make sure JS is woken to drain
          return false;
        }
      }
    }
    pendingNext_++;
    if (uint8_t* unit = Pin(d)) {
      // The core may keep it where it lies too (it then puts a spare in `keep`).
      uint8_t* keep = unit;
      pinning_ = unit;
      core_->OnDatagram(d.data, d.size, d.from, now, &keep);
      pinning_ = nullptr;
      Unpin(unit, keep == unit ? nullptr : keep);
    } else {
      core_->OnDatagram(d.data, d.size, d.from, now, d.hold);
    }
  }
  pendingNext_ = received_.count = 0;
  return true;
}

// A large datagram's unit, taken from the transport (a fresh one in its
// place) and held while its messages may reach JS as references; nullptr:
// they are copied (a small datagram, the pins or the pool full, a datagram
// not in a unit of ours).
uint8_t* Engine::Pin(const Received& d) {
  if (!pool_ || !d.hold || d.size < KeptStream::kKeepInPlaceMin) return nullptr;
  if (pins_.size() >= DatagramPool::kPinnedUnits) ReleasePins();  // (JS may have read on since this batch began)
  if (pins_.size() >= DatagramPool::kPinnedUnits) return nullptr;
  uint8_t* unit = *d.hold;
  if (!pool_->Owns(d.data) || pool_->UnitOf(d.data) != unit) return nullptr;
  uint8_t* fresh = pool_->Get();
  if (!fresh) return nullptr;
  *d.hold = fresh;
  pool_->live(unit)++;
  pinUsed_ = false;
  return unit;
}

// The datagram was handed to the core: the unit stays held if a record
// points into it, and goes back to the pool once no one holds it; `spare`:
// the unit the core gave in exchange for keeping this one (not needed: the
// transport has its fresh one).
void Engine::Unpin(uint8_t* unit, uint8_t* spare) {
  if (spare) pool_->Put(spare);
  if (pinUsed_) {
    pins_.push_back(Pinned{unit, pinEnd_});
    counters_[k_pinnedUnits] = pins_.size();
  } else if (--pool_->live(unit) == 0) {
    pool_->Put(unit);
  }
}

// Units whose last record JS has handed back.
void Engine::ReleasePins() {
  if (pins_.empty()) return;
  const uint32_t head = inView_.head().load(std::memory_order_acquire);
  while (!pins_.empty() && int32_t(head - pins_.front().end) >= 0) {
    uint8_t* unit = pins_.front().unit;
    pins_.pop_front();
    if (--pool_->live(unit) == 0) pool_->Put(unit);
  }
  counters_[k_pinnedUnits] = pins_.size();
}

std::shared_ptr<uint8_t> Engine::ReceiveMemory(size_t* bytes) const {
  *bytes = pool_ ? pool_->bytes() : 0;
  return pool_ ? pool_->memory() : nullptr;
}

Engine::Taken Engine::TakeInbound(size_t maxBytes, MessageBytes* out) {
  // Two looks at the records from JS's head (we are the consumer: ring.h's,
  // on JS's thread): how many fit, then their copy; a messageAt record is
  // copied as the message record it stands for.
  auto copied = [](const RingRecord& r) {
    return Align8(kRecordHeaderBytes + (r.type == kRec_messageAt ? kRecMessageFixed + Ld32(r.payload + kAt_messageAt_length) : r.size));
  };
  RingConsumer look(inView_);
  RingRecord r;
  size_t total = 0, records = 0;
  for (; look.Peek(&r); look.Advance(), records++) {
    if (records > 0 && total + copied(r) > maxBytes) break;
    total += copied(r);
  }
  if (records == 0) return Taken::kNone;
  if (!out->ReserveBatch(total)) return Taken::kNoMemory;
  RingConsumer take(inView_);
  uint8_t* to = out->data;
  for (size_t i = 0; i < records && take.Peek(&r); i++, take.Advance()) {
    const size_t n = copied(r);
    if (r.type == kRec_messageAt) {
      const uint8_t* p = r.payload;
      const uint32_t length = Ld32(p + kAt_messageAt_length);
      WriteRecordHeader(to, uint32_t(kRecordHeaderBytes + kRecMessageFixed + length), kRec_message, r.flags);
      EncodeMessage(to + kRecordHeaderBytes, Ld64(p + kAt_messageAt_seq), Ld32(p + kAt_messageAt_peer), Ld32(p + kAt_messageAt_view),
                    pool_->memory().get() + Ld32(p + kAt_messageAt_offset), length);
    } else {
      WriteRecordHeader(to, uint32_t(kRecordHeaderBytes + r.size), r.type, r.flags);
      std::memcpy(to + kRecordHeaderBytes, r.payload, r.size);
    }
    to += n;
  }
  take.Release();
  return Taken::kTaken;
}

// Room in the inbound ring for `bound` bytes of records, and no more bytes
// of messages put together waiting for JS than the ring holds.
bool Engine::RoomFor(size_t bound) {
  return inbound_.Free() >= bound + 64 && assembler_.parkedBytes() <= config_.inboundBytes;
}

void Engine::DrainOutbound(uint64_t now) {
  RingRecord r;
  bool consumed = false;
  // Datagrams of the log queued by reference go out before a Submit may
  // reuse log memory that stability freed since (Sink::SendLasting).
  transport_->Flush();
  while (outbound_.Peek(&r)) {
    if (paused_ && !core_->InMessage()) break;
    const auto status = core_->Submit(uint8_t(r.flags & 0xf), uint8_t(r.flags >> 4), r.payload, r.size, now);
    if (status == Core::SubmitStatus::kWindowFull) break;
    if (status == Core::SubmitStatus::kTooBig) counters_[k_rejectMalformed]++;  // JS checks; never expected
    outbound_.Advance();
    consumed = true;
  }
  core_->FlushData(now);
  if (!consumed) return;
  outbound_.Release();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // JS found the ring full and waits for space: wake it.
  if (outView_.blocked().load(std::memory_order_acquire) && outView_.blocked().exchange(0, std::memory_order_acq_rel)) {
    inboundDirty_ = true;
  }
}

}  // namespace troupe
