// Engine: a live group member for JS (sockets, the I/O thread, the shared
// rings), and the wake-ups that bring JS to its inbound ring.
#include <napi.h>
#include <uv.h>
#include <sched.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>

#include "../engine.h"
#include "args.h"

namespace troupe {
namespace {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Engine", {
      InstanceMethod<&EngineWrap::Memory>("memory"),
      InstanceMethod<&EngineWrap::Flush>("flush"),
      InstanceMethod<&EngineWrap::Kick>("kick"),
      InstanceMethod<&EngineWrap::Close>("close"),
      InstanceMethod<&EngineWrap::Control>("control"),
      InstanceMethod<&EngineWrap::Pause>("pause"),
      InstanceMethod<&EngineWrap::Resume>("resume"),
      InstanceMethod<&EngineWrap::Exclude>("exclude"),
      InstanceMethod<&EngineWrap::Forget>("forget"),
      InstanceMethod<&EngineWrap::SetView>("setView"),
      InstanceMethod<&EngineWrap::Advance>("advance"),
      InstanceMethod<&EngineWrap::Fetch>("fetch"),
      InstanceMethod<&EngineWrap::Rekey>("rekey"),
      InstanceMethod<&EngineWrap::Lags>("lags"),
      InstanceMethod<&EngineWrap::SetBusyPoll>("setBusyPoll"),
      InstanceMethod<&EngineWrap::SetSubjects>("setSubjects"),
      InstanceMethod<&EngineWrap::AddPeers>("addPeers"),
      InstanceMethod<&EngineWrap::SetUnicast>("setUnicast"),
      InstanceMethod<&EngineWrap::OwnMulticastSilent>("ownMulticastSilentMs"),
      InstanceMethod<&EngineWrap::TakeMessage>("takeMessage"),
      InstanceMethod<&EngineWrap::TakeInbound>("takeInbound"),
      InstanceMethod<&EngineWrap::ReceiveMemory>("receiveMemory"),
      InstanceAccessor<&EngineWrap::Info>("info"),
    });
  }

  EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      ThrowError(env, "TypeError", "new Engine(options, onWake) expects an object and a function", "ERR_INVALID_ARG_TYPE");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    EngineConfig c;
    if (!ReadCoreConfig(o, &c.core) || !ReadMaxMessage(o, &c.maxMessageBytes)) return;
    double groupIp = 0, port = 0, iface = 0, ttl = 1, rcvbuf = c.transport.receiveBuffer, sndbuf = c.transport.sendBuffer;
    double outBytes = c.outboundBytes, inBytes = c.inboundBytes, loss = 0, dup = 0, reorder = 0, injectSeed = 1, injectDelayMs = 0;
    if (!ReadNumber(o, "groupIp", 0, 4294967295.0, &groupIp) || !ReadNumber(o, "port", 1, 65535, &port) ||
        !ReadNumber(o, "interfaceIp", 0, 4294967295.0, &iface) || !ReadNumber(o, "ttl", 0, 255, &ttl) ||
        !ReadNumber(o, "receiveBuffer", 0, 1 << 30, &rcvbuf) || !ReadNumber(o, "sendBuffer", 0, 1 << 30, &sndbuf) ||
        !ReadNumber(o, "outboundBytes", 4096, 1 << 30, &outBytes) || !ReadNumber(o, "inboundBytes", 4096, 1 << 30, &inBytes) ||
        !ReadNumber(o, "injectLoss", 0, 1, &loss) || !ReadNumber(o, "injectDuplicate", 0, 1, &dup) ||
        !ReadNumber(o, "injectReorder", 0, 1, &reorder) || !ReadNumber(o, "injectSeed", 0, 9007199254740991.0, &injectSeed) ||
        !ReadNumber(o, "injectDelayMs", 0, 10'000, &injectDelayMs)) return;
    if (!IsPowerOfTwo(outBytes) || !IsPowerOfTwo(inBytes)) {
      ThrowError(env, "RangeError", "ring sizes must be powers of two", "ERR_OUT_OF_RANGE");
      return;
    }
    c.transport.client = c.core.client;
    Napi::Value peers = o.Get("peers");
    const bool autoFallback = o.Get("autoFallback").ToBoolean().Value();
    if (!peers.IsUndefined()) {
      // [ip (network byte order), port, ip, port, ...]: a unicast-only group.
      if (!peers.IsArray() || peers.As<Napi::Array>().Length() % 2 != 0 || peers.As<Napi::Array>().Length() / 2 > kMaxMembers) {
        ThrowError(env, "TypeError", "peers must be a flat array of (ip, port) pairs, at most 256", "ERR_INVALID_ARG_TYPE");
        return;
      }
      Napi::Array a = peers.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i += 2) {
        const double ip = a.Get(i).ToNumber().DoubleValue(), p = a.Get(i + 1).ToNumber().DoubleValue();
        if (!(ip >= 0 && ip <= 4294967295.0) || !(p >= 1 && p <= 65535)) {
          ThrowError(env, "RangeError", "peers: bad address or port", "ERR_OUT_OF_RANGE");
          return;
        }
        c.transport.peers.push_back(Endpoint{uint32_t(ip), htons(uint16_t(p))});
      }
      c.transport.unicastOnly = !autoFallback;
    }
    c.transport.autoFallback = autoFallback;  // ('auto': multicast, peers to probe; else peers: unicast only)
    if (!c.transport.unicastOnly && (ntohl(uint32_t(groupIp)) >> 28) != 0xE) {
      ThrowError(env, "RangeError", "option address must be an IPv4 multicast address (224.0.0.0/4)", "ERR_OUT_OF_RANGE");
      return;
    }
    // A ring must fit the largest record twice (ring.h refuses records > capacity / 2).
    if (inBytes < 4.0 * (c.core.datagramSize + 64) || outBytes < 4.0 * (c.core.datagramSize + 64)) {
      ThrowError(env, "RangeError", "ring sizes must hold at least 4 datagrams", "ERR_OUT_OF_RANGE");
      return;
    }
    c.transport.groupIp = uint32_t(groupIp);
    c.transport.port = uint16_t(port);
    c.transport.interfaceIp = uint32_t(iface);
    c.transport.ttl = int(ttl);
    c.transport.receiveBuffer = int(rcvbuf);
    c.transport.sendBuffer = int(sndbuf);
    c.outboundBytes = uint32_t(outBytes);
    c.inboundBytes = uint32_t(inBytes);
    c.inject = InjectConfig{loss, dup, reorder, uint64_t(injectSeed), uint64_t(injectDelayMs * 1e6)};
    Napi::Value key = o.Get("key");
    if (!key.IsUndefined()) {
      if (!key.IsTypedArray() || key.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
          key.As<Napi::Uint8Array>().ByteLength() != kKeyBytes) {
        ThrowError(env, "RangeError", "option key must be a Uint8Array of 32 bytes", "ERR_OUT_OF_RANGE");
        return;
      }
      c.sealed = true;
      std::memcpy(c.key, key.As<Napi::Uint8Array>().Data(), kKeyBytes);
      // The core packs plain datagrams that grow by the seal's overhead on the wire.
      c.core.datagramSize -= uint32_t(kSealOverhead);
    }

    wake_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "troupe-wake", 0, 1);
    onWake_ = Napi::Persistent(info[1].As<Napi::Function>());
    double busyPoll = 0;
    if (!ReadNumber(o, "busyPollNs", 0, 1e7, &busyPoll)) return;
    busyPollNs_ = uint64_t(busyPoll);
    async_ = std::make_unique<Napi::AsyncContext>(env, "troupe-wake");
    jsThread_ = std::this_thread::get_id();
    engine_ = std::make_unique<Engine>(c, &EngineWrap::OnWake, this);
    std::string what;
    const int err = engine_->Start(&what);
    if (err) {
      wake_.Release();
      engine_.reset();
      ThrowError(env, "Error", what + ": " + std::strerror(err), "ERR_TROUPE_SOCKET", err);
      return;
    }
    // Node's loop watches the sockets too (see Engine::ReceiveOnCaller).
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    for (int i = 0; i < Transport::kSockets && loop; i++) {
      const int fd = engine_->sockets()[i];
      if (fd < 0) continue;  // unicast-only: no multicast socket
      polls_[i] = new uv_poll_t;
      polls_[i]->data = this;
      uv_poll_init(loop, polls_[i], fd);
    }
    StartPolling();
  }

  ~EngineWrap() override { Shutdown(); }

 private:
  static void OnWake(void* ctx) {
    // Called with the engine's mutex held: from the I/O thread, from JS's
    // flush(), or from OnReadable on the JS thread. In OnReadable JS is
    // called right after (no trip through the loop); otherwise through the
    // threadsafe function. (Only the JS thread reads inReadable_.)
    auto* self = static_cast<EngineWrap*>(ctx);
    if (std::this_thread::get_id() == self->jsThread_ && self->inReadable_) {
      self->wokenInReadable_ = true;
      return;
    }
    self->wake_.NonBlockingCall();
  }

  void StartPolling() {
    if (polling_ || !polls_[1]) return;
    polling_ = true;
    for (uv_poll_t* p : polls_) if (p) uv_poll_start(p, UV_READABLE, &EngineWrap::OnReadable);
    engine_->SetCallerPolls(true);
  }
  void StopPolling() {
    if (!polling_) return;
    polling_ = false;
    for (uv_poll_t* p : polls_) if (p) uv_poll_stop(p);
    if (engine_) engine_->SetCallerPolls(false);
  }
  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<EngineWrap*>(handle->data);
    self->inReadable_ = true;
    uv_os_fd_t fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(handle), &fd);
    const bool more = self->engine_ && self->engine_->ReceiveOnCaller(fd);
    self->inReadable_ = false;
    if (!more) self->StopPolling();
    if (self->wokenInReadable_) {
      self->wokenInReadable_ = false;
      self->CallWake();
    }
    if (more && self->busyPollNs_) self->BusyPoll();
  }

  // Latency-critical groups (busyPoll): after a receive, keep reading the
  // sockets on this thread until nothing has come for busyPollNs_, so that
  // an answer finds a thread awake (a wake-up costs 15-20 us on this VM).
  // The loop gets control back within kMaxBusyNs whatever arrives.
  void BusyPoll() {
    constexpr uint64_t kMaxBusyNs = 1'000'000;
    const uint64_t start = MonotonicNs();
    uint64_t quietUntil = start + busyPollNs_;
    for (uint64_t now = start; now < quietUntil && now - start < kMaxBusyNs; now = MonotonicNs()) {
      if (!engine_) return;
      inReadable_ = true;
      const bool more = engine_->ReceiveOnCaller();
      inReadable_ = false;
      if (!more) { StopPolling(); return; }
      if (wokenInReadable_) {
        wokenInReadable_ = false;
        CallWake();
        quietUntil = MonotonicNs() + busyPollNs_;
      } else {
        // Awake, but not in the way of a process that has work (more
        // members than cores): the CPU never idles, and is given away.
        sched_yield();
      }
    }
  }

  // Calls JS's wake handler from a libuv callback: what JS sends in answer
  // (its microtasks run before MakeCallback returns) goes out at once.
  void CallWake() {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    onWake_.MakeCallback(env.Global(), {}, *async_);
    if (env.IsExceptionPending()) {
      // As for any callback from the loop: an uncaught exception.
      Napi::Error err = env.GetAndClearPendingException();
      napi_fatal_exception(env, err.Value());
    }
  }

  void Shutdown() {
    if (!engine_) return;
    StopPolling();
    for (uv_poll_t*& p : polls_) {
      if (!p) continue;
      uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      p = nullptr;
    }
    engine_->Close();
    engine_.reset();
    wake_.Release();
  }

  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return ThrowError(env, "Error", "the engine is closed", "ERR_TROUPE_CLOSED");
    // The ArrayBuffer keeps the region alive after close() until JS drops it.
    auto* hold = new std::shared_ptr<SharedRegion>(engine_->region());
    return Napi::ArrayBuffer::New(env, (*hold)->base, (*hold)->size,
                                  [](Napi::Env, void*, std::shared_ptr<SharedRegion>* h) { delete h; }, hold);
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("self", Hex64(engine_->self()));
    char ip[INET_ADDRSTRLEN];
    const Endpoint l = engine_->local();
    in_addr a{l.ip};
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    o.Set("localAddress", std::string(ip));
    o.Set("localPort", Napi::Number::New(env, ntohs(l.port)));
    o.Set("outboundOffset", Napi::Number::New(env, engine_->outboundOffset()));
    o.Set("inboundOffset", Napi::Number::New(env, engine_->inboundOffset()));
    o.Set("maxPayload", Napi::Number::New(env, engine_->maxPayload()));
    return o;
  }

  // takeMessage(handle) -> Uint8Array | null: the bytes of an assembled
  // record's message (taken once; null for a handle not waiting).
  Napi::Value TakeMessage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    MessageBytes bytes;
    if (!engine_ || !info[0].IsNumber() || !engine_->TakeMessage(uint64_t(info[0].As<Napi::Number>().Int64Value()), &bytes)) return env.Null();
    return MessageValue(env, bytes);
  }

  // takeInbound(maxBytes) -> Uint8Array | null: the published inbound
  // records (at most maxBytes, or one), copied out with the bytes of the
  // messages that stayed where they were received, their space handed back
  // (Engine::TakeInbound). The inbound ring's consumer, like ring.ts.
  Napi::Value TakeInbound(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) return ThrowError(env, "TypeError", "takeInbound(maxBytes): maxBytes must be a number", "ERR_INVALID_ARG_TYPE");
    const double max = info[0].As<Napi::Number>().DoubleValue();
    if (!(max >= 0)) return ThrowError(env, "RangeError", "takeInbound(maxBytes): maxBytes must be 0 or more", "ERR_OUT_OF_RANGE");
    MessageBytes bytes;
    if (!engine_) return env.Null();
    switch (engine_->TakeInbound(size_t(std::min(max, double(1u << 30))), &bytes)) {
      case Engine::Taken::kNone: return env.Null();
      case Engine::Taken::kNoMemory: return ThrowError(env, "Error", "takeInbound(): out of memory", "ERR_TROUPE_NO_MEMORY");
      case Engine::Taken::kTaken: break;
    }
    return MessageValue(env, bytes);
  }

  // receiveMemory() -> ArrayBuffer | null: where messageAt records point
  // (kept mapped while JS holds it, past close()).
  Napi::Value ReceiveMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return env.Null();
    size_t bytes = 0;
    std::shared_ptr<uint8_t> memory = engine_->ReceiveMemory(&bytes);
    if (!memory) return env.Null();
    auto* hold = new std::shared_ptr<uint8_t>(std::move(memory));
    return Napi::ArrayBuffer::New(env, hold->get(), bytes, [](Napi::Env, void*, std::shared_ptr<uint8_t>* h) { delete h; }, hold);
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Flush();
    return info.Env().Undefined();
  }
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Kick();
    StartPolling();
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }
  // control(bytes, to: hex id | null) -> false if the payload is too large
  Napi::Value Control(const Napi::CallbackInfo& info) {
    ControlArgs a;
    if (!ReadControl(info, &a)) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), engine_ && engine_->Control(a.data, a.size, a.to));
  }
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine_ ? double(engine_->Pause()) : -1);
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Resume();
    return info.Env().Undefined();
  }
  Napi::Value Exclude(const Napi::CallbackInfo& info) {
    const ExcludeArgs a = ReadExclude(info);
    if (engine_) engine_->Exclude(a.member, a.excluded);
    return info.Env().Undefined();
  }
  Napi::Value Forget(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Forget(ParseHex64(info[0]));
    return info.Env().Undefined();
  }
  Napi::Value SetView(const Napi::CallbackInfo& info) {
    if (engine_) engine_->SetView(info[0].ToNumber().Uint32Value());
    return info.Env().Undefined();
  }
  Napi::Value Advance(const Napi::CallbackInfo& info) {
    const AdvanceArgs a = ReadAdvance(info);
    if (engine_) engine_->Advance(a.member, a.seq);
    return info.Env().Undefined();
  }
  // fetch(senderHex, holderHex, [first, last, first, last, ...])
  Napi::Value Fetch(const Napi::CallbackInfo& info) {
    FetchArgs a;
    if (!ReadFetch(info, &a)) return info.Env().Undefined();
    if (engine_) engine_->Fetch(a.sender, a.holder, a.ranges.data(), a.ranges.size() / 2);
    return info.Env().Undefined();
  }

  // rekey(key: Uint8Array(32), graceMs)
  Napi::Value Rekey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::Uint8Array>().ByteLength() != kKeyBytes) {
      return ThrowError(env, "RangeError", "key must be a Uint8Array of 32 bytes", "ERR_OUT_OF_RANGE");
    }
    const double grace = info[1].ToNumber().DoubleValue();
    if (!(grace >= 0)) return ThrowError(env, "RangeError", "grace must be a number of ms >= 0", "ERR_OUT_OF_RANGE");
    const bool ok = engine_ && engine_->Rekey(info[0].As<Napi::Uint8Array>().Data(), uint64_t(grace * 1e6));
    return Napi::Boolean::New(env, ok);
  }

  // setBusyPoll(ns): how long the JS thread keeps reading after a receive (0: not at all).
  Napi::Value SetBusyPoll(const Napi::CallbackInfo& info) {
    const double ns = info.Length() ? info[0].ToNumber().DoubleValue() : 0;
    busyPollNs_ = ns > 0 && ns <= 1e7 ? uint64_t(ns) : 0;
    return info.Env().Undefined();
  }

  // addPeers([ip (network byte order), port, ...]): members' addresses learned by discovery or gossip.
  Napi::Value AddPeers(const Napi::CallbackInfo& info) {
    std::vector<Endpoint> peers;
    Napi::Env env = info.Env();
    if (!info.Length() || !info[0].IsArray() || info[0].As<Napi::Array>().Length() % 2 != 0 || info[0].As<Napi::Array>().Length() > 2 * kMaxMembers) {
      ThrowError(env, "TypeError", "addPeers() expects a flat array of (ip, port) pairs, at most 256", "ERR_INVALID_ARG_TYPE");
      return env.Undefined();
    }
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i += 2) {
      const double ip = a.Get(i).ToNumber().DoubleValue(), p = a.Get(i + 1).ToNumber().DoubleValue();
      if (!(ip >= 0 && ip <= 4294967295.0) || !(p >= 1 && p <= 65535)) {
        ThrowError(env, "RangeError", "addPeers(): bad address or port", "ERR_OUT_OF_RANGE");
        return env.Undefined();
      }
      peers.push_back(Endpoint{uint32_t(ip), htons(uint16_t(p))});
    }
    if (engine_) engine_->AddPeers(peers);
    return env.Undefined();
  }

  // setUnicast(hex, on): transport 'auto': that member does not hear our multicast.
  Napi::Value SetUnicast(const Napi::CallbackInfo& info) {
    const uint64_t id = ParseHex64(info[0]);
    if (id && engine_) engine_->SetUnicast(id, info.Length() > 1 && info[1].ToBoolean().Value());
    return info.Env().Undefined();
  }

  // ownMulticastSilentMs(): transport 'auto': since our own multicast last came back (-1: never).
  Napi::Value OwnMulticastSilent(const Napi::CallbackInfo& info) {
    const uint64_t ns = engine_ ? engine_->OwnMulticastSilentNs() : UINT64_MAX;
    return Napi::Number::New(info.Env(), ns == UINT64_MAX ? -1 : double(ns) / 1e6);
  }

  // setSubjects(patterns: string[] | null): what the subscriptions want (null: no filtering).
  Napi::Value SetSubjects(const Napi::CallbackInfo& info) {
    std::vector<std::string> patterns;
    const bool none = !info.Length() || info[0].IsNull() || info[0].IsUndefined();
    if (!none && !ReadPatterns(info[0], &patterns)) {
      ThrowError(info.Env(), "TypeError", "setSubjects() expects an array of at most 65536 patterns of 1 to 255 bytes, or null", "ERR_INVALID_ARG_TYPE");
      return info.Env().Undefined();
    }
    if (engine_) engine_->SetSubjects(none ? nullptr : &patterns);
    return info.Env().Undefined();
  }

  // lags(): [{ id (16 hex), acked, lag, behindMs, silentMs, excluded }] for every other member.
  Napi::Value Lags(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<PeerLag> lags;
    if (engine_) engine_->Lags(&lags);
    Napi::Array out = Napi::Array::New(env, lags.size());
    for (size_t i = 0; i < lags.size(); i++) {
      const PeerLag& l = lags[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", Napi::String::New(env, Hex64(l.id)));
      o.Set("acked", Napi::Number::New(env, double(l.acked)));
      o.Set("lag", Napi::Number::New(env, double(l.lag)));
      o.Set("behindMs", Napi::Number::New(env, double(l.behindNs) / 1e6));
      o.Set("silentMs", Napi::Number::New(env, double(l.silentNs) / 1e6));
      o.Set("excluded", Napi::Boolean::New(env, l.excluded));
      char address[32];
      const uint32_t ip = ntohl(l.at.ip);
      std::snprintf(address, sizeof address, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, unsigned(ntohs(l.at.port)));
      o.Set("address", Napi::String::New(env, l.at.port ? address : ""));
      o.Set("multicastSilentMs", Napi::Number::New(env, l.multicastSilentNs == UINT64_MAX ? -1 : double(l.multicastSilentNs) / 1e6));
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  std::unique_ptr<Engine> engine_;
  Napi::ThreadSafeFunction wake_;
  Napi::FunctionReference onWake_;
  std::unique_ptr<Napi::AsyncContext> async_;
  std::thread::id jsThread_;
  bool inReadable_ = false;
  bool wokenInReadable_ = false;
  uint64_t busyPollNs_ = 0;
  uv_poll_t* polls_[Transport::kSockets] = {};
  bool polling_ = false;
};

}  // namespace

Napi::Function InitEngine(Napi::Env env) { return EngineWrap::Init(env); }

}  // namespace troupe
