#include "lucent/core/threads.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace lucent {
namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;  // a transparent huge page on x86-64
}  // namespace

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

int parallel_loop_threads() {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  const int64_t n = 4 * std::max(1, at::get_num_threads());
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let every thread take a chunk
    const std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return static_cast<int>(ids.size());
}

void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || bytes < kHugePageAdviceBytes) return;
  constexpr std::uintptr_t mask = kHugePage - 1;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (start + mask) & ~mask, last = (start + bytes) & ~mask;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
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

#if defined(__linux__) && defined(MADV_HUGEPAGE) && TORCH_VERSION_MAJOR < 2
namespace {

using Buffers = std::vector<std::pair<void*, std::size_t>>;  // (start, mapped length)

// Unmaps `buffers` (call without the Mappings lock held); returns their bytes.
std::size_t unmap_all(const Buffers& buffers) {
  std::size_t bytes = 0;
  for (const auto& [p, length] : buffers) {
    ::munmap(p, length);
    bytes += length;
  }
  return bytes;
}

// Buffers of the huge-page allocator. `length` maps every buffer it handed out (in use or kept)
// to its mapped length. `kept` holds freed buffers, oldest first, for the next request they fit;
// when they would pass cap() the oldest go back to the kernel. Never destroyed, so tensors freed
// during static destruction still find their mapping.
struct Mappings {
  std::mutex mutex;
  std::unordered_map<void*, std::size_t> length;
  Buffers kept;
  std::size_t kept_bytes = 0;
  std::size_t in_use_bytes = 0;       // handed out and not yet freed
  std::size_t peak_in_use_bytes = 0;  // the most ever in use at once

  // What may stay kept: as much as was ever in use at once, within [kKeptBufferBytes, kMaxKeptBufferBytes].
  [[nodiscard]] std::size_t cap() const {
    return std::clamp(peak_in_use_bytes, kKeptBufferBytes, kMaxKeptBufferBytes);
  }
  // Forgets the oldest kept buffers until at most cap() bytes stay kept; returns them for the
  // caller to unmap once the lock is released.
  Buffers evict_oldest() {
    std::size_t oldest = 0;
    while (kept_bytes > cap()) {
      kept_bytes -= kept[oldest].second;
      length.erase(kept[oldest].first);
      ++oldest;
    }
    const auto end = kept.begin() + static_cast<std::ptrdiff_t>(oldest);
    Buffers gone(kept.begin(), end);
    kept.erase(kept.begin(), end);
    return gone;
  }
  // The most recently freed kept buffer of exactly `n` bytes, else the shortest one of at most
  // 2n (evaluation batches after a training epoch then reuse what the training step held);
  // null if none. The buffer counts as in use with its whole mapped length.
  void* reuse(std::size_t n) {
    auto best = kept.rend();
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
      if (it->second < n || it->second > 2 * n) continue;
      if (best == kept.rend() || it->second < best->second) best = it;
      if (it->second == n) break;
    }
    if (best == kept.rend()) return nullptr;
    void* p = best->first;
    kept_bytes -= best->second;
    in_use_bytes += best->second;  // no new peak: this buffer was counted when it was mapped
    kept.erase(std::next(best).base());
    return p;
  }
};
Mappings& mappings() {
  static auto* m = new Mappings();
  return *m;
}

// One deleter for both kinds of buffer (c10's raw_allocate needs a single raw deleter).
void release(void* p) {
  if (p == nullptr) return;
  Buffers unmap;
  {
    Mappings& m = mappings();
    std::lock_guard<std::mutex> lock(m.mutex);
    auto it = m.length.find(p);
    if (it == m.length.end()) {
      c10::free_cpu(p);
      return;
    }
    const std::size_t length = it->second;
    m.in_use_bytes -= length;
    if (length > kKeptBufferBytes) {
      m.length.erase(it);
      unmap.emplace_back(p, length);
    } else {
      m.kept.emplace_back(p, length);
      m.kept_bytes += length;
      unmap = m.evict_oldest();
    }
  }
  unmap_all(unmap);
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    void* p = n >= kMinHugePageBuffer ? take(n) : nullptr;
    if (p == nullptr) p = c10::alloc_cpu(n);  // small, or the mapping failed: c10's own path
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  // A kept buffer that fits (Mappings::reuse), else a new mapping that starts on a 2 MiB
  // boundary, so every whole 2 MiB of it can be one huge page.
  static void* take(std::size_t n) {
    static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t length = (n + page - 1) / page * page;
    Mappings& m = mappings();
    {
      std::lock_guard<std::mutex> lock(m.mutex);
      if (void* p = m.reuse(length)) return p;
    }
    void* raw = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto base = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (start > base) ::munmap(raw, start - base);  // the unaligned head and the unused tail
    const std::uintptr_t end = base + length + kHugePage;
    if (end > start + length) ::munmap(reinterpret_cast<void*>(start + length), end - (start + length));
    void* p = reinterpret_cast<void*>(start);
    ::madvise(p, length, MADV_HUGEPAGE);  // advice only: without THP the buffer has small pages
    std::lock_guard<std::mutex> lock(m.mutex);
    m.length.emplace(p, length);
    m.in_use_bytes += length;
    m.peak_in_use_bytes = std::max(m.peak_in_use_bytes, m.in_use_bytes);
    return p;
  }
};

}  // namespace

std::size_t release_kept_tensor_buffers() {
  Mappings& m = mappings();
  Buffers unmap;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    for (const auto& [p, length] : m.kept) m.length.erase(p);
    unmap.swap(m.kept);
    m.kept_bytes = 0;
  }
  return unmap_all(unmap);
}

bool use_huge_pages_for_tensors() {
  // Never destroyed: LibTorch may still allocate while static objects are torn down at exit.
  static const bool installed = [] {
    c10::SetCPUAllocator(new HugePageAllocator(), /*priority=*/1);
    return true;
  }();
  return installed;
}
#else
bool use_huge_pages_for_tensors() { return false; }
std::size_t release_kept_tensor_buffers() { return 0; }
#endif

}  // namespace lucent
