// SHA-256 of bytes and files (OpenSSL), hex encoded. Used for bundle integrity and data hashes;
// MD5 of files only to compare with checksums that publishers give in MD5 (MedMNIST on Zenodo).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "lucent/core/error.h"

namespace lucent {

[[nodiscard]] std::string sha256_hex(std::string_view bytes);
// Streams the file; kNotFound / kIoError on failure.
[[nodiscard]] Result<std::string> sha256_file(const std::filesystem::path& path);
[[nodiscard]] Result<std::string> md5_file(const std::filesystem::path& path);

// Incremental hashing (e.g. of a dataset's arrays).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view bytes);
  [[nodiscard]] std::string hex();  // finalises

 private:
  void* ctx_;
};

}  // namespace lucent
