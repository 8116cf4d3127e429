#include "lucent/core/rng.h"

#include <ATen/CPUGeneratorImpl.h>

namespace lucent {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

Rng::Rng(uint64_t seed) : seed_(seed), engine_(seed), generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

double Rng::uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }

int64_t Rng::integer(int64_t lo, int64_t hi_inclusive) {
  return std::uniform_int_distribution<int64_t>(lo, hi_inclusive)(engine_);
}

bool Rng::bernoulli(double p) { return p > 0 && uniform(0, 1) < p; }

double Rng::normal(double mean, double stddev) { return std::normal_distribution<double>(mean, stddev)(engine_); }

Rng Rng::fork(uint64_t stream) const { return Rng(splitmix64(seed_ ^ splitmix64(stream + 1))); }

}  // namespace lucent
