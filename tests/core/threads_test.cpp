#include "lucent/core/threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lucent {
namespace {

TEST(Threads, ConfigureThreadsSetsTheCountAndRejectsNegatives) {
  auto n = configure_threads(1);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  auto all = configure_threads(0);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, hardware_threads());
  EXPECT_FALSE(configure_threads(-1));
}

// Lucent's own at::parallel_for loops (DICOM decoding, fused U-Net kernels, metrics) used one
// thread until 2026-11-27: without -fopenmp ATen's header compiles them as serial loops.
TEST(Threads, LucentsParallelLoopsUseTheConfiguredThreads) {
  if (!LUCENT_EXPECT_OPENMP) GTEST_SKIP() << "built without OpenMP (LUCENT_OPENMP=OFF or LUCENT_TORCH_ONLY)";
  if (hardware_threads() < 2) GTEST_SKIP() << "one hardware thread: nothing to run in parallel";
  ASSERT_TRUE(configure_threads(2));
  EXPECT_EQ(parallel_loop_threads(), 2) << "build Lucent with LUCENT_OPENMP=ON (the default)";
  ASSERT_TRUE(configure_threads(1));
  EXPECT_EQ(parallel_loop_threads(), 1);
  ASSERT_TRUE(configure_threads(0));
}

// The user's own malloc settings win; without them (on glibc) the thresholds are set, so a
// 64 MiB tensor (above glibc's largest default mmap threshold, 32 MiB) comes from the heap
// instead of a fresh mapping.
TEST(Threads, ConfigureAllocatorLeavesTheUsersMallocSettingsAloneElseServesLargeBuffersFromTheHeap) {
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    ::setenv(name, "", 1);
    EXPECT_FALSE(configure_allocator()) << name;
    ::unsetenv(name);
  }
#if defined(__GLIBC__)
  ASSERT_TRUE(configure_allocator());
  const size_t mapped_before = mallinfo2().hblkhd;
  at::Tensor big = at::full({16, 1024, 1024}, 1.0f);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "the 64 MiB buffer was mmap'ed";
  EXPECT_EQ(big.sum(at::kDouble).item<double>(), 16.0 * 1024 * 1024);
#else
  EXPECT_FALSE(configure_allocator());
#endif
}

bool mapped(const void* p) {
  std::ifstream maps("/proc/self/maps");
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    std::istringstream range(line);
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    range >> std::hex >> lo >> dash >> hi;
    if (lo <= address && address < hi) return true;
  }
  return false;
}

#if defined(__linux__)
// VmFlags of the mapping that holds `p` (/proc/self/smaps), "" if none; "hg" = MADV_HUGEPAGE.
std::string vm_flags(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> lo >> dash >> hi && dash == '-') inside = lo <= address && address < hi;
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

// advise_huge_pages marks the 2 MiB-aligned part of a large buffer (the decoded DICOM volume)
// for transparent huge pages, leaves small buffers and its contents alone.
TEST(Threads, AdviseHugePagesMarksTheAlignedPartOfLargeBuffers) {
  if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").fail())
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  constexpr std::size_t kLarge = std::size_t{32} << 20, kSmall = kHugePageAdviceBytes / 2;
  for (const std::size_t bytes : {kLarge, kSmall}) {
    void* raw = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(raw, MAP_FAILED);
    auto* data = static_cast<unsigned char*>(raw);
    data[0] = 7;
    // Inside the buffer, the first 2 MiB boundary after its start.
    const auto boundary = (reinterpret_cast<std::uintptr_t>(data) + (std::uintptr_t{2} << 20)) & ~((std::uintptr_t{2} << 20) - 1);
    const void* inner = reinterpret_cast<const void*>(boundary);
    EXPECT_EQ(vm_flags(inner).find(" hg "), std::string::npos) << "no advice before the call";
    advise_huge_pages(data, bytes);
    if (bytes >= kHugePageAdviceBytes) {
      EXPECT_NE(vm_flags(inner).find(" hg "), std::string::npos) << "the aligned part is advised";
    } else {
      EXPECT_EQ(vm_flags(inner).find(" hg "), std::string::npos) << "a small buffer is left alone";
    }
    EXPECT_EQ(data[0], 7);
    ::munmap(raw, bytes);
  }
  advise_huge_pages(nullptr, kLarge);  // nothing to advise: no effect, no crash
}
#endif

// Large buffers start on a 2 MiB boundary (so they can be huge pages) and hold what was written;
// a freed one serves the next request of the same size or up to half as long; kept buffers never pass the most ever in
// use at once (at least kKeptBufferBytes; the oldest go back to the kernel), and one larger than
// kKeptBufferBytes is unmapped at once; small buffers keep c10's allocator.
TEST(Threads, HugePageAllocatorAlignsReusesAndBoundsLargeBuffers) {
  if (!use_huge_pages_for_tensors()) GTEST_SKIP() << "huge-page allocator not built on this platform";
  EXPECT_TRUE(use_huge_pages_for_tensors());  // a second call is harmless
  constexpr int64_t kFloats = 5 << 20;       // 20 MiB
  const void* first = nullptr;
  {
    at::Tensor big = at::full({kFloats}, 2.0f);
    first = big.data_ptr();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % (std::size_t{2} << 20), 0u);
    EXPECT_EQ(big.sum(at::kDouble).item<double>(), 2.0 * kFloats);
    at::Tensor odd = at::arange(static_cast<int64_t>(kMinHugePageBuffer / 4) + 3, at::kFloat);  // not a page multiple
    EXPECT_EQ(odd[-1].item<float>(), static_cast<float>(kMinHugePageBuffer / 4 + 2));
    at::Tensor small = at::ones({1000});
    EXPECT_EQ(small.sum().item<float>(), 1000.0f);
  }
  EXPECT_TRUE(mapped(first)) << "a freed 20 MiB buffer is kept for reuse";
  at::Tensor again = at::empty({kFloats});
  EXPECT_EQ(again.data_ptr(), first) << "the kept buffer serves the next request of its size";
  again = at::Tensor();
  at::Tensor shorter = at::empty({kFloats * 3 / 4});
  EXPECT_EQ(shorter.data_ptr(), first) << "a kept buffer up to twice as long serves a shorter request";
  shorter = at::Tensor();
  at::Tensor longer = at::empty({kFloats + 1024});
  EXPECT_NE(longer.data_ptr(), first) << "a kept buffer never serves a longer request";
  longer = at::Tensor();

  // Buffers in use at once raise the cap to what they hold: all of them are kept when freed
  // (a training step's activations), at most that much.
  const int count = static_cast<int>(kKeptBufferBytes / (kFloats * 4)) + 2;
  std::vector<at::Tensor> many;
  std::vector<const void*> where;
  for (int i = 0; i < count; ++i) {
    many.push_back(at::empty({kFloats + 1024 * (1 + i)}));  // page lengths no kept buffer has
    where.push_back(many.back().data_ptr());
  }
  for (auto& t : many) t = at::Tensor();
  EXPECT_TRUE(mapped(where.front())) << "buffers that were in use together should all be kept";
  EXPECT_TRUE(mapped(where.back()));
  // One more freed buffer of a new size passes that cap: the oldest kept one goes back.
  const void* extra = nullptr;
  {
    at::Tensor t = at::empty({kFloats / 2 - 4096});  // no kept buffer is at most twice as long
    extra = t.data_ptr();
  }
  EXPECT_TRUE(mapped(extra));
  EXPECT_FALSE(mapped(where.front())) << "the oldest kept buffer should have gone back to the kernel";
  EXPECT_TRUE(mapped(where[1]));

  const void* huge = nullptr;
  {
    at::Tensor t = at::empty({static_cast<int64_t>(kKeptBufferBytes / 4) + 1024});
    huge = t.data_ptr();
    EXPECT_TRUE(mapped(huge));
  }
  EXPECT_FALSE(mapped(huge)) << "a buffer above the cap is unmapped when freed";

  // release_kept_tensor_buffers gives every kept buffer back (what the trainers call between
  // an epoch's steps and evaluation) and says how much.
  EXPECT_TRUE(mapped(where.back()));
  EXPECT_GE(release_kept_tensor_buffers(), static_cast<std::size_t>(kFloats) * 4);
  EXPECT_FALSE(mapped(where.back()));
  EXPECT_FALSE(mapped(extra));
  EXPECT_EQ(release_kept_tensor_buffers(), 0u) << "nothing is left kept";
  at::Tensor fresh = at::full({kFloats}, 3.0f);  // the allocator still serves after a release
  EXPECT_EQ(fresh.sum(at::kDouble).item<double>(), 3.0 * kFloats);
}

}  // namespace
}  // namespace lucent
