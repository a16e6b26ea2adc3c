// CRC-32C (Castagnoli) of bytes, continuing from `crc` (0 to start), as
// RFC 3720 defines it: the checksum bulk transfers carry (checksum.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace troupe {

// With the CPU's crc32 instruction when it has one.
uint32_t Crc32c(uint32_t crc, const uint8_t* data, size_t n);
// A byte at a time from a table (what Crc32c falls back to; tests compare the two).
uint32_t Crc32cPortable(uint32_t crc, const uint8_t* data, size_t n);

}  // namespace troupe
