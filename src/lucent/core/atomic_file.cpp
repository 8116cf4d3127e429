#include "lucent/core/atomic_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lucent {
namespace fs = std::filesystem;

std::string full_extension(const fs::path& path) {
  std::string name = path.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* compound : {".nii.gz", ".tar.gz"}) {
    const std::string_view ext(compound);
    if (name.size() > ext.size() && name.ends_with(ext)) return std::string(ext);
  }
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  return name.substr(dot);
}

fs::path temporary_sibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  const std::string ext = full_extension(target);
  std::string stem = target.filename().string();
  stem = stem.substr(0, stem.size() - ext.size());
  std::ostringstream name;
  name << '.' << stem << ".tmp-" << ::getpid() << '-' << counter++ << ext;
  return target.parent_path() / name.str();
}

namespace {

Status fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return fail(ErrorCode::kIoError, "cannot open " + p.string() + " to flush it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail(ErrorCode::kIoError, "cannot flush " + p.string() + ": " + std::strerror(errno));
  return ok();
}

}  // namespace

Status write_atomically(const fs::path& target, const std::function<Status(const fs::path&)>& write) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::kIoError,
                "output folder " + dir.string() + " does not exist; create it first or choose another output path");
  if (fs::is_directory(target, ec))
    return fail(ErrorCode::kInvalidArgument, "output " + target.string() + " is a folder; give a file name");
  const fs::path tmp = temporary_sibling(target);
  auto cleanup = [&] { fs::remove(tmp, ec); };
  Status st;
  try {
    st = write(tmp);
  } catch (const std::exception& e) {
    st = fail(ErrorCode::kInternal, std::string("writer threw: ") + e.what());
  }
  if (!st) {
    cleanup();
    return st;
  }
  if (!fs::exists(tmp, ec)) return fail(ErrorCode::kInternal, "writer produced no file for " + target.string());
  if (auto f = fsync_path(tmp); !f) {
    cleanup();
    return f;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    cleanup();
    return fail(ErrorCode::kIoError, "cannot rename " + tmp.string() + " to " + target.string() + ": " + ec.message());
  }
  return ok();
}

Status write_file_atomically(const fs::path& target, std::string_view bytes) {
  return write_atomically(target, [&](const fs::path& tmp) -> Status {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return fail(ErrorCode::kIoError, "cannot create " + tmp.string() + ": " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return fail(ErrorCode::kIoError, "write to " + tmp.string() + " failed (disk full?)");
    return ok();
  });
}

Result<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return fail(ErrorCode::kNotFound, "file " + path.string() + " does not exist");
  if (fs::is_directory(path, ec)) return fail(ErrorCode::kInvalidArgument, path.string() + " is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIoError, "cannot open " + path.string() + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail(ErrorCode::kIoError, "read error on " + path.string());
  return ss.str();
}

namespace {
int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP || type == FTW_D) ? ::rmdir(path) : ::unlink(path);
  return rc == 0 || errno == ENOENT ? 0 : errno;
}
}  // namespace

bool remove_tree(const fs::path& path, std::error_code& error) noexcept {
  error.clear();
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    error = std::error_code(errno, std::generic_category());
    return false;
  }
  // Depth first (children before their folder), without following links or crossing mounts.
  const int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (rc != 0) {
    error = std::error_code(rc > 0 ? rc : errno, std::generic_category());
    return false;
  }
  return true;
}

}  // namespace lucent
