// ManualCore: the reliability core alone, driven by JS with made-up time
// (tests and the simulator): no thread, no socket. What it outputs waits in
// a RecordingSink until JS takes it.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../assembly.h"
#include "../datagram_pool.h"
#include "../records.h"
#include "../subject_filter.h"
#include "../reliability.h"
#include "../stats.h"
#include "args.h"

namespace troupe {
namespace {

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
  std::unique_ptr<SubjectFilter> filter;  // as the engine's (engine_sink.cc)
  SkipRun skipRun;
  uint64_t skipped = 0;
  std::unique_ptr<Assembler> assembler;  // as the engine's (set with the core)

  bool Deliver(uint32_t peer, uint64_t seq, uint32_t view, uint8_t order, uint8_t frag, const uint8_t* data, size_t n) override {
    if (room == 0) return false;
    if (room != SIZE_MAX) room--;
    if (frag != kFrag_whole) {
      skipRun.End();
      auto append = [this](uint16_t type, uint16_t flags, size_t payload) { return records.Append(type, flags, payload); };
      return DeliverFragment(*assembler, append, peer, seq, view, order, frag, data, n);
    }
    if (filter && filter->Drops(order, frag, data, n)) {
      skipped++;
      if (skipRun.Extend(records.data(), peer, view, seq)) return true;
      uint8_t* p = records.Append(kRec_skipped, 0, kRecSkippedBytes);
      EncodeSkipped(p, peer, view, seq, seq);
      skipRun.Start(size_t(p - records.data()), peer, view, seq);
      return true;
    }
    skipRun.End();
    EncodeMessage(records.Append(kRec_message, uint16_t(order | frag << 4), MessageRecordBytes(n)), seq, peer, view, data, n);
    return true;
  }
  void PeerUp(uint32_t peer, uint64_t id, const char* name, size_t nameLen) override {
    skipRun.End();
    EncodePeerUp(records.Append(kRec_peerUp, 0, PeerUpRecordBytes(nameLen)), peer, id, name, nameLen);
  }
  void PeerRemoved(uint32_t peer) override { assembler->Forget(peer); }
  void PeerDown(uint32_t peer, uint64_t id, PeerDownReason why) override {
    skipRun.End();
    EncodePeerDown(records.Append(kRec_peerDown, 0, kRecPeerDownBytes), peer, id, uint32_t(why));
  }
  void Control(uint64_t sender, const uint8_t* p, size_t n) override {
    skipRun.End();
    EncodeControl(records.Append(kRec_control, 0, ControlRecordBytes(n)), sender, p, n);
  }
  void Stable(uint32_t peer, uint64_t seq) override { skipRun.End(); EncodeStable(records.Append(kRec_stable, 0, kRecStableBytes), peer, seq); }
  void Slow(uint32_t peer, uint64_t id, uint64_t lag) override { skipRun.End(); EncodeSlow(records.Append(kRec_slow, 0, kRecSlowBytes), peer, id, lag); }
};

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
      InstanceMethod<&ManualCoreWrap::SetSubjects>("setSubjects"),
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
      InstanceMethod<&ManualCoreWrap::TakeMessage>("takeMessage"),
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
    size_t maxMessage = 8 << 20;
    if (!ReadCoreConfig(info[0].As<Napi::Object>(), &c) || !ReadMaxMessage(info[0].As<Napi::Object>(), &maxMessage)) return;
    sink_.assembler = std::make_unique<Assembler>(maxMessage);
    counters_.assign(kCounterCount, 0);
    core_ = std::make_unique<Core>(c, &sink_, counters_.data(), Now(info[1]));
  }

 private:
  static Napi::Value Closed(Napi::Env env) { return ThrowError(env, "Error", "the ManualCore is closed", "ERR_TROUPE_CLOSED"); }
  // close(): frees the core now (its windows, log and kept datagrams) rather
  // than whenever the garbage collector finalizes this wrapper.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    unit_ = nullptr;  // (the core's pool's)
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
    // As the engine's transport does: the datagram in a unit of the core's
    // pool, which the core may take to keep it (Received::hold).
    DatagramPool* pool = core_->receivePool();
    if (pool && !unit_) unit_ = pool->Get();
    if (unit_ && a.ByteLength() <= DatagramPool::kBytes) {
      std::memcpy(unit_, a.Data(), a.ByteLength());
      core_->OnDatagram(unit_, a.ByteLength(), from, Now(info[3]), &unit_);
    } else {
      core_->OnDatagram(a.Data(), a.ByteLength(), from, Now(info[3]));
    }
    return env.Undefined();
  }
  Napi::Value Timer(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->OnTimer(Now(info[0])); return info.Env().Undefined(); }
  Napi::Value NextDeadline(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Number::New(info.Env(), double(core_->NextDeadline())); }
  Napi::Value Pump(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Boolean::New(info.Env(), core_->Pump(Now(info[0]))); }
  Napi::Value SetRoom(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    sink_.room = info[0].IsNumber() ? size_t(info[0].As<Napi::Number>().Int64Value()) : SIZE_MAX;
    return info.Env().Undefined();
  }
  // setSubjects(patterns | null): the engine's subject filter, here (engine_wrap.cc).
  Napi::Value SetSubjects(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    std::vector<std::string> patterns;
    const bool none = !info.Length() || info[0].IsNull() || info[0].IsUndefined();
    if (!none && !ReadPatterns(info[0], &patterns)) {
      ThrowError(info.Env(), "TypeError", "setSubjects() expects an array of at most 65536 patterns of 1 to 255 bytes, or null", "ERR_INVALID_ARG_TYPE");
      return info.Env().Undefined();
    }
    sink_.filter = none ? nullptr : std::make_unique<SubjectFilter>(patterns);
    return info.Env().Undefined();
  }
  Napi::Value Leave(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->Leave(Now(info[0])); return info.Env().Undefined(); }
  Napi::Value Self(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::String::New(info.Env(), Hex64(core_->self())); }
  Napi::Value GetCounters(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    counters_[k_subjectsSkipped] = sink_.skipped;  // (the sink's, as the engine's sink counts them)
    counters_[k_assemblyBytes] = sink_.assembler->assemblingBytes();
    counters_[k_assemblyDropped] = sink_.assembler->dropped();
    return Counters(info.Env(), counters_.data());
  }
  // control(bytes, to: hex id | null, nowNs) -> false if too large
  Napi::Value Control(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    ControlArgs a;
    if (!ReadControl(info, &a)) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), core_->SendControl(a.data, a.size, a.to, Now(info[2])));
  }
  Napi::Value Exclude(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    const ExcludeArgs a = ReadExclude(info);
    core_->Exclude(a.member, a.excluded);
    return info.Env().Undefined();
  }
  Napi::Value Forget(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->Forget(ParseHex64(info[0])); return info.Env().Undefined(); }
  Napi::Value SetView(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); core_->SetView(info[0].ToNumber().Uint32Value(), Now(info[1])); return info.Env().Undefined(); }
  Napi::Value Advance(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    const AdvanceArgs a = ReadAdvance(info);
    core_->Advance(a.member, a.seq);
    return info.Env().Undefined();
  }
  Napi::Value Fetch(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env());
    FetchArgs a;
    if (!ReadFetch(info, &a)) return info.Env().Undefined();
    core_->Fetch(a.sender, a.holder, a.ranges.data(), a.ranges.size() / 2);
    return info.Env().Undefined();
  }
  Napi::Value InMessage(const Napi::CallbackInfo& info) { if (!core_) return Closed(info.Env()); return Napi::Boolean::New(info.Env(), core_->InMessage()); }
  // takeMessage(handle) -> Uint8Array | null (as the engine's).
  Napi::Value TakeMessage(const Napi::CallbackInfo& info) {
    MessageBytes bytes;
    if (!core_ || !info[0].IsNumber() || !sink_.assembler->Take(uint64_t(info[0].As<Napi::Number>().Int64Value()), &bytes)) return info.Env().Null();
    return MessageValue(info.Env(), bytes);
  }
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
    sink_.skipRun.End();
    return out;
  }

  RecordingSink sink_;
  std::vector<uint64_t> counters_;
  std::unique_ptr<Core> core_;
  uint8_t* unit_ = nullptr;  // the next datagram goes here (input)
};

}  // namespace

Napi::Function InitManualCore(Napi::Env env) { return ManualCoreWrap::Init(env); }

}  // namespace troupe
