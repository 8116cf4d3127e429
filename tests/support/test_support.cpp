#include "support/test_support.h"

#include "lucent/core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace lucent::test {
namespace fs = std::filesystem;

fs::path data_dir() {
  if (const char* env = std::getenv("LUCENT_DATA"); env && *env) return fs::path(env);
  return fs::path(LUCENT_TEST_DATA_DEFAULT);
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("lucent-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  remove_tree(path_, ec);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  remove_tree(path_, ec);
}

}  // namespace lucent::test
