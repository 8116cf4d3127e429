// Bootstrap confidence intervals (percentile and BCa) for any set of statistics of a sample,
// with resampling stratified by class and clustered by patient.
//
//   Resampler r = Resampler::make(n, strata, patient_of_case);   // empty vectors: none
//   auto stat = [&](const std::vector<int64_t>& cases) { return std::vector<std::optional<double>>{...}; };
//   Rng rng(seed);
//   auto ci = bootstrap_intervals(stat, stat(r.all_cases()), r, {.resamples = 2000}, rng);
//
// The same with case multiplicities (counts[i] = how often case i is in the resample): a
// statistic that sweeps precomputed orders instead of re-sorting each resample (evaluation.h's
// MetricTable) is O(N) per resample. Both forms draw the same resamples for the same seed.
//
//   const CountStatistics stat = [&](const Counts& w) { return table.values(w); };
//   auto ci = bootstrap_intervals(stat, stat(r.unit_counts()), r, {.resamples = 2000}, rng);
//
// What is resampled: the units are patients when cluster ids are given (all cases of a drawn
// patient enter the resample together, as often as the patient is drawn), else cases. Units
// are drawn with replacement within each stratum, as many as the stratum holds, so every
// resample keeps the class mix. A unit's stratum is the set of strata of its cases (a patient
// with only class-1 cases is in stratum {1}, one with cases of both classes in {0,1}).
// Resample b uses rng.fork(b), which seeds a SplitMix64 stream (one 64-bit draw from the fork);
// units are drawn from it with Lemire's unbiased bounded integers — a tenth of the cost of
// std::uniform_int_distribution. Results depend only on the seed, never on timing.
// Percentile CI: quantiles α/2 and 1-α/2 of the replicates (linear interpolation, NumPy's
// default). BCa (Efron 1987): bias z0 = Φ⁻¹((#{θ* < θ̂} + #{θ* = θ̂}/2) / B), acceleration from a
// grouped jackknife over the units (at most kJackknifeGroups groups). Replicates where a statistic
// is undefined are left out and counted in the note; with fewer than half defined there is no
// interval. With `null_value` set, each interval also carries a two-sided bootstrap p-value for
// H0: θ = null_value by the shift method (Davison & Hinkley 1997, §4.4): the replicates are
// centred on θ̂, p = (1 + #{|θ* − θ̂| ≥ |θ̂ − null|}) / (B' + 1) with B' the defined replicates.
// `stat` is called from several threads at once (LibTorch's intra-op pool) and must
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
  std::optional<double> null_value;  // set: also a shift-method p-value for H0: θ = null_value
};

// counts[i] = multiplicity of case i in a sample (0 = absent).
using Counts = std::vector<uint32_t>;

class Resampler {
 public:
  // strata and clusters are per case; an empty vector means "one stratum" / "each case alone".
  [[nodiscard]] static Resampler make(std::size_t n_cases, const std::vector<int>& strata,
                                      const std::vector<std::string>& clusters);
  [[nodiscard]] std::size_t units() const { return units_.size(); }
  [[nodiscard]] std::size_t strata() const { return by_stratum_.size(); }
  // Units in the smallest stratum (0 when there are no units).
  [[nodiscard]] std::size_t smallest_stratum() const;
  [[nodiscard]] std::size_t cases() const { return n_cases_; }
  [[nodiscard]] std::vector<int64_t> all_cases() const;
  // Every case once (the full sample as counts).
  [[nodiscard]] Counts unit_counts() const { return Counts(n_cases_, 1); }
  // One bootstrap resample: case indices (with repeats).
  [[nodiscard]] std::vector<int64_t> draw(Rng& rng) const;
  // The same resample as draw() with the same rng state, as counts (resized to cases()).
  void draw_counts(Rng& rng, Counts& counts) const;
  // The cases of all units except those in jackknife group g of `groups` (unit u is in u % groups).
  [[nodiscard]] std::vector<int64_t> without_group(std::size_t g, std::size_t groups) const;
  [[nodiscard]] Counts counts_without_group(std::size_t g, std::size_t groups) const;

 private:
  std::size_t n_cases_ = 0;
  std::vector<std::vector<int64_t>> units_;        // cases of each unit
  std::vector<std::vector<std::size_t>> by_stratum_;  // units of each stratum
  // The same, flattened for draws: cases of unit u are unit_cases_[unit_start_[u] .. unit_start_[u+1]).
  std::vector<uint32_t> unit_start_, unit_cases_;
  std::vector<uint32_t> stratum_units_;            // units of all strata, stratum after stratum
  bool single_case_units_ = true;                  // then unit_cases_[unit_start_[u]] is unit u's case
};

using Statistics = std::function<std::vector<std::optional<double>>(const std::vector<int64_t>& cases)>;
using CountStatistics = std::function<std::vector<std::optional<double>>(const Counts& counts)>;

struct Interval {
  std::optional<double> low, high;
  int64_t replicates = 0;  // resamples where the statistic was defined
  std::string method;      // ci_method_name(...), or "bootstrap_percentile" after a BCa fallback
  std::string note;        // why there is no interval, or what was left out
  std::optional<double> p_value;  // with BootstrapOptions::null_value and a defined estimate
};

// One interval per statistic (same order as `estimate`, which is stat(all cases)).
[[nodiscard]] std::vector<Interval> bootstrap_intervals(const Statistics& stat,
                                                        const std::vector<std::optional<double>>& estimate,
                                                        const Resampler& resampler, const BootstrapOptions& options,
                                                        const Rng& rng);

[[nodiscard]] std::vector<Interval> bootstrap_intervals(const CountStatistics& stat,
                                                        const std::vector<std::optional<double>>& estimate,
                                                        const Resampler& resampler, const BootstrapOptions& options,
                                                        const Rng& rng);

// NumPy-style linear-interpolation quantile of sorted values (q in [0, 1]); values not empty.
[[nodiscard]] double sorted_quantile(const std::vector<double>& sorted, double q);

}  // namespace lucent::metrics
