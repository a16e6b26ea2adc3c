// The N-API surface. Two classes:
//   Engine      a live group member: sockets, I/O thread, shared rings.
//   ManualCore  the reliability core alone, driven by JS with made-up time
//               (tests and the simulator): no thread, no socket.
// Options are validated in TypeScript first (ts/options.ts); this file checks
// them again and answers bad values with a TypeError/RangeError, never a crash.
#include <napi.h>
#include <uv.h>
#include <sched.h>
#include <sys/random.h>
#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "engine.h"
#include "reliability.h"
#include "stats.h"

namespace troupe {
namespace {

Napi::Value ThrowError(Napi::Env env, const char* kind, const std::string& message, const char* code, int err = 0) {
  Napi::Error e = std::strcmp(kind, "TypeError") == 0    ? Napi::TypeError::New(env, message)
                  : std::strcmp(kind, "RangeError") == 0 ? Napi::RangeError::New(env, message)
                                                         : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err) e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// Reads a numeric option; false (with a pending exception) when it is not a
// finite number within [lo, hi].
bool ReadNumber(Napi::Object o, const char* key, double lo, double hi, double* out) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  if (!v.IsNumber()) { ThrowError(env, "TypeError", std::string("option ") + key + " must be a number", "ERR_INVALID_ARG_TYPE"); return false; }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi)) { ThrowError(env, "RangeError", std::string("option ") + key + " is out of range", "ERR_OUT_OF_RANGE"); return false; }
  *out = d;
  return true;
}

bool IsPowerOfTwo(double d) { const uint64_t v = uint64_t(d); return v && (v & (v - 1)) == 0 && double(v) == d; }

bool ReadCoreConfig(Napi::Object o, CoreConfig* c) {
  Napi::Env env = o.Env();
  double group = 0, datagram = c->datagramSize, window = double(c->windowBytes), slots = c->receiveSlots;
  double status = double(c->statusIntervalNs), nakDelay = double(c->nakDelayNs), nakRetry = double(c->nakRetryNs);
  double xmitHold = double(c->xmitHoldNs), suspect = double(c->suspectTimeoutNs), seed = 1, retain = 0, slow = 0;
  if (!ReadNumber(o, "groupHash", 0, 4294967295.0, &group) ||
      !ReadNumber(o, "datagramSize", kMinDatagram, kMaxDatagram, &datagram) ||
      !ReadNumber(o, "windowBytes", 4096, 4294967296.0, &window) ||
      !ReadNumber(o, "receiveSlots", 1024, 1 << 22, &slots) ||
      !ReadNumber(o, "statusIntervalNs", 1e5, 1e10, &status) ||
      !ReadNumber(o, "nakDelayNs", 0, 1e10, &nakDelay) ||
      !ReadNumber(o, "nakRetryNs", 1e5, 1e10, &nakRetry) ||
      !ReadNumber(o, "xmitHoldNs", 0, 1e10, &xmitHold) ||
      !ReadNumber(o, "suspectTimeoutNs", 1e6, 1e12, &suspect) ||
      !ReadNumber(o, "slowTimeoutNs", 0, 1e13, &slow) ||
      !ReadNumber(o, "seed", 0, 9007199254740991.0, &seed) ||
      !ReadNumber(o, "retainBytes", 0, 1099511627776.0, &retain)) return false;
  c->retainBytes = uint64_t(retain);
  if (!IsPowerOfTwo(slots)) { ThrowError(env, "RangeError", "option receiveSlots must be a power of two", "ERR_OUT_OF_RANGE"); return false; }
  if (window < datagram * 4) { ThrowError(env, "RangeError", "option windowBytes must hold at least 4 datagrams", "ERR_OUT_OF_RANGE"); return false; }
  c->group = uint32_t(group);
  c->datagramSize = uint32_t(datagram);
  c->windowBytes = uint64_t(window);
  c->receiveSlots = uint32_t(slots);
  c->statusIntervalNs = uint64_t(status);
  c->nakDelayNs = uint64_t(nakDelay);
  c->nakRetryNs = uint64_t(nakRetry);
  c->xmitHoldNs = uint64_t(xmitHold);
  c->suspectTimeoutNs = uint64_t(suspect);
  c->slowTimeoutNs = uint64_t(slow);
  c->seed = uint64_t(seed);
  Napi::Value name = o.Get("name");
  if (name.IsString()) c->name = name.As<Napi::String>().Utf8Value();
  if (c->name.size() > kMaxName) { ThrowError(env, "RangeError", "option name is longer than 64 bytes", "ERR_OUT_OF_RANGE"); return false; }
  Napi::Value own = o.Get("receiveOwn");
  if (own.IsBoolean()) c->receiveOwn = own.As<Napi::Boolean>().Value();
  Napi::Value autoRemove = o.Get("autoRemove");
  if (autoRemove.IsBoolean()) c->autoRemove = autoRemove.As<Napi::Boolean>().Value();
  Napi::Value self = o.Get("self");
  if (self.IsBigInt()) {
    bool lossless;
    c->self = self.As<Napi::BigInt>().Uint64Value(&lossless);
  } else {
    do { if (getrandom(&c->self, sizeof c->self, 0) != sizeof c->self) c->self = uint64_t(MonotonicNs()) * 0x9E3779B97F4A7C15ull; } while (c->self == 0);
  }
  if (c->self == 0) { ThrowError(env, "RangeError", "option self must not be 0", "ERR_OUT_OF_RANGE"); return false; }
  return true;
}

std::string Hex64(uint64_t v) { char b[17]; std::snprintf(b, sizeof b, "%016llx", (unsigned long long)v); return b; }

// [first, last, first, last, ...] of seqs, first <= last.
bool ReadRanges(const Napi::Value& v, std::vector<uint64_t>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() % 2 || a.Length() > 2 * 4096) return false;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) return false;
    const double d = x.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0)) return false;
    out->push_back(uint64_t(d));
  }
  for (size_t i = 0; i < out->size(); i += 2) if ((*out)[i] > (*out)[i + 1]) return false;
  return true;
}

// A member incarnation as JS writes it: 16 hex digits. 0 for anything else.
uint64_t ParseHex64(const Napi::Value& v) {
  if (!v.IsString()) return 0;
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s.size() != 16) return 0;
  uint64_t r = 0;
  for (char ch : s) {
    const int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return 0;
    r = r << 4 | uint64_t(d);
  }
  return r;
}

Napi::Object Counters(Napi::Env env, const uint64_t* c) {
  Napi::Object o = Napi::Object::New(env);
  uint32_t i = 0;
#define TROUPE_COUNTER_GET(name, doc) o.Set(#name, Napi::Number::New(env, double(c[i++])));
  TROUPE_COUNTERS(TROUPE_COUNTER_GET)
#undef TROUPE_COUNTER_GET
  return o;
}

// ---------------------------------------------------------------- Engine

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
    if (!ReadCoreConfig(o, &c.core)) return;
    double groupIp = 0, port = 0, iface = 0, ttl = 1, rcvbuf = c.transport.receiveBuffer, sndbuf = c.transport.sendBuffer;
    double outBytes = c.outboundBytes, inBytes = c.inboundBytes, loss = 0, dup = 0, reorder = 0, injectSeed = 1;
    if (!ReadNumber(o, "groupIp", 0, 4294967295.0, &groupIp) || !ReadNumber(o, "port", 1, 65535, &port) ||
        !ReadNumber(o, "interfaceIp", 0, 4294967295.0, &iface) || !ReadNumber(o, "ttl", 0, 255, &ttl) ||
        !ReadNumber(o, "receiveBuffer", 0, 1 << 30, &rcvbuf) || !ReadNumber(o, "sendBuffer", 0, 1 << 30, &sndbuf) ||
        !ReadNumber(o, "outboundBytes", 4096, 1 << 30, &outBytes) || !ReadNumber(o, "inboundBytes", 4096, 1 << 30, &inBytes) ||
        !ReadNumber(o, "injectLoss", 0, 1, &loss) || !ReadNumber(o, "injectDuplicate", 0, 1, &dup) ||
        !ReadNumber(o, "injectReorder", 0, 1, &reorder) || !ReadNumber(o, "injectSeed", 0, 9007199254740991.0, &injectSeed)) return;
    if (!IsPowerOfTwo(outBytes) || !IsPowerOfTwo(inBytes)) {
      ThrowError(env, "RangeError", "ring sizes must be powers of two", "ERR_OUT_OF_RANGE");
      return;
    }
    Napi::Value peers = o.Get("peers");
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
      c.transport.unicastOnly = true;
    } else if ((ntohl(uint32_t(groupIp)) >> 28) != 0xE) {
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
    c.inject = InjectConfig{loss, dup, reorder, uint64_t(injectSeed)};
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
    for (int i = 0; i < 2 && loop; i++) {
      const int fd = i == 0 ? engine_->multicastFd() : engine_->unicastFd();
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
    const bool more = self->engine_ && self->engine_->ReceiveOnCaller();
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
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) return ThrowError(env, "TypeError", "control payload must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
    auto a = info[0].As<Napi::Uint8Array>();
    return Napi::Boolean::New(env, engine_ && engine_->Control(a.Data(), a.ByteLength(), ParseHex64(info[1])));
  }
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine_ ? double(engine_->Pause()) : -1);
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Resume();
    return info.Env().Undefined();
  }
  Napi::Value Exclude(const Napi::CallbackInfo& info) {
    if (engine_) engine_->Exclude(ParseHex64(info[0]), info.Length() < 2 || info[1].ToBoolean().Value());
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
    if (engine_) engine_->Advance(ParseHex64(info[0]), uint64_t(info[1].ToNumber().DoubleValue()));
    return info.Env().Undefined();
  }
  // fetch(senderHex, holderHex, [first, last, first, last, ...])
  Napi::Value Fetch(const Napi::CallbackInfo& info) {
    std::vector<uint64_t> ranges;
    if (!ReadRanges(info[2], &ranges)) return ThrowError(info.Env(), "TypeError", "ranges must be an array of seq pairs", "ERR_INVALID_ARG_TYPE");
    if (engine_) engine_->Fetch(ParseHex64(info[0]), ParseHex64(info[1]), ranges.data(), ranges.size() / 2);
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
  uv_poll_t* polls_[2] = {nullptr, nullptr};
  bool polling_ = false;
};

// ---------------------------------------------------------------- ManualCore

// Records everything the core outputs until JS takes it.
// What a manual core hands over: datagrams to send, and the inbound records
// (records.h), the same bytes the engine puts in its ring.
class RecordingSink final : public Sink {
 public:
  struct Sent { std::vector<uint8_t> bytes; bool unicast; Endpoint to; };
  std::vector<Sent> sent;
  RecordBuffer records;
  size_t room = SIZE_MAX;  // deliveries accepted before the sink reports full

  void Send(const uint8_t* p, size_t n, const Endpoint* to) override {
    sent.push_back(Sent{std::vector<uint8_t>(p, p + n), to != nullptr, to ? *to : Endpoint{}});
  }
  bool Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) override {
    if (room == 0) return false;
    if (room != SIZE_MAX) room--;
    EncodeMessage(records.Append(kRec_message, uint16_t(order | frag << 4), MessageRecordBytes(n)), seq, peer, view, data, n);
    return true;
  }
  void PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) override {
    EncodePeerUp(records.Append(kRec_peerUp, 0, PeerUpRecordBytes(nameLen)), peer, id, name, nameLen);
  }
  void PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) override {
    EncodePeerDown(records.Append(kRec_peerDown, 0, kRecPeerDownBytes), peer, id, uint32_t(why));
  }
  void Control(uint64_t sender, const uint8_t* p, size_t n) override {
    EncodeControl(records.Append(kRec_control, 0, ControlRecordBytes(n)), sender, p, n);
  }
  void Stable(uint32_t peer, uint64_t seq) override { EncodeStable(records.Append(kRec_stable, 0, kRecStableBytes), peer, seq); }
  void Slow(uint32_t peer, uint64_t id, uint64_t lag) override { EncodeSlow(records.Append(kRec_slow, 0, kRecSlowBytes), peer, id, lag); }
};

Napi::Uint8Array Bytes(Napi::Env env, const std::vector<uint8_t>& v) {
  Napi::Uint8Array a = Napi::Uint8Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size());
  return a;
}

class ManualCoreWrap : public Napi::ObjectWrap<ManualCoreWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ManualCore", {
      InstanceMethod<&ManualCoreWrap::Submit>("submit"),
      InstanceMethod<&ManualCoreWrap::FlushData>("flush"),
      InstanceMethod<&ManualCoreWrap::Input>("input"),
      InstanceMethod<&ManualCoreWrap::Timer>("timer"),
      InstanceMethod<&ManualCoreWrap::NextDeadline>("nextDeadline"),
      InstanceMethod<&ManualCoreWrap::Pump>("pump"),
      InstanceMethod<&ManualCoreWrap::SetRoom>("setRoom"),
      InstanceMethod<&ManualCoreWrap::Leave>("leave"),
      InstanceMethod<&ManualCoreWrap::Take>("take"),
      InstanceMethod<&ManualCoreWrap::GetCounters>("counters"),
      InstanceMethod<&ManualCoreWrap::Close>("close"),
      InstanceMethod<&ManualCoreWrap::Control>("control"),
      InstanceMethod<&ManualCoreWrap::Exclude>("exclude"),
      InstanceMethod<&ManualCoreWrap::Forget>("forget"),
      InstanceMethod<&ManualCoreWrap::SetView>("setView"),
      InstanceMethod<&ManualCoreWrap::Advance>("advance"),
      InstanceMethod<&ManualCoreWrap::Fetch>("fetch"),
      InstanceMethod<&ManualCoreWrap::InMessage>("inMessage"),
      InstanceMethod<&ManualCoreWrap::HighestSent>("highestSent"),
      InstanceAccessor<&ManualCoreWrap::Self>("self"),
    });
  }

  ManualCoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ManualCoreWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) {
      ThrowError(env, "TypeError", "new ManualCore(options, nowNs) expects an object and a number", "ERR_INVALID_ARG_TYPE");
      return;
    }
    CoreConfig c;
    if (!ReadCoreConfig(info[0].As<Napi::Object>(), &c)) return;
    counters_.assign(kCounterCount, 0);
    core_ = std::make_unique<Core>(c, &sink_, counters_.data(), Now(info[1]));
  }

 private:
  static Napi::Value Closed(Napi::Env env) { return ThrowError(env, "Error", "the ManualCore is closed", "ERR_TROUPE_CLOSED"); }
  // close(): frees the core now (its windows, log and kept datagrams) rather
  // than whenever the garbage collector finalizes this wrapper.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    core_.reset();
    sink_ = RecordingSink{};
    return info.Env().Undefined();
  }
  static uint64_t Now(const Napi::Value& v) { return v.IsNumber() ? uint64_t(v.As<Napi::Number>().DoubleValue()) : 0; }

  // submit(data, order, frag, nowNs) -> 'ok' | 'full' | 'tooBig'
  Napi::Value Submit(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) return ThrowError(env, "TypeError", "data must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
    auto a = info[0].As<Napi::Uint8Array>();
    const auto s = core_->Submit(uint8_t(info[1].ToNumber().Uint32Value()), uint8_t(info[2].ToNumber().Uint32Value()),
                                 a.Data(), a.ByteLength(), Now(info[3]));
    return Napi::String::New(env, s == Core::SubmitStatus::kOk ? "ok" : s == Core::SubmitStatus::kWindowFull ? "full" : "tooBig");
  }
  Napi::Value FlushData(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->FlushData(Now(info[0])); return info.Env().Undefined(); }
  // input(datagram, fromIp, fromPort, nowNs)
  Napi::Value Input(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) return ThrowError(env, "TypeError", "datagram must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
    auto a = info[0].As<Napi::Uint8Array>();
    const Endpoint from{info[1].ToNumber().Uint32Value(), uint16_t(info[2].ToNumber().Uint32Value())};
    core_->OnDatagram(a.Data(), a.ByteLength(), from, Now(info[3]));
    return env.Undefined();
  }
  Napi::Value Timer(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->OnTimer(Now(info[0])); return info.Env().Undefined(); }
  Napi::Value NextDeadline(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Number::New(info.Env(), double(core_->NextDeadline())); }
  Napi::Value Pump(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Boolean::New(info.Env(), core_->Pump(Now(info[0]))); }
  Napi::Value SetRoom(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    sink_.room = info[0].IsNumber() ? size_t(info[0].As<Napi::Number>().Int64Value()) : SIZE_MAX;
    return info.Env().Undefined();
  }
  Napi::Value Leave(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->Leave(Now(info[0])); return info.Env().Undefined(); }
  Napi::Value Self(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::String::New(info.Env(), Hex64(core_->self())); }
  Napi::Value GetCounters(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Counters(info.Env(), counters_.data()); }
  // control(bytes, to: hex id | null, nowNs) -> false if too large
  Napi::Value Control(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) return ThrowError(env, "TypeError", "control payload must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
    auto a = info[0].As<Napi::Uint8Array>();
    return Napi::Boolean::New(env, core_->SendControl(a.Data(), a.ByteLength(), ParseHex64(info[1]), Now(info[2])));
  }
  Napi::Value Exclude(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    core_->Exclude(ParseHex64(info[0]), info.Length() < 2 || info[1].ToBoolean().Value());
    return info.Env().Undefined();
  }
  Napi::Value Forget(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->Forget(ParseHex64(info[0])); return info.Env().Undefined(); }
  Napi::Value SetView(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->SetView(info[0].ToNumber().Uint32Value(), Now(info[1])); return info.Env().Undefined(); }
  Napi::Value Advance(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    core_->Advance(ParseHex64(info[0]), uint64_t(info[1].ToNumber().DoubleValue()));
    return info.Env().Undefined();
  }
  Napi::Value Fetch(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    std::vector<uint64_t> ranges;
    if (!ReadRanges(info[2], &ranges)) return ThrowError(info.Env(), "TypeError", "ranges must be an array of seq pairs", "ERR_INVALID_ARG_TYPE");
    core_->Fetch(ParseHex64(info[0]), ParseHex64(info[1]), ranges.data(), ranges.size() / 2);
    return info.Env().Undefined();
  }
  Napi::Value InMessage(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Boolean::New(info.Env(), core_->InMessage()); }
  Napi::Value HighestSent(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Number::New(info.Env(), double(core_->HighestSent())); }

  // take() -> { sent, records }, emptying both: the datagrams to send, and
  // the inbound records (read by ts/node/records.ts).
  Napi::Value Take(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array sent = Napi::Array::New(env, sink_.sent.size());
    for (size_t i = 0; i < sink_.sent.size(); i++) {
      Napi::Object s = Napi::Object::New(env);
      s.Set("data", Bytes(env, sink_.sent[i].bytes));
      if (sink_.sent[i].unicast) {
        Napi::Object to = Napi::Object::New(env);
        to.Set("ip", Napi::Number::New(env, sink_.sent[i].to.ip));
        to.Set("port", Napi::Number::New(env, sink_.sent[i].to.port));
        s.Set("to", to);
      } else {
        s.Set("to", env.Null());
      }
      sent.Set(uint32_t(i), s);
    }
    sink_.sent.clear();
    out.Set("sent", sent);
    out.Set("records", Bytes(env, sink_.records.bytes()));
    sink_.records.Clear();
    return out;
  }

  RecordingSink sink_;
  std::vector<uint64_t> counters_;
  std::unique_ptr<Core> core_;
};

// decode(datagram, groupHash) -> { ok, reason?, type?, ... }: the codec alone, for tests.
Napi::Value Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) return ThrowError(env, "TypeError", "datagram must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
  auto a = info[0].As<Napi::Uint8Array>();
  const uint8_t* p = a.Data();
  const size_t n = a.ByteLength();
  static const char* kReasons[] = {"none", "truncated", "magic", "version", "length", "malformed", "foreign"};
  Napi::Object o = Napi::Object::New(env);
  Header h;
  Reject r = DecodeHeader(p, n, info[1].ToNumber().Uint32Value(), &h);
  if (r == Reject::kNone) {
    o.Set("type", Napi::Number::New(env, h.type));
    o.Set("sender", Hex64(h.sender));
    if (h.type == kData) {
      DataView d;
      r = DecodeData(p, n, &d);
      if (r == Reject::kNone) { o.Set("firstSeq", Napi::Number::New(env, double(d.firstSeq))); o.Set("count", Napi::Number::New(env, d.count)); }
    } else if (h.type == kStatus) {
      StatusView s;
      r = DecodeStatus(p, n, &s);
      if (r == Reject::kNone) {
        o.Set("highestSent", Napi::Number::New(env, double(s.highestSent)));
        o.Set("name", std::string(s.name, s.nameLen));
        o.Set("acks", Napi::Number::New(env, s.ackCount));
      }
    } else if (h.type == kNak) {
      NakView k;
      r = DecodeNak(p, n, &k);
      if (r == Reject::kNone) o.Set("ranges", Napi::Number::New(env, k.rangeCount));
    }
  }
  o.Set("ok", Napi::Boolean::New(env, r == Reject::kNone));
  o.Set("reason", kReasons[int(r)]);
  return o;
}

Napi::Value GroupHashJs(const Napi::CallbackInfo& info) {
  const std::string s = info[0].ToString().Utf8Value();
  return Napi::Number::New(info.Env(), GroupHash(s.data(), s.size()));
}

}  // namespace

// ---------------------------------------------------------------- ManualSealer

// The closed groups' sealer alone, with made-up time: tests of the replay
// window and of key rotation.  new ManualSealer(key, selfHex);
// seal(plain) -> sealed; open(sealed, nowNs) -> { ok, reason, plain }; rekey(key, graceNs, nowNs).
class ManualSealerWrap : public Napi::ObjectWrap<ManualSealerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ManualSealer", {
      InstanceMethod<&ManualSealerWrap::Seal>("seal"),
      InstanceMethod<&ManualSealerWrap::Open>("open"),
      InstanceMethod<&ManualSealerWrap::Rekey>("rekey"),
    });
  }
  ManualSealerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ManualSealerWrap>(info) {
    if (!IsKey(info[0])) { ThrowError(info.Env(), "RangeError", "key must be a Uint8Array of 32 bytes", "ERR_OUT_OF_RANGE"); return; }
    sealer_ = std::make_unique<Sealer>(info[0].As<Napi::Uint8Array>().Data(), ParseHex64(info[1]));
  }

 private:
  static bool IsKey(const Napi::Value& v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array && v.As<Napi::Uint8Array>().ByteLength() == kKeyBytes;
  }
  Napi::Value Seal(const Napi::CallbackInfo& info) {
    auto in = info[0].As<Napi::Uint8Array>();
    std::vector<uint8_t> out(in.ByteLength() + kSealOverhead);
    const size_t n = sealer_->Seal(in.Data(), in.ByteLength(), out.data());
    out.resize(n);
    return Bytes(info.Env(), out);
  }
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto in = info[0].As<Napi::Uint8Array>();
    std::vector<uint8_t> buf(in.Data(), in.Data() + in.ByteLength());
    size_t plain = 0;
    const SealReject r = sealer_->Open(buf.data(), buf.size(), uint64_t(info[1].ToNumber().DoubleValue()), &plain);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ok", Napi::Boolean::New(env, r == SealReject::kNone));
    o.Set("reason", Napi::String::New(env, r == SealReject::kNone ? "none" : r == SealReject::kAuth ? "auth" : "replay"));
    if (r == SealReject::kNone) {
      o.Set("plain", Bytes(env, std::vector<uint8_t>(buf.begin() + kSealHeaderBytes, buf.begin() + ptrdiff_t(kSealHeaderBytes + plain))));
    }
    return o;
  }
  Napi::Value Rekey(const Napi::CallbackInfo& info) {
    if (!IsKey(info[0])) return ThrowError(info.Env(), "RangeError", "key must be a Uint8Array of 32 bytes", "ERR_OUT_OF_RANGE");
    sealer_->Rekey(info[0].As<Napi::Uint8Array>().Data(), uint64_t(info[1].ToNumber().DoubleValue()), uint64_t(info[2].ToNumber().DoubleValue()));
    return info.Env().Undefined();
  }
  std::unique_ptr<Sealer> sealer_;
};

// boundary.h as { orders: { name: code }, frags: { name: code },
// records: { name: { type, doc, fields: { name: [offset, bytes] } } } }.
Napi::Object BoundaryObject(Napi::Env env) {
  Napi::Object orders = Napi::Object::New(env);
#define TROUPE_ORDER_SET(name, code) orders.Set(#name, Napi::Number::New(env, code));
  TROUPE_ORDERS(TROUPE_ORDER_SET)
#undef TROUPE_ORDER_SET
  Napi::Object frags = Napi::Object::New(env);
#define TROUPE_FRAG_SET(name, code) frags.Set(#name, Napi::Number::New(env, code));
  TROUPE_FRAGS(TROUPE_FRAG_SET)
#undef TROUPE_FRAG_SET
  Napi::Object reasons = Napi::Object::New(env);
#define TROUPE_REASON_SET(name, code) reasons.Set(#name, Napi::Number::New(env, code));
  TROUPE_PEER_DOWN_REASONS(TROUPE_REASON_SET)
#undef TROUPE_REASON_SET
  Napi::Object records = Napi::Object::New(env);
#define TROUPE_RECORD_SET(name, type, doc)                  \
  {                                                         \
    Napi::Object r = Napi::Object::New(env);                \
    r.Set("type", Napi::Number::New(env, type));            \
    r.Set("doc", doc);                                      \
    r.Set("fields", Napi::Object::New(env));                \
    records.Set(#name, r);                                  \
  }
  TROUPE_RECORDS(TROUPE_RECORD_SET)
#undef TROUPE_RECORD_SET
#define TROUPE_FIELD_SET(record, field, offset, bytes)                                   \
  {                                                                                      \
    Napi::Array at = Napi::Array::New(env, 2);                                           \
    at.Set(uint32_t(0), Napi::Number::New(env, offset));                                 \
    at.Set(uint32_t(1), Napi::Number::New(env, bytes));                                  \
    records.Get(#record).As<Napi::Object>().Get("fields").As<Napi::Object>().Set(#field, at); \
  }
  TROUPE_RECORD_FIELDS(TROUPE_FIELD_SET)
#undef TROUPE_FIELD_SET
  Napi::Object boundary = Napi::Object::New(env);
  boundary.Set("orders", orders);
  boundary.Set("frags", frags);
  boundary.Set("records", records);
  boundary.Set("peerDownReasons", reasons);
  return boundary;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Init(env));
  exports.Set("ManualCore", ManualCoreWrap::Init(env));
  exports.Set("ManualSealer", ManualSealerWrap::Init(env));
  exports.Set("decode", Napi::Function::New(env, Decode));
  exports.Set("groupHash", Napi::Function::New(env, GroupHashJs));
  Napi::Array names = Napi::Array::New(env);
  uint32_t i = 0;
#define TROUPE_COUNTER_NAME(name, doc) { Napi::Object c = Napi::Object::New(env); c.Set("name", #name); c.Set("doc", doc); names.Set(i++, c); }
  TROUPE_COUNTERS(TROUPE_COUNTER_NAME)
#undef TROUPE_COUNTER_NAME
  exports.Set("counters", names);
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("maxDatagram", Napi::Number::New(env, kMaxDatagram));
  limits.Set("minDatagram", Napi::Number::New(env, kMinDatagram));
  limits.Set("maxMembers", Napi::Number::New(env, kMaxMembers));
  limits.Set("maxName", Napi::Number::New(env, kMaxName));
  limits.Set("dataHeaderBytes", Napi::Number::New(env, kDataHeaderBytes));
  limits.Set("messageHeaderBytes", Napi::Number::New(env, kMsgHeaderBytes));
  limits.Set("messagePrefix", Napi::Number::New(env, kRecMessageFixed));
  limits.Set("sealOverhead", Napi::Number::New(env, kSealOverhead));
  limits.Set("keyBytes", Napi::Number::New(env, kKeyBytes));
  exports.Set("limits", limits);
  exports.Set("boundary", BoundaryObject(env));
  const CoreConfig core;  // its defaults (reliability.h), for the test that holds them to ts/options.ts
  Napi::Object coreDefaults = Napi::Object::New(env);
  coreDefaults.Set("datagramSize", Napi::Number::New(env, core.datagramSize));
  coreDefaults.Set("windowBytes", Napi::Number::New(env, double(core.windowBytes)));
  coreDefaults.Set("statusIntervalNs", Napi::Number::New(env, double(core.statusIntervalNs)));
  coreDefaults.Set("nakDelayNs", Napi::Number::New(env, double(core.nakDelayNs)));
  coreDefaults.Set("suspectTimeoutNs", Napi::Number::New(env, double(core.suspectTimeoutNs)));
  coreDefaults.Set("receiveOwn", Napi::Boolean::New(env, core.receiveOwn));
  exports.Set("coreDefaults", coreDefaults);
  return exports;
}

}  // namespace troupe

static Napi::Object InitTroupe(Napi::Env env, Napi::Object exports) { return troupe::Init(env, exports); }
NODE_API_MODULE(troupe, InitTroupe)
