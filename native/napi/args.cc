// The readers and conversions the N-API wrappers share (args.h).
#include "args.h"

#include <sys/random.h>

#include <cstdio>
#include <cstring>

#include "../engine.h"
#include "../stats.h"

namespace troupe {

Napi::Value ThrowError(Napi::Env env, const char* kind, const std::string& message, const char* code, int err) {
  Napi::Error e = std::strcmp(kind, "TypeError") == 0    ? Napi::TypeError::New(env, message)
                  : std::strcmp(kind, "RangeError") == 0 ? Napi::RangeError::New(env, message)
                                                         : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (err) e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

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
  Napi::Value client = o.Get("client");
  if (client.IsBoolean()) c->client = client.As<Napi::Boolean>().Value();
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

Napi::Uint8Array Bytes(Napi::Env env, const std::vector<uint8_t>& v) {
  Napi::Uint8Array a = Napi::Uint8Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size());
  return a;
}

bool ReadControl(const Napi::CallbackInfo& info, ControlArgs* out) {
  if (!info[0].IsTypedArray()) {
    ThrowError(info.Env(), "TypeError", "control payload must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
    return false;
  }
  auto a = info[0].As<Napi::Uint8Array>();
  *out = ControlArgs{a.Data(), a.ByteLength(), ParseHex64(info[1])};
  return true;
}

ExcludeArgs ReadExclude(const Napi::CallbackInfo& info) {
  return ExcludeArgs{ParseHex64(info[0]), info.Length() < 2 || info[1].ToBoolean().Value()};
}

AdvanceArgs ReadAdvance(const Napi::CallbackInfo& info) {
  return AdvanceArgs{ParseHex64(info[0]), uint64_t(info[1].ToNumber().DoubleValue())};
}

bool ReadFetch(const Napi::CallbackInfo& info, FetchArgs* out) {
  if (!ReadRanges(info[2], &out->ranges)) {
    ThrowError(info.Env(), "TypeError", "ranges must be an array of seq pairs", "ERR_INVALID_ARG_TYPE");
    return false;
  }
  out->sender = ParseHex64(info[0]);
  out->holder = ParseHex64(info[1]);
  return true;
}

bool ReadPatterns(const Napi::Value& v, std::vector<std::string>* out) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > 65536) return false;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsString()) return false;
    std::string p = x.As<Napi::String>().Utf8Value();
    if (p.empty() || p.size() > 255) return false;
    out->push_back(std::move(p));
  }
  return true;
}

}  // namespace troupe

namespace troupe {

bool ReadMaxMessage(Napi::Object o, size_t* out) {
  double max = double(*out);
  if (!ReadNumber(o, "maxMessageBytes", 1, 1 << 30, &max)) return false;
  *out = size_t(max);
  return true;
}

Napi::Value MessageValue(Napi::Env env, MessageBytes bytes) {
  if (bytes.size == 0) {
    bytes.Release();
    return Napi::Uint8Array::New(env, 0);
  }
  napi_value ab;
  const napi_status status = napi_create_external_arraybuffer(
      env, bytes.data, bytes.size,
      [](napi_env, void* data, void* hint) { MessageBytes::Free(static_cast<uint8_t*>(data), size_t(reinterpret_cast<uintptr_t>(hint))); },
      reinterpret_cast<void*>(uintptr_t(bytes.FreeHint())), &ab);
  if (status != napi_ok) {
    // A runtime without external buffers: a copy, then.
    Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes.size);
    std::memcpy(copy.Data(), bytes.data, bytes.size);
    const size_t size = bytes.size;
    bytes.Release();
    return Napi::Uint8Array::New(env, size, copy, 0);
  }
  return Napi::Uint8Array::New(env, bytes.size, Napi::ArrayBuffer(env, ab), 0);
}

}  // namespace troupe
