// Deterministic, platform-independent randomness for data: SplitMix64, unbiased bounded draws,
// Fisher-Yates permutations and a stable FNV-1a text hash. std::shuffle and the std
// distributions are implementation-defined, so the data order never depends on them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rlvr::data {

// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for shuffling data.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform integer in [0, n), n > 0, without modulo bias (rejection sampling).
  uint64_t below(uint64_t n);
  // Uniform integer in [lo, hi] (inclusive), lo <= hi.
  int64_t between(int64_t lo, int64_t hi);

 private:
  uint64_t state_;
};

// Mixes several values into one seed (order matters): derive_seed(seed, epoch).
uint64_t derive_seed(uint64_t a, uint64_t b);
// 64-bit FNV-1a of the bytes of s; stable across platforms and runs.
uint64_t fnv1a64(const std::string& s);
// A permutation of 0..n-1 from `seed` (Fisher-Yates).
std::vector<int64_t> permutation(int64_t n, uint64_t seed);

}  // namespace rlvr::data
