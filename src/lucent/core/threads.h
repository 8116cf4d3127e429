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

}  // namespace lucent
