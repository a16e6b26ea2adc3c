#include "wire.h"

namespace troupe {

uint32_t GroupHash(const char* name, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) { h ^= uint8_t(name[i]); h *= 16777619u; }
  return h;
}

void EncodeHeader(uint8_t* p, uint8_t type, uint32_t group, uint64_t sender, uint32_t view, uint32_t length) {
  St16(p, kMagic);
  p[2] = kVersion;
  p[3] = type;
  St32(p + 4, group);
  St64(p + 8, sender);
  St32(p + 16, view);
  St32(p + 20, length);
}

Reject DecodeHeader(const uint8_t* p, size_t n, uint32_t group, Header* h) {
  if (n < kHeaderBytes) return Reject::kTruncated;
  if (Ld16(p) != kMagic) return Reject::kMagic;
  if (p[2] != kVersion) return Reject::kVersion;
  h->type = p[3];
  h->group = Ld32(p + 4);
  h->sender = Ld64(p + 8);
  h->view = Ld32(p + 16);
  h->length = Ld32(p + 20);
  if (h->length != n || n > kMaxDatagram) return Reject::kLength;
  if (h->sender == 0) return Reject::kMalformed;
  if (h->group != group) return Reject::kForeign;
  switch (h->type) {
    case kData: case kStatus: case kNak: case kLeave: case kControl: return Reject::kNone;
    default: return Reject::kMalformed;
  }
}

Reject DecodeData(const uint8_t* p, size_t n, DataView* d) {
  if (n < kDataHeaderBytes) return Reject::kTruncated;
  d->firstSeq = Ld64(p + 24);
  d->count = Ld16(p + 32);
  d->flags = Ld16(p + 34);
  if (d->count == 0 || d->firstSeq == 0 || d->firstSeq + d->count < d->firstSeq) return Reject::kMalformed;
  // Walk every message once so that the receive path can trust the lengths.
  const uint8_t* m = p + kDataHeaderBytes;
  const uint8_t* end = p + n;
  for (uint32_t i = 0; i < d->count; i++) {
    if (end - m < ptrdiff_t(kMsgHeaderBytes)) return Reject::kTruncated;
    const uint16_t len = Ld16(m);
    if ((BaseOrder(m[2]) > kOrderMax && m[2] != kOrder_system && m[2] != kOrder_record) || m[3] > kFrag_last) return Reject::kMalformed;  // order, frag
    m += kMsgHeaderBytes;
    if (end - m < ptrdiff_t(len)) return Reject::kTruncated;
    m += len;
  }
  if (m != end) return Reject::kMalformed;  // trailing bytes
  d->messages = p + kDataHeaderBytes;
  d->end = end;
  return Reject::kNone;
}

Reject DecodeStatus(const uint8_t* p, size_t n, StatusView* s) {
  if (n < kStatusFixedBytes) return Reject::kTruncated;
  s->highestSent = Ld64(p + 24);
  s->lowestKept = Ld64(p + 32);
  s->nameLen = p[40];
  s->ackCount = Ld16(p + 42);
  if (s->nameLen > kMaxName || s->ackCount > kMaxMembers) return Reject::kMalformed;
  // No DATA can carry seq 2^64-1 (firstSeq + count may not wrap), so no
  // sender can have sent it; accepted, it would wrap the receiver's next seq
  // (highestSent + 1) to 0.
  if (s->highestSent == ~uint64_t(0)) return Reject::kMalformed;
  if (s->lowestKept > s->highestSent + 1) return Reject::kMalformed;
  if (n != kStatusFixedBytes + s->nameLen + size_t(s->ackCount) * 16) {
    return n < kStatusFixedBytes + s->nameLen + size_t(s->ackCount) * 16 ? Reject::kTruncated : Reject::kMalformed;
  }
  s->name = reinterpret_cast<const char*>(p + kStatusFixedBytes);
  s->acks = p + kStatusFixedBytes + s->nameLen;
  return Reject::kNone;
}

Reject DecodeNak(const uint8_t* p, size_t n, NakView* k) {
  if (n < kNakFixedBytes) return Reject::kTruncated;
  k->target = Ld64(p + 24);
  k->rangeCount = Ld16(p + 32);
  if (k->rangeCount == 0 || k->rangeCount > kMaxNakRanges) return Reject::kMalformed;
  if (n != kNakFixedBytes + size_t(k->rangeCount) * 16) {
    return n < kNakFixedBytes + size_t(k->rangeCount) * 16 ? Reject::kTruncated : Reject::kMalformed;
  }
  k->ranges = p + kNakFixedBytes;
  for (uint32_t i = 0; i < k->rangeCount; i++) {
    const uint64_t first = Ld64(k->ranges + i * 16), last = Ld64(k->ranges + i * 16 + 8);
    if (first == 0 || first > last) return Reject::kMalformed;
  }
  return Reject::kNone;
}

}  // namespace troupe
