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
// them to the kernel. LibTorch's CPU tensors come from malloc; with glibc's defaults buffers of
// several MiB are mmap'ed and unmapped again (or trimmed off the heap top), so a sliding window
// page-faults (and the kernel zeroes) the same memory for every window: 660 000 minor faults
// for the 48 windows of the 2-D segmentation benchmark, 0.4-1 s of a 5-6 s run in two trials
// (docs/segmentation.md). Sets glibc's mmap threshold to 256 MiB and trim threshold to 1 GiB.
// Freed memory stays in the process, so peak RSS can rise: it fell (442 -> 404 MiB) in the 2-D
// benchmark but rose 18 % (788 -> 929 MiB) over a training epoch, where it made the epoch ~10 %
// faster — above PyTorch's peak, so `lucent train` does not call this; `lucent predict` and the
// inference benchmarks do. Does nothing when the user set MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES, or without glibc. Returns whether it changed
// anything. Call once, before any tensor work.
bool configure_allocator();

}  // namespace lucent
