#include "lucent/core/threads.h"

#include <ATen/Parallel.h>

#include <string>
#include <thread>

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

}  // namespace lucent
