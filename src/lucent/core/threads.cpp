#include "lucent/core/threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <string>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lucent {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Result<int> configure_threads(int requested) {
  if (requested < 0)
    return fail(ErrorCode::kInvalidArgument,
                "--threads must be 0 (all cores) or a positive count, got " + std::to_string(requested));
  const int n = requested == 0 ? hardware_threads() : requested;
  at::set_num_threads(n);
  return at::get_num_threads();
}

bool configure_allocator() {
#if defined(__GLIBC__)
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"})
    if (std::getenv(name) != nullptr) return false;
  constexpr int kMmapThreshold = 256 << 20, kTrimThreshold = 1 << 30;
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace lucent
