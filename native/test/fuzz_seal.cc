// libFuzzer target for the closed groups' sealer (native/seal.h): hostile
// bytes at Open(), and sealed datagrams altered by one byte. Built against
// the system's OpenSSL 3 (the addon uses Node's own, the same API).
//
// Input byte 0 picks the case:
//   even: the rest is a datagram from the network: Open() must not crash,
//         and what opens must be a plain datagram of the right length;
//   odd:  the rest is a plain datagram (padded to a header): it is sealed,
//         must open once (the same bytes) and then be refused as a replay;
//         then a fresh seal of it with one byte changed (position and bits
//         from the input) must not open.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "seal.h"
#include "wire.h"

using troupe::Sealer;
using troupe::SealReject;

namespace {
constexpr uint64_t kA = 0xA1A1A1A1A1A1A1A1ull, kB = 0xB2B2B2B2B2B2B2B2ull;
const uint8_t kKey[troupe::kKeyBytes] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                         17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Sealer a(kKey, kA), b(kKey, kB);
  static uint64_t now = 1;
  now += 1000;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  data++, size--;
  if (mode % 2 == 0) {
    std::vector<uint8_t> buf(data, data + size);
    size_t plain = 0;
    if (b.Open(buf.data(), buf.size(), now, &plain) == SealReject::kNone) {
      Check(plain + troupe::kSealOverhead == size && plain >= troupe::kHeaderBytes);
    }
    return 0;
  }
  // A plain datagram that names its sender (Open checks it), at least a header long.
  std::vector<uint8_t> p(data, data + size);
  if (p.size() < troupe::kHeaderBytes) p.resize(troupe::kHeaderBytes);
  if (p.size() > 2048) p.resize(2048);
  troupe::St64(p.data() + 8, kA);
  std::vector<uint8_t> sealed(p.size() + troupe::kSealOverhead);
  Check(a.Seal(p.data(), p.size(), sealed.data()) == sealed.size());
  std::vector<uint8_t> copy = sealed;
  size_t plain = 0;
  Check(b.Open(copy.data(), copy.size(), now, &plain) == SealReject::kNone);
  Check(plain == p.size() && std::memcmp(copy.data() + troupe::kSealHeaderBytes, p.data(), plain) == 0);
  copy = sealed;
  Check(b.Open(copy.data(), copy.size(), now, &plain) == SealReject::kReplay);
  // One byte changed in a fresh seal: never opens.
  Check(a.Seal(p.data(), p.size(), sealed.data()) == sealed.size());
  const size_t at = size >= 4 ? (size_t(data[0]) << 8 | data[1]) % sealed.size() : 0;
  const uint8_t bits = size >= 4 && data[2] ? data[2] : 1;
  sealed[at] ^= bits;
  Check(b.Open(sealed.data(), sealed.size(), now, &plain) != SealReject::kNone);
  return 0;
}
