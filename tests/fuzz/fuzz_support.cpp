#include "fuzz_support.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <fstream>
#include <mutex>

#include "lucent/core/log.h"

namespace lucent::fuzz {

std::filesystem::path scratch_file(const uint8_t* data, size_t size, const std::string& extension) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("lucent-fuzz-" + std::to_string(::getpid()) + extension);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

void quiet_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    init_logging(LogLevel::kOff);
    at::set_num_threads(1);
  });
}

}  // namespace lucent::fuzz
