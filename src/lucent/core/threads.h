// Thread setup for LibTorch's intra-op pool (and Lucent's own worker pools).
//
// LibTorch starts with one intra-op thread on some machines; every Lucent entry point calls
// `configure_threads` once at start-up. `requested == 0` means all cores.
// Not thread-safe: call once from main() before any tensor work.
#pragma once

#include <cstddef>

#include "lucent/core/error.h"

namespace lucent {

// Sets LibTorch's intra-op thread count; returns the count in effect.
[[nodiscard]] Result<int> configure_threads(int requested);
// Number of hardware threads (at least 1).
[[nodiscard]] int hardware_threads();
// How many threads one at::parallel_for loop compiled into Lucent uses now (runs a tiny loop):
// 1 when Lucent was built without OpenMP (ATen's header then runs such loops serially, see
// LUCENT_OPENMP in CMakeLists.txt) or the thread count is 1.
[[nodiscard]] int parallel_loop_threads();

// Lets the C allocator keep freed tensor buffers for the next allocation instead of returning
// them to the kernel. LibTorch's CPU tensors come from malloc; with glibc's defaults buffers of
// several MiB are mmap'ed and unmapped again (or trimmed off the heap top), so a sliding window
// page-faults (and the kernel zeroes) the same memory for every window: 660 000 minor faults
// for the 48 windows of the 2-D segmentation benchmark, 0.4-1 s of a 5-6 s run in two trials
// (docs/segmentation.md). Sets glibc's mmap threshold to 256 MiB and trim threshold to 1 GiB.
// Freed memory stays in the process, so peak RSS can rise: it fell (442 -> 404 MiB) in the 2-D
// benchmark but rose 18 % (788 -> 929 MiB) over a training epoch, where it made the epoch ~10 %
// faster — above PyTorch's peak, so `lucent train` uses use_huge_pages_for_tensors instead;
// `lucent predict` and the inference benchmarks call this. Does nothing when the user set
// MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES, or without glibc. Returns
// whether it changed anything. Call once, before any tensor work.
bool configure_allocator();

// LibTorch's CPU allocator for training. A training step allocates and frees the same large
// activation and gradient buffers every step; with glibc's defaults each is page-faulted in (and
// zeroed by the kernel) again: 1.7-2.4 million minor faults for one PneumoniaMNIST epoch, 12.5 %
// of its CPU samples in the kernel (perf record, docs/benchmarks-train-speed.md). configure_allocator avoids that but keeps up to 18 % more memory.
// Here buffers of at least kMinHugePageBuffer bytes get their own mapping that starts on a 2 MiB
// boundary, with madvise(MADV_HUGEPAGE), so the kernel can back them with transparent huge pages
// (one fault per 2 MiB instead of 512); a freed one is kept for the next request of the same size
// or up to half as long.
// Kept buffers add up to at most the most bytes these buffers ever had in use at once (a step's
// activations come back every step), within [kKeptBufferBytes, kMaxKeptBufferBytes]; past that
// the oldest go back to the kernel first, and a single buffer above kKeptBufferBytes goes back
// at once. Smaller buffers keep c10's allocator. Measured on one epoch of that recipe, eight
// paired runs with channels-last (bench/run_train_ab.sh; docs/benchmarks-train-speed.md, Run 6):
// peak RSS 768-811 -> 554 MiB, minor faults ~2 M -> 0.26 M, images/s -11 to +13 % (median +5 %).
// With the Winograd convolutions a fixed 128 MiB cap no longer held a step's freed buffers: 265k
// faults per epoch; with this cap, best fit and release_kept_tensor_buffers 57k, and 308-373
// against 223-263 img/s in paired epochs, peak RSS 650 against 608 MiB (Run 9 in that
// document). Huge pages need Linux
// with transparent huge pages in "madvise" or "always" mode; with "never" the buffers get normal
// pages and the reuse still works. Installs itself as LibTorch's CPU allocator and returns true;
// false where it is not built (not Linux, or LibTorch 2.x, whose allocator interface differs).
// Call once from main(), before any tensor work; later calls do nothing.
inline constexpr std::size_t kMinHugePageBuffer = std::size_t{1} << 20;
inline constexpr std::size_t kKeptBufferBytes = std::size_t{128} << 20;
inline constexpr std::size_t kMaxKeptBufferBytes = std::size_t{1} << 30;
bool use_huge_pages_for_tensors();
// Gives every buffer use_huge_pages_for_tensors keeps for reuse back to the kernel and returns
// their bytes (0 where that allocator is not built). The trainers call it when an epoch's steps
// end and before the next epoch's begin: evaluation (and the EMA's batch-norm pass, at a larger
// batch) then maps what it needs instead of adding it to the steps' kept buffers, and the other
// way round (peak RSS: docs/benchmarks-train-speed.md, Run 9); each epoch's first step maps its
// buffers again.
std::size_t release_kept_tensor_buffers();

// Asks the kernel to back the 2 MiB-aligned part of a large buffer (a freshly allocated output
// volume that is about to be written once, e.g. a decoded DICOM series) with transparent huge
// pages: one page fault per 2 MiB instead of 512. Does nothing under kHugePageAdviceBytes, where
// THP is off, or off Linux. Advice only: the contents and the allocation are unchanged.
inline constexpr std::size_t kHugePageAdviceBytes = std::size_t{8} << 20;
void advise_huge_pages(void* data, std::size_t bytes);

}  // namespace lucent
