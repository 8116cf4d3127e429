// Helpers shared by unit tests: where the real data is, and temporary folders.
#pragma once

#include <filesystem>
#include <string>

namespace lucent::test {

// $LUCENT_DATA, else ../shared/data next to the source tree. Empty path if neither exists.
std::filesystem::path data_dir();

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace lucent::test

// Skips the current test with a reason when the shared data are not present.
#define LUCENT_REQUIRE_DATA(relative)                                                      \
  do {                                                                                     \
    if (!std::filesystem::exists(::lucent::test::data_dir() / (relative)))                \
      GTEST_SKIP() << "test data " << (relative) << " not found under LUCENT_DATA ("       \
                   << ::lucent::test::data_dir() << "); run with the shared data present"; \
  } while (0)
