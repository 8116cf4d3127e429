#include "lucent/core/threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

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

// The user's own malloc settings win; without them (on glibc) the thresholds are set, and
// tensors still allocate, free and reallocate correctly afterwards.
TEST(Threads, ConfigureAllocatorLeavesTheUsersMallocSettingsAlone) {
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
    ::setenv(name, "", 1);
    EXPECT_FALSE(configure_allocator()) << name;
    ::unsetenv(name);
  }
#if defined(__GLIBC__)
  EXPECT_TRUE(configure_allocator());
#else
  EXPECT_FALSE(configure_allocator());
#endif
  for (int i = 0; i < 3; ++i) {
    at::Tensor big = at::full({16, 1024, 1024}, static_cast<float>(i));  // 64 MiB: from the heap now
    at::Tensor small = at::full({1024}, 2.0f);
    EXPECT_EQ(big.sum(at::kDouble).item<double>(), static_cast<double>(i) * 16 * 1024 * 1024);
    EXPECT_EQ(small.sum(at::kDouble).item<double>(), 2.0 * 1024);
  }
}

}  // namespace
}  // namespace lucent
