// A stand-alone driver for the LLVMFuzzerTestOneInput harnesses when no coverage-guided engine
// can build the project (LibTorch 1.13's headers fail under clang in C++23 mode, and Debian's
// AFL++ GCC plugin does not load into Debian's GCC 12.2). It is a blind mutation fuzzer:
// seeds from a corpus folder, then byte flips, random bytes, interesting integers at random
// offsets, truncation, duplication and splicing between seeds — run under AddressSanitizer
// and UBSan for a time budget. Any sanitizer report aborts the process (non-zero exit) and the
// input that caused it is saved first as crash-<n> in the output folder.
//
//   fuzz_dicom_reader CORPUS_DIR OUT_DIR SECONDS [SEED]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
namespace fs = std::filesystem;

std::vector<std::string> load_corpus(const fs::path& dir) {
  std::vector<std::string> seeds;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

std::string mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int rounds = 1 + static_cast<int>(rng() % 8);
  static constexpr int64_t kInteresting[] = {0, 1, -1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
                                             0x7fffffff, 0x80000000LL, 0xffffffffLL, 65536, 1 << 20};
  for (int r = 0; r < rounds && !s.empty(); ++r) {
    const size_t pos = rng() % s.size();
    switch (rng() % 7) {
      case 0: s[pos] ^= static_cast<char>(1 << (rng() % 8)); break;
      case 1: s[pos] = static_cast<char>(rng()); break;
      case 2: {  // interesting little-endian integer of width 1, 2 or 4
        const int64_t v = kInteresting[rng() % std::size(kInteresting)];
        const size_t width = size_t{1} << (rng() % 3);
        for (size_t b = 0; b < width && pos + b < s.size(); ++b) s[pos + b] = static_cast<char>((v >> (8 * b)) & 0xff);
        break;
      }
      case 3: s.resize(pos); break;  // truncate
      case 4: {                      // duplicate a chunk
        const size_t len = std::min<size_t>(s.size() - pos, 1 + rng() % 512);
        s.insert(pos, s.substr(pos, len));
        break;
      }
      case 5: {  // splice the tail of another seed
        const std::string& o = seeds[rng() % seeds.size()];
        if (!o.empty()) s = s.substr(0, pos) + o.substr(rng() % o.size());
        break;
      }
      case 6: s.erase(pos, std::min<size_t>(s.size() - pos, 1 + rng() % 64)); break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR OUT_DIR SECONDS [SEED]\n", argv[0]);
    return 2;
  }
  const fs::path corpus = argv[1], out = argv[2];
  const double budget = std::stod(argv[3]);
  std::mt19937_64 rng(argc > 4 ? std::stoull(argv[4]) : 1);
  fs::create_directories(out);
  auto seeds = load_corpus(corpus);
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", corpus.c_str());
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t runs = 0;
  const fs::path current = out / "current-input";
  for (const auto& s : seeds) {  // every seed as is first
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++runs;
  }
  double elapsed = 0;
  while ((elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()) < budget) {
    const std::string input = mutate(seeds, rng);
    {  // kept on disk while it runs: if a sanitizer aborts, this is the reproducer
      std::ofstream f(current, std::ios::binary | std::ios::trunc);
      f.write(input.data(), static_cast<std::streamsize>(input.size()));
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ++runs;
  }
  fs::remove(current);
  std::printf("runs %llu in %.0f s (%.1f/s), seeds %zu, no sanitizer finding\n", static_cast<unsigned long long>(runs),
              elapsed, static_cast<double>(runs) / elapsed, seeds.size());
  return 0;
}
