// libFuzzer target: the datagram codec (wire.h) on arbitrary bytes.
//
// Every decoder the receive path uses (DecodeHeader, then DecodeData,
// DecodeStatus or DecodeNak by type) is run on the input. libFuzzer hands us
// a heap buffer of exactly `size` bytes, so AddressSanitizer reports any read
// past the datagram. On top of that, whatever decodes cleanly must be
// consistent:
//   - every pointer in a view lies inside the input, and the parts it
//     describes tile the datagram exactly (no byte unaccounted for);
//   - the fields obey the limits wire.h states (counts, seq ranges);
//   - written out again from the decoded fields alone (EncodeHeader for the
//     header, the layout of wire.h for the bodies), the datagram decodes to
//     the same fields and equals the input byte for byte, reserved fields
//     aside (the decoders ignore them, so they cannot round-trip).
// Any inconsistency traps, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "wire.h"

using namespace troupe;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Inside(const uint8_t* q, size_t len, const uint8_t* p, size_t n) {
  return q >= p && q <= p + n && size_t(p + n - q) >= len;
}

// The start of a rebuilt datagram: the header as received (its own
// round-trip is checked where it decodes); the body is written by the caller.
std::vector<uint8_t> Rebuild(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out(n);
  std::memcpy(out.data(), p, kHeaderBytes);
  return out;
}

void CheckData(const uint8_t* p, size_t n) {
  DataView d;
  if (DecodeData(p, n, &d) != Reject::kNone) return;
  Check(d.count >= 1 && d.firstSeq >= 1);
  Check(d.firstSeq + d.count > d.firstSeq);  // the last seq does not wrap
  Check(d.messages == p + kDataHeaderBytes && d.end == p + n);
  // The messages tile [messages, end) exactly, each inside the input.
  std::vector<uint8_t> out = Rebuild(p, n);
  St64(out.data() + 24, d.firstSeq);
  St16(out.data() + 32, d.count);
  St16(out.data() + 34, d.flags);
  std::memcpy(out.data() + 36, p + 36, 4);  // reserved
  const uint8_t* m = d.messages;
  size_t at = kDataHeaderBytes;
  for (uint32_t i = 0; i < d.count; i++) {
    Check(Inside(m, kMsgHeaderBytes, p, n));
    const uint16_t len = Ld16(m);
    const uint8_t order = m[2], frag = m[3];
    Check((BaseOrder(order) <= kOrderMax || order == kOrder_system || order == kOrder_record) && frag <= kFrag_last);
    Check(Inside(m + kMsgHeaderBytes, len, p, n));
    St16(out.data() + at, len);
    out[at + 2] = order;
    out[at + 3] = frag;
    std::memcpy(out.data() + at + kMsgHeaderBytes, m + kMsgHeaderBytes, len);
    at += kMsgHeaderBytes + len;
    m += kMsgHeaderBytes + len;
  }
  Check(m == d.end && at == n);
  Check(std::memcmp(out.data(), p, n) == 0);
  DataView again;
  Check(DecodeData(out.data(), n, &again) == Reject::kNone);
  Check(again.firstSeq == d.firstSeq && again.count == d.count && again.flags == d.flags);
}

void CheckStatus(const uint8_t* p, size_t n) {
  StatusView s;
  if (DecodeStatus(p, n, &s) != Reject::kNone) return;
  Check(s.nameLen <= kMaxName && s.ackCount <= kMaxMembers);
  Check(s.highestSent != ~uint64_t(0) && s.lowestKept <= s.highestSent + 1);
  const uint8_t* name = reinterpret_cast<const uint8_t*>(s.name);
  Check(name == p + kStatusFixedBytes && Inside(name, s.nameLen, p, n));
  Check(s.acks == name + s.nameLen && Inside(s.acks, size_t(s.ackCount) * 16, p, n));
  Check(s.acks + size_t(s.ackCount) * 16 == p + n);
  std::vector<uint8_t> out = Rebuild(p, n);
  St64(out.data() + 24, s.highestSent);
  St64(out.data() + 32, s.lowestKept);
  out[40] = s.nameLen;
  out[41] = p[41];  // flags: not read by the decoder
  St16(out.data() + 42, s.ackCount);
  std::memcpy(out.data() + 44, p + 44, 4);  // reserved
  std::memcpy(out.data() + kStatusFixedBytes, s.name, s.nameLen);
  for (uint32_t i = 0; i < s.ackCount; i++) {
    uint8_t* a = out.data() + kStatusFixedBytes + s.nameLen + i * 16;
    St64(a, Ld64(s.acks + i * 16));
    St64(a + 8, Ld64(s.acks + i * 16 + 8));
  }
  Check(std::memcmp(out.data(), p, n) == 0);
  StatusView again;
  Check(DecodeStatus(out.data(), n, &again) == Reject::kNone);
  Check(again.highestSent == s.highestSent && again.lowestKept == s.lowestKept &&
        again.nameLen == s.nameLen && again.ackCount == s.ackCount);
}

void CheckNak(const uint8_t* p, size_t n) {
  NakView k;
  if (DecodeNak(p, n, &k) != Reject::kNone) return;
  Check(k.rangeCount >= 1 && k.rangeCount <= kMaxNakRanges);
  Check(k.ranges == p + kNakFixedBytes && k.ranges + size_t(k.rangeCount) * 16 == p + n);
  std::vector<uint8_t> out = Rebuild(p, n);
  St64(out.data() + 24, k.target);
  St16(out.data() + 32, k.rangeCount);
  std::memcpy(out.data() + 34, p + 34, 6);  // reserved
  for (uint32_t i = 0; i < k.rangeCount; i++) {
    const uint64_t first = Ld64(k.ranges + i * 16), last = Ld64(k.ranges + i * 16 + 8);
    Check(first >= 1 && first <= last);
    St64(out.data() + kNakFixedBytes + i * 16, first);
    St64(out.data() + kNakFixedBytes + i * 16 + 8, last);
  }
  Check(std::memcmp(out.data(), p, n) == 0);
  NakView again;
  Check(DecodeNak(out.data(), n, &again) == Reject::kNone);
  Check(again.target == k.target && again.rangeCount == k.rangeCount);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* p, size_t n) {
  // The group the datagram names, so that the foreign-group check does not
  // hide the rest; and another one, which must then reject it as foreign.
  const uint32_t own = n >= 8 ? Ld32(p + 4) : 0;
  Header h;
  const Reject r = DecodeHeader(p, n, own, &h);
  Header other;
  const Reject f = DecodeHeader(p, n, own ^ 0x5a5a5a5a, &other);
  // Only the group differs: the same verdict, except that the group is
  // checked before the type.
  if (r == Reject::kNone) Check(f == Reject::kForeign);
  else Check(f == r || (r == Reject::kMalformed && f == Reject::kForeign));
  if (r == Reject::kNone) {
    Check(n >= kHeaderBytes && n <= kMaxDatagram && h.length == n);
    Check(h.sender != 0 && h.group == own);
    Check(h.type >= kData && h.type <= kControl);
    uint8_t again[kHeaderBytes];
    EncodeHeader(again, h.type, h.group, h.sender, h.view, h.length);
    Check(std::memcmp(again, p, kHeaderBytes) == 0);
  }
  // The receive path calls a body decoder only after DecodeHeader accepted
  // the datagram and named its type, but nothing in them may depend on that:
  // each runs on every input.
  CheckData(p, n);
  CheckStatus(p, n);
  CheckNak(p, n);
  return 0;
}
