#include "lucent/core/threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
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

}  // namespace
}  // namespace lucent
