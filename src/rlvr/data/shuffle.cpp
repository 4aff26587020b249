// SplitMix64, bounded draws, permutations and FNV-1a (see shuffle.h).
#include "rlvr/data/shuffle.h"

#include "rlvr/core/error.h"

namespace rlvr::data {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t n) {
  RLVR_CHECK(n > 0, "SplitMix64::below: n must be positive");
  // Reject the top partial bucket so every residue is equally likely.
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do {
    x = next();
  } while (x >= limit);
  return x % n;
}

int64_t SplitMix64::between(int64_t lo, int64_t hi) {
  RLVR_CHECK(lo <= hi, "SplitMix64::between: empty range [", lo, ", ", hi, "]");
  return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
}

uint64_t derive_seed(uint64_t a, uint64_t b) {
  SplitMix64 g(a ^ (b * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL));
  return g.next();
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  RLVR_CHECK(n >= 0, "permutation: negative size ", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  SplitMix64 g(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t j = static_cast<int64_t>(g.below(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

}  // namespace rlvr::data
