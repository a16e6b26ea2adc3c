// What the N-API wrappers share: errors with codes, argument and option
// readers (each checks what it reads and throws a TypeError/RangeError with
// a code, never crashes), and the conversions both directions need.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../assembly.h"
#include "../reliability.h"

namespace troupe {

// Throws a JS error of `kind` ("TypeError", "RangeError" or "Error") with `code` (and errno `err`); returns undefined.
Napi::Value ThrowError(Napi::Env env, const char* kind, const std::string& message, const char* code, int err = 0);
// Reads a numeric option (absent: *out unchanged); false, with a pending exception, when it is not a finite number within [lo, hi].
bool ReadNumber(Napi::Object o, const char* key, double lo, double hi, double* out);
bool IsPowerOfTwo(double d);
// The reliability core's options (reliability.h CoreConfig), read and checked.
bool ReadCoreConfig(Napi::Object o, CoreConfig* c);
// [first, last, first, last, ...] of seqs, first <= last.
bool ReadRanges(const Napi::Value& v, std::vector<uint64_t>* out);
// A member incarnation as JS writes it: 16 hex digits. 0 for anything else.
uint64_t ParseHex64(const Napi::Value& v);
std::string Hex64(uint64_t v);
Napi::Object Counters(Napi::Env env, const uint64_t* c);
Napi::Uint8Array Bytes(Napi::Env env, const std::vector<uint8_t>& v);
// The largest message the sink puts together (assembly.h): maxMessageBytes, 1 B..1 GiB (absent: the default).
bool ReadMaxMessage(Napi::Object o, size_t* out);
// A message put together natively, handed to JS without a copy (freed when JS lets go of it).
Napi::Value MessageValue(Napi::Env env, MessageBytes bytes);

// The arguments of the membership calls that Engine and ManualCore both take
// (control, exclude, forget, setView, advance, fetch), read once here.
struct ControlArgs { const uint8_t* data = nullptr; size_t size = 0; uint64_t to = 0; };
bool ReadControl(const Napi::CallbackInfo& info, ControlArgs* out);  // control(bytes, to: hex | null)
struct ExcludeArgs { uint64_t member = 0; bool excluded = true; };
ExcludeArgs ReadExclude(const Napi::CallbackInfo& info);  // exclude(hex, excluded = true)
struct AdvanceArgs { uint64_t member = 0; uint64_t seq = 0; };
AdvanceArgs ReadAdvance(const Napi::CallbackInfo& info);  // advance(hex, seq)
struct FetchArgs { uint64_t sender = 0, holder = 0; std::vector<uint64_t> ranges; };
bool ReadFetch(const Napi::CallbackInfo& info, FetchArgs* out);  // fetch(senderHex, holderHex, [first, last, ...])

// What each wrapper's file defines: its class, ready for the exports.
Napi::Function InitEngine(Napi::Env env);
Napi::Function InitManualCore(Napi::Env env);
Napi::Function InitManualSealer(Napi::Env env);

// Subscription patterns (setSubjects): an array of 1..255-byte strings, at most 65536.
bool ReadPatterns(const Napi::Value& v, std::vector<std::string>* out);

}  // namespace troupe
