// splitmix64's finaliser: a well-spread 64-bit hash of x, for draws that must depend on (seed, step, ...) only (the
// same on any number of ranks and after a resume), not on a generator's state.
#pragma once

#include <cstdint>

namespace rslicer {

constexpr std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace rslicer
