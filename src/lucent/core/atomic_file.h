// Atomic file output: a failed or interrupted write never leaves something that looks complete.
//
// Data are written to a temporary name in the destination folder (so the final rename stays on
// one file system), flushed with fsync, then renamed over the destination. The temporary keeps
// the destination's extension so that extension-driven writers (ITK) pick the right format.
//
//   auto st = write_atomically(out, [&](const std::filesystem::path& tmp) { return writer(tmp); });
//
// Errors: kIoError when the folder is missing/unwritable or the rename fails; whatever `write`
// returns otherwise. The temporary file is removed on every failure path.
// Thread-safe (distinct temporary names per call).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "lucent/core/error.h"

namespace lucent {

// A sibling temporary path for `target`: "<dir>/.<stem>.tmp-<pid>-<n><full extension>".
[[nodiscard]] std::filesystem::path temporary_sibling(const std::filesystem::path& target);

// Calls `write(tmp)`, fsyncs tmp, renames tmp → target.
[[nodiscard]] Status write_atomically(const std::filesystem::path& target,
                                      const std::function<Status(const std::filesystem::path&)>& write);

// Writes bytes atomically.
[[nodiscard]] Status write_file_atomically(const std::filesystem::path& target, std::string_view bytes);

// Reads a whole file (kNotFound / kIoError on failure).
[[nodiscard]] Result<std::string> read_file(const std::filesystem::path& path);

// Removes a file or a whole folder tree (symbolic links are removed, not followed); a missing
// path is not an error. POSIX nftw rather than std::filesystem::remove_all: pip builds of
// LibTorch export their own copy of libstdc++'s recursive_directory_iterator
// (pytorch/pytorch#133437), which remove_all may reach. Returns false with `error` set on failure.
bool remove_tree(const std::filesystem::path& path, std::error_code& error) noexcept;

// Full extension, lower case, including compound ones: ".nii.gz", ".dcm", "" if none.
[[nodiscard]] std::string full_extension(const std::filesystem::path& path);

}  // namespace lucent
