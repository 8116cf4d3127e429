// Bootstrap confidence intervals (percentile and BCa) for any set of statistics of a sample,
// with resampling stratified by class and clustered by patient.
//
//   Resampler r = Resampler::make(n, strata, patient_of_case);   // empty vectors: none
//   auto stat = [&](const std::vector<int64_t>& cases) { return std::vector<std::optional<double>>{...}; };
//   Rng rng(seed);
//   auto ci = bootstrap_intervals(stat, stat(r.all_cases()), r, {.resamples = 2000}, rng);
//
// What is resampled: the units are patients when cluster ids are given (all cases of a drawn
// patient enter the resample together, as often as the patient is drawn), else cases. Units
// are drawn with replacement within each stratum, as many as the stratum holds, so every
// resample keeps the class mix. A unit's stratum is the set of strata of its cases (a patient
// with only class-1 cases is in stratum {1}, one with cases of both classes in {0,1}).
// Resample b uses rng.fork(b): results depend only on the seed, never on timing.
// Percentile CI: quantiles α/2 and 1-α/2 of the replicates (linear interpolation, NumPy's
// default). BCa (Efron 1987): bias z0 = Φ⁻¹((#{θ* < θ̂} + #{θ* = θ̂}/2) / B), acceleration from a
// grouped jackknife over the units (at most kJackknifeGroups groups). Replicates where a statistic
// is undefined are left out and counted in the note; with fewer than half defined there is no
// interval. `stat` is called from several threads at once (LibTorch's intra-op pool) and must
// be thread-safe; the caller's Rng is only read (forks are derived from its seed).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lucent/core/rng.h"

namespace lucent::metrics {

enum class CiMethod { kPercentile, kBca };
[[nodiscard]] const char* ci_method_name(CiMethod m);  // "bootstrap_percentile" / "bootstrap_bca"

constexpr std::size_t kJackknifeGroups = 400;

struct BootstrapOptions {
  int64_t resamples = 2000;
  double confidence = 0.95;
  CiMethod method = CiMethod::kBca;
};

class Resampler {
 public:
  // strata and clusters are per case; an empty vector means "one stratum" / "each case alone".
  [[nodiscard]] static Resampler make(std::size_t n_cases, const std::vector<int>& strata,
                                      const std::vector<std::string>& clusters);
  [[nodiscard]] std::size_t units() const { return units_.size(); }
  [[nodiscard]] std::size_t strata() const { return by_stratum_.size(); }
  // Units in the smallest stratum (0 when there are no units).
  [[nodiscard]] std::size_t smallest_stratum() const;
  [[nodiscard]] std::vector<int64_t> all_cases() const;
  // One bootstrap resample: case indices (with repeats).
  [[nodiscard]] std::vector<int64_t> draw(Rng& rng) const;
  // The cases of all units except those in jackknife group g of `groups` (unit u is in u % groups).
  [[nodiscard]] std::vector<int64_t> without_group(std::size_t g, std::size_t groups) const;

 private:
  std::vector<std::vector<int64_t>> units_;        // cases of each unit
  std::vector<std::vector<std::size_t>> by_stratum_;  // units of each stratum
};

using Statistics = std::function<std::vector<std::optional<double>>(const std::vector<int64_t>& cases)>;

struct Interval {
  std::optional<double> low, high;
  int64_t replicates = 0;  // resamples where the statistic was defined
  std::string method;      // ci_method_name(...), or "bootstrap_percentile" after a BCa fallback
  std::string note;        // why there is no interval, or what was left out
};

// One interval per statistic (same order as `estimate`, which is stat(all cases)).
[[nodiscard]] std::vector<Interval> bootstrap_intervals(const Statistics& stat,
                                                        const std::vector<std::optional<double>>& estimate,
                                                        const Resampler& resampler, const BootstrapOptions& options,
                                                        const Rng& rng);

// NumPy-style linear-interpolation quantile of sorted values (q in [0, 1]); values not empty.
[[nodiscard]] double sorted_quantile(const std::vector<double>& sorted, double q);

}  // namespace lucent::metrics
