// Rng: the only source of randomness in Lucent. Seeded from config, passed explicitly.
//
//   lucent::Rng rng(42);
//   double u = rng.uniform(0, 1);
//   at::Tensor noise = at::randn({4, 4}, rng.generator());
//   lucent::Rng worker = rng.fork(3);     // independent, reproducible stream for worker 3
//
// The same seed gives the same sequence on every run (CPU). Not thread-safe: give each thread
// its own Rng via fork().
#pragma once

#include <ATen/core/Generator.h>

#include <cstdint>
#include <random>

namespace lucent {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  [[nodiscard]] uint64_t seed() const { return seed_; }
  // A LibTorch CPU generator driven by this Rng (for at::rand/randn/randperm/bernoulli).
  [[nodiscard]] at::Generator& generator() { return generator_; }
  [[nodiscard]] double uniform(double lo, double hi);
  [[nodiscard]] int64_t integer(int64_t lo, int64_t hi_inclusive);
  [[nodiscard]] bool bernoulli(double p);
  [[nodiscard]] double normal(double mean, double stddev);
  // A new Rng whose seed is derived from this one's seed and `stream` (SplitMix64).
  [[nodiscard]] Rng fork(uint64_t stream) const;

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
  at::Generator generator_;
};

}  // namespace lucent
