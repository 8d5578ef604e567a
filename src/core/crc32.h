// CRC-32 (IEEE 802.3, reflected, as zlib's crc32 and Python's zlib.crc32).
#pragma once
#include <cstddef>
#include <cstdint>

namespace wt {
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0);
}
