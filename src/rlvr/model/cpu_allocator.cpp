// Caching CPU allocator (see cpu_allocator.h): large blocks are kept in a size-ordered free list
// and reused; small ones go straight to posix_memalign / free.
#include "rlvr/model/cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>
#include <torch/version.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "rlvr/core/error.h"

namespace rlvr {
namespace {

// torch 2.x made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR >= 2
#define RLVR_ALLOCATE_CONST
#else
#define RLVR_ALLOCATE_CONST const
#endif

constexpr size_t kAlign = 64;               // c10's CPU alignment
constexpr size_t kLarge = size_t(1) << 20;  // cached from 1 MiB up
constexpr size_t kHuge = size_t(2) << 20;   // transparent huge page size

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) RLVR_ALLOCATE_CONST override {
    void* p = n >= kLarge ? self().take(n) : small(n);
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }
#if TORCH_VERSION_MAJOR >= 2
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
#endif

  static CachingCpuAllocator& self() {
    static CachingCpuAllocator* a = new CachingCpuAllocator();  // never destroyed: tensors may
    return *a;                                                   // outlive static destructors
  }

  void set_cap(size_t cap) {
    std::lock_guard<std::mutex> lock(mu_);
    cap_ = cap;
    trim_to(cap_);
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return st_;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mu_);
    trim_to(0);
  }

 private:
  static void* small(size_t n) {
    if (n == 0) return nullptr;
    void* p = nullptr;
    if (::posix_memalign(&p, kAlign, n) != 0) throw std::bad_alloc();
    return p;
  }

  // A cached block of at least n bytes and at most 1.25 n + 2 MiB, else a new one.
  void* take(size_t n) {
    const size_t want = round_up(n, kHuge);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(want);
      if (it != free_.end() && it->first <= want + want / 4 + kHuge) {
        void* p = it->second;
        const size_t size = it->first;
        free_.erase(it);
        live_[p] = size;
        st_.hits++;
        st_.cached_bytes -= static_cast<int64_t>(size);
        st_.live_bytes += static_cast<int64_t>(size);
        return p;
      }
    }
    void* p = nullptr;
    if (::posix_memalign(&p, kHuge, want) != 0) {
      release_all();  // memory is short: give the cache back and try once more
      if (::posix_memalign(&p, kHuge, want) != 0) throw std::bad_alloc();
    }
    ::madvise(p, want, MADV_HUGEPAGE);  // a hint; harmless where THP is off
    std::lock_guard<std::mutex> lock(mu_);
    live_[p] = want;
    st_.misses++;
    st_.live_bytes += static_cast<int64_t>(want);
    return p;
  }

  static void release(void* p) {
    if (p == nullptr) return;
    if (!self().give_back(p)) std::free(p);
  }

  // Returns false for a small block (the caller frees it).
  bool give_back(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) return false;
    const size_t size = it->second;
    live_.erase(it);
    st_.live_bytes -= static_cast<int64_t>(size);
    if (size > cap_) {
      std::free(p);
      return true;
    }
    free_.emplace(size, p);
    st_.cached_bytes += static_cast<int64_t>(size);
    trim_to(cap_);
    return true;
  }

  // Frees the largest cached blocks until the cache holds at most `limit` bytes (mu_ held).
  void trim_to(size_t limit) {
    while (st_.cached_bytes > static_cast<int64_t>(limit) && !free_.empty()) {
      auto it = std::prev(free_.end());
      st_.cached_bytes -= static_cast<int64_t>(it->first);
      std::free(it->second);
      free_.erase(it);
    }
  }

  std::mutex mu_;
  std::multimap<size_t, void*> free_;      // size -> cached block
  std::unordered_map<void*, size_t> live_;  // large blocks in use -> size
  size_t cap_ = 0;
  CpuCacheStats st_;
};

}  // namespace

void install_caching_cpu_allocator(size_t max_cached_bytes) {
  static std::once_flag once;
  auto& a = CachingCpuAllocator::self();
  a.set_cap(max_cached_bytes);
  // Priority above the default's (0), so later registrations at 0 cannot displace it.
  std::call_once(once, [&] { c10::SetCPUAllocator(&a, /*priority=*/1); });
}

void install_caching_cpu_allocator_from_env() {
  size_t mb = 2048;
  if (const char* v = std::getenv("RLVR_CPU_CACHE_MB")) {
    const std::string s = v;
    RLVR_CHECK(!s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos,
               "RLVR_CPU_CACHE_MB='", s, "': expected a whole number of MiB (0 turns the cache off)");
    mb = std::stoull(s);
  }
  install_caching_cpu_allocator(mb << 20);
  if (std::getenv("RLVR_CPU_CACHE_STATS") != nullptr) {
    static bool registered = false;
    if (!registered) {
      registered = true;
      std::atexit([] {
        const auto s = cpu_cache_stats();
        std::fprintf(stderr, "cpu cache: %lld hits, %lld misses, %.0f MiB cached, %.0f MiB live\n",
                     (long long)s.hits, (long long)s.misses, s.cached_bytes / 1048576.0,
                     s.live_bytes / 1048576.0);
      });
    }
  }
}

CpuCacheStats cpu_cache_stats() { return CachingCpuAllocator::self().stats(); }

void release_cpu_cache() { CachingCpuAllocator::self().release_all(); }

}  // namespace rlvr
