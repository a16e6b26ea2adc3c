// The N-API module: what native/ gives JS. Its classes, one file each in napi/:
//   Engine        a live group member: sockets, I/O thread, shared rings (napi/engine_wrap.cc)
//   ManualCore    the reliability core alone, driven by JS with made-up time
//                 (tests and the simulator): no thread, no socket (napi/manual_core_wrap.cc)
//   ManualSealer  the closed groups' sealer alone, for tests (napi/sealer_wrap.cc)
// and, here, the codec alone (decode), the group hash, CRC-32C (crc32c), the counters' names,
// the limits, the boundary's codes and layouts (boundary.h) and the core's
// own defaults. Options are validated in TypeScript first (ts/options.ts);
// the wrappers check them again (napi/args.h) and answer bad values with a
// TypeError/RangeError, never a crash.
#include <napi.h>

#include <string>

#include "assembly.h"
#include "boundary.h"
#include "subject_filter.h"
#include "checksum.h"
#include "engine.h"
#include "napi/args.h"
#include "reliability.h"
#include "stats.h"
#include "wire.h"

namespace troupe {
namespace {

// crc32c(bytes, crc = 0, portable = false) -> the CRC-32C of bytes, continuing from crc
// (transfer checksums); `portable`: the table version, for tests.
Napi::Value Crc32cJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return ThrowError(env, "TypeError", "crc32c(): bytes must be a Uint8Array", "ERR_INVALID_ARG_TYPE");
  }
  auto bytes = info[0].As<Napi::Uint8Array>();
  uint32_t crc = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsNumber()) return ThrowError(env, "TypeError", "crc32c(): crc must be a number", "ERR_INVALID_ARG_TYPE");
    crc = info[1].As<Napi::Number>().Uint32Value();
  }
  const bool portable = info.Length() > 2 && info[2].ToBoolean().Value();
  const uint32_t r = portable ? Crc32cPortable(crc, bytes.Data(), bytes.ByteLength()) : Crc32c(crc, bytes.Data(), bytes.ByteLength());
  return Napi::Number::New(env, r);
}

// reusableBytes(n) -> a Uint8Array of n bytes, not zero-filled, whose memory
// is reused once JS lets go of it (past 16 KiB: assembly.cc's mappings), as
// a wake-up's copy is (Engine::TakeInbound): tests and diagnostics.
Napi::Value ReusableBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowError(env, "TypeError", "reusableBytes(): n must be a number", "ERR_INVALID_ARG_TYPE");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= double(1u << 30))) return ThrowError(env, "RangeError", "reusableBytes(): n must be 0..1 GiB", "ERR_OUT_OF_RANGE");
  MessageBytes bytes;
  if (!bytes.ReserveBatch(size_t(n))) return ThrowError(env, "Error", "reusableBytes(): out of memory", "ERR_TROUPE_NO_MEMORY");
  return MessageValue(env, bytes);
}

// messageMemory() -> { mapped, reused, keptBytes }: the mappings large
// messages' bytes were put together in, made fresh or reused (assembly.h).
Napi::Value MessageMemoryJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const MessageMemory m = MessageMemoryCounts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("mapped", Napi::Number::New(env, double(m.mapped)));
  o.Set("reused", Napi::Number::New(env, double(m.reused)));
  o.Set("keptBytes", Napi::Number::New(env, double(m.keptBytes)));
  return o;
}

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
  boundary.Set("room", Napi::Number::New(env, kOrderRoom));
  boundary.Set("roomSubjects", Napi::Number::New(env, kRoomSubjects));
  boundary.Set("frags", frags);
  boundary.Set("records", records);
  boundary.Set("peerDownReasons", reasons);
  return boundary;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", InitEngine(env));
  exports.Set("ManualCore", InitManualCore(env));
  exports.Set("ManualSealer", InitManualSealer(env));
  exports.Set("decode", Napi::Function::New(env, Decode));
  exports.Set("groupHash", Napi::Function::New(env, GroupHashJs));
  exports.Set("crc32c", Napi::Function::New(env, Crc32cJs));
  exports.Set("reusableBytes", Napi::Function::New(env, ReusableBytes));
  exports.Set("messageMemory", Napi::Function::New(env, MessageMemoryJs));
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
