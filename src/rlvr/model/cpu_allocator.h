// A caching CPU allocator for libtorch: freed blocks of 1 MiB and more are kept and handed out
// again instead of going back to the OS.
//
// Why: glibc serves blocks above 32 MiB (and, after trims, smaller ones) with fresh mmaps, so every
// large activation of a training step is page-faulted in 4 KiB at a time and zeroed by the kernel
// again. On the 0.5B model that was ~30% of the step's CPU time in the kernel (tens of millions of
// minor faults per step). Reused blocks cost nothing; new large blocks are 2 MiB aligned and
// advised as transparent huge pages, so even first use faults 512x less often.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rlvr {

struct CpuCacheStats {
  int64_t hits = 0;          // large allocations served from the cache
  int64_t misses = 0;        // large allocations that needed new memory
  int64_t cached_bytes = 0;  // held for reuse now
  int64_t live_bytes = 0;    // large blocks in use now
};

// Makes the caching allocator torch's CPU allocator for the rest of the process (idempotent; a
// second call only changes the cap). max_cached_bytes bounds the memory kept for reuse; 0 disables
// caching (blocks still come 2 MiB aligned). Call before tensors exist: blocks allocated earlier
// are freed by torch's own allocator, which is unaffected.
void install_caching_cpu_allocator(size_t max_cached_bytes);

// Installs it with the cap from RLVR_CPU_CACHE_MB (default 2048; 0 turns caching off).
void install_caching_cpu_allocator_from_env();

CpuCacheStats cpu_cache_stats();

// Frees every cached block (e.g. before a long phase that needs other sizes).
void release_cpu_cache();

}  // namespace rlvr
