// CRC-32C (Castagnoli), the checksum of bulk transfers (ts/transfer/). It is
// computed over every byte at the source and at each receiver, so it must
// cost far less than the copies around it: with SSE4.2 the CPU's crc32
// instruction runs three independent lanes over 4 KiB blocks and joins them
// (the instruction's latency is 3 cycles, its throughput one per cycle), and
// without it a table does it a byte at a time.
//
// Joining lanes: with the register kept raw (no inversion at either end) the
// CRC is linear, R(data, s) = R(data, 0) ^ shift(s, |data|), where shift
// multiplies s by x^(8 |data|) modulo the polynomial (bit-reflected, as the
// instruction works). So lanes A, B, C of one block each start from 0 (A from
// the running state) and R(ABC, s) = C ^ shift(B ^ shift(A, L), L), with the
// constant x^(8L) worked out once.
#include "checksum.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace troupe {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // CRC-32C, reflected
constexpr size_t kLane = 4096;          // bytes per lane of a three-lane block

// a * b modulo the polynomial, both bit-reflected (x^0 is the top bit).
uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return product;
}

// x^n modulo the polynomial, reflected.
uint32_t XPowModP(uint64_t n) {
  uint32_t result = 1u << 31;  // x^0
  uint32_t square = 1u << 30;  // x^1
  for (; n != 0; n >>= 1) {
    if (n & 1) result = MulModP(result, square);
    square = MulModP(square, square);
  }
  return result;
}

struct Tables {
  uint32_t byte[256];
  uint32_t laneShift;  // x^(8 kLane)
  Tables() {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      byte[i] = c;
    }
    laneShift = XPowModP(8 * kLane);
  }
};
const Tables kTables;

uint32_t RawPortable(uint32_t s, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) s = kTables.byte[(s ^ p[i]) & 0xff] ^ (s >> 8);
  return s;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t RawSse42(uint32_t s, const uint8_t* p, size_t n) {
  uint64_t a = s;
  while (n >= 3 * kLane) {
    uint64_t b = 0, c = 0;
    const uint8_t* pb = p + kLane;
    const uint8_t* pc = p + 2 * kLane;
    for (size_t i = 0; i < kLane; i += 8) {
      uint64_t wa, wb, wc;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, pb + i, 8);
      std::memcpy(&wc, pc + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    const uint32_t ab = uint32_t(b) ^ MulModP(kTables.laneShift, uint32_t(a));
    a = uint32_t(c) ^ MulModP(kTables.laneShift, ab);
    p += 3 * kLane;
    n -= 3 * kLane;
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    a = _mm_crc32_u64(a, w);
  }
  uint32_t r = uint32_t(a);
  for (; n > 0; n--, p++) r = _mm_crc32_u8(r, *p);
  return r;
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t n) {
  const uint32_t s = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~RawSse42(s, data, n);
#endif
  return ~RawPortable(s, data, n);
}

uint32_t Crc32cPortable(uint32_t crc, const uint8_t* data, size_t n) {
  return ~RawPortable(~crc, data, n);
}

}  // namespace troupe
