// Thread setup for LibTorch's intra-op pool (and Lucent's own worker pools).
//
// LibTorch starts with one intra-op thread on some machines; every Lucent entry point calls
// `configure_threads` once at start-up. `requested == 0` means all cores.
// Not thread-safe: call once from main() before any tensor work.
#pragma once

#include "lucent/core/error.h"

namespace lucent {

// Sets LibTorch's intra-op thread count; returns the count in effect.
[[nodiscard]] Result<int> configure_threads(int requested);
// Number of hardware threads (at least 1).
[[nodiscard]] int hardware_threads();

// Lets the C allocator keep freed tensor buffers for the next allocation instead of returning
// them to the kernel. LibTorch's CPU tensors come from malloc; with glibc's defaults every
// buffer of a few MiB or more is mmap'ed and unmapped again, so a sliding window or a training
// epoch page-faults (and the kernel zeroes) the same memory for every window or batch: 660 000
// minor faults for the 48 windows of the 2-D segmentation benchmark, ~1 s of its 5-6 s
// (docs/segmentation.md). Sets glibc's mmap threshold to 256 MiB and trim threshold to 1 GiB;
// peak memory is unchanged (freed buffers are reused, not added). Does nothing when the user
// set MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES, or without glibc.
// Returns whether it changed anything. Call once, before any tensor work. `lucent predict` and
// the inference benchmarks call it; `lucent train` does not: there the same settings made an
// epoch ~10 % faster but raised peak memory by ~18 % (788 -> 929 MiB), above PyTorch's.
bool configure_allocator();

}  // namespace lucent
