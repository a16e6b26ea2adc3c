// ManualSealer: the closed groups' sealer alone, for tests.
#include <napi.h>

#include <memory>
#include <vector>

#include "../seal.h"
#include "args.h"

namespace troupe {
namespace {

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

}  // namespace

Napi::Function InitManualSealer(Napi::Env env) { return ManualSealerWrap::Init(env); }

}  // namespace troupe
