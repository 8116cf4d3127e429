#include "lucent/metrics/bootstrap.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <set>

#include "lucent/metrics/ranking.h"

namespace lucent::metrics {

const char* ci_method_name(CiMethod m) {
  return m == CiMethod::kBca ? "bootstrap_bca" : "bootstrap_percentile";
}

Resampler Resampler::make(std::size_t n_cases, const std::vector<int>& strata, const std::vector<std::string>& clusters) {
  Resampler r;
  r.n_cases_ = n_cases;
  if (clusters.size() == n_cases && n_cases > 0) {
    std::map<std::string, std::size_t> unit_of;
    for (std::size_t i = 0; i < n_cases; ++i) {
      auto [it, fresh] = unit_of.try_emplace(clusters[i], r.units_.size());
      if (fresh) r.units_.emplace_back();
      r.units_[it->second].push_back(static_cast<int64_t>(i));
    }
  } else {
    for (std::size_t i = 0; i < n_cases; ++i) r.units_.push_back({static_cast<int64_t>(i)});
  }
  std::map<std::set<int>, std::size_t> stratum_of;
  for (std::size_t u = 0; u < r.units_.size(); ++u) {
    std::set<int> key;
    if (strata.size() == n_cases)
      for (int64_t c : r.units_[u]) key.insert(strata[static_cast<std::size_t>(c)]);
    auto [it, fresh] = stratum_of.try_emplace(key, r.by_stratum_.size());
    if (fresh) r.by_stratum_.emplace_back();
    r.by_stratum_[it->second].push_back(u);
  }
  r.unit_start_.push_back(0);
  for (const auto& cases : r.units_) {
    r.single_case_units_ = r.single_case_units_ && cases.size() == 1;
    for (int64_t c : cases) r.unit_cases_.push_back(static_cast<uint32_t>(c));
    r.unit_start_.push_back(static_cast<uint32_t>(r.unit_cases_.size()));
  }
  // With one case per unit, draws index the cases directly (one memory access less per draw).
  for (const auto& units : r.by_stratum_)
    for (std::size_t u : units)
      r.stratum_units_.push_back(r.single_case_units_ ? r.unit_cases_[r.unit_start_[u]] : static_cast<uint32_t>(u));
  return r;
}

namespace {

// SplitMix64 (Steele et al. 2014) seeded from one draw of the resample's Rng, with Lemire's
// (2019) nearly divisionless unbiased integers in [0, range).
class UnitStream {
 public:
  explicit UnitStream(Rng& rng) : state_(static_cast<uint64_t>(rng.integer(0, INT64_MAX))) {}
  uint64_t below(uint64_t range) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * range;
    auto low = static_cast<uint64_t>(m);
    if (low < range) {
      const uint64_t floor = (0 - range) % range;
      while (low < floor) {
        m = static_cast<unsigned __int128>(next()) * range;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace

std::size_t Resampler::smallest_stratum() const {
  std::size_t smallest = 0;
  for (const auto& units : by_stratum_)
    if (smallest == 0 || units.size() < smallest) smallest = units.size();
  return smallest;
}

std::vector<int64_t> Resampler::all_cases() const {
  std::vector<int64_t> out;
  for (const auto& u : units_) out.insert(out.end(), u.begin(), u.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> Resampler::draw(Rng& rng) const {
  std::vector<int64_t> out;
  out.reserve(n_cases_);
  UnitStream stream(rng);
  std::size_t first = 0;
  for (const auto& units : by_stratum_) {
    const uint64_t size = units.size();
    for (std::size_t k = 0; k < size; ++k) {
      const uint32_t u = stratum_units_[first + stream.below(size)];
      if (single_case_units_) {
        out.push_back(u);
        continue;
      }
      for (uint32_t j = unit_start_[u]; j < unit_start_[u + 1]; ++j) out.push_back(unit_cases_[j]);
    }
    first += size;
  }
  return out;
}

void Resampler::draw_counts(Rng& rng, Counts& counts) const {
  counts.assign(n_cases_, 0);
  UnitStream stream(rng);
  std::size_t first = 0;
  if (single_case_units_) {
    uint32_t* out = counts.data();
    for (const auto& units : by_stratum_) {
      const uint64_t size = units.size();
      const uint32_t* cases = stratum_units_.data() + first;
      for (std::size_t k = 0; k < size; ++k) ++out[cases[stream.below(size)]];
      first += size;
    }
    return;
  }
  for (const auto& units : by_stratum_) {
    const uint64_t size = units.size();
    for (std::size_t k = 0; k < size; ++k) {
      const uint32_t u = stratum_units_[first + stream.below(size)];
      for (uint32_t j = unit_start_[u]; j < unit_start_[u + 1]; ++j) ++counts[unit_cases_[j]];
    }
    first += size;
  }
}

Counts Resampler::counts_without_group(std::size_t g, std::size_t groups) const {
  Counts counts(n_cases_, 1);
  for (std::size_t u = g; u < units_.size(); u += groups)
    for (uint32_t j = unit_start_[u]; j < unit_start_[u + 1]; ++j) counts[unit_cases_[j]] = 0;
  return counts;
}

std::vector<int64_t> Resampler::without_group(std::size_t g, std::size_t groups) const {
  std::vector<int64_t> out;
  for (std::size_t u = 0; u < units_.size(); ++u)
    if (u % groups != g) out.insert(out.end(), units_[u].begin(), units_[u].end());
  return out;
}

double sorted_quantile(const std::vector<double>& sorted, double q) {
  const double h = (static_cast<double>(sorted.size()) - 1) * std::clamp(q, 0.0, 1.0);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

namespace {

using Values = std::vector<std::optional<double>>;

// The resamples and (for BCa) the jackknife groups of a statistic in either form; `on_draw(b)`
// and `on_group(g)` return the statistic's values for resample b / jackknife group g.
template <typename Draw, typename Group>
std::vector<Interval> summarise(const Values& estimate, const Resampler& resampler, const BootstrapOptions& options,
                                Draw&& on_draw, Group&& on_group) {
  const std::size_t m = estimate.size();
  std::vector<Interval> out(m);
  std::vector<std::vector<double>> reps(m);
  const int64_t b_total = std::max<int64_t>(options.resamples, 0);
  // Resamples run in parallel (LibTorch's intra-op pool, sized by --threads); each has its own
  // forked stream and slot, so the result does not depend on the thread count.
  std::vector<Values> per_resample(static_cast<std::size_t>(b_total));
  at::parallel_for(0, b_total, 8, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) per_resample[static_cast<std::size_t>(b)] = on_draw(b);
  });
  for (const auto& values : per_resample)
    for (std::size_t j = 0; j < m && j < values.size(); ++j)
      if (values[j]) reps[j].push_back(*values[j]);
  const double alpha = 1.0 - options.confidence;

  // Jackknife (only for BCa): one pass over the groups computes every statistic.
  std::vector<std::vector<double>> jack(m);
  std::vector<bool> jack_ok(m, true);
  if (options.method == CiMethod::kBca && resampler.units() >= 3) {
    const std::size_t groups = std::min(resampler.units(), kJackknifeGroups);
    std::vector<Values> per_group(groups);
    at::parallel_for(0, static_cast<int64_t>(groups), 4, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g)
        per_group[static_cast<std::size_t>(g)] = on_group(static_cast<std::size_t>(g), groups);
    });
    for (const auto& values : per_group) {
      for (std::size_t j = 0; j < m; ++j) {
        if (j < values.size() && values[j]) jack[j].push_back(*values[j]);
        else jack_ok[j] = false;
      }
    }
  }

  for (std::size_t j = 0; j < m; ++j) {
    Interval& iv = out[j];
    auto& r = reps[j];
    iv.replicates = static_cast<int64_t>(r.size());
    iv.method = ci_method_name(options.method);
    if (!estimate[j]) {
      iv.note = "no interval: the statistic is undefined on the full sample";
      continue;
    }
    if (b_total == 0 || static_cast<int64_t>(r.size()) * 2 < b_total) {
      iv.note = "no interval: the statistic was defined in only " + std::to_string(r.size()) + " of " +
                std::to_string(b_total) + " resamples";
      continue;
    }
    if (static_cast<int64_t>(r.size()) < b_total)
      iv.note = "undefined in " + std::to_string(b_total - static_cast<int64_t>(r.size())) + " of " +
                std::to_string(b_total) + " resamples (left out)";
    std::sort(r.begin(), r.end());
    double q_low = alpha / 2, q_high = 1 - alpha / 2;
    if (options.method == CiMethod::kBca) {
      const double theta = *estimate[j];
      const auto below = std::lower_bound(r.begin(), r.end(), theta) - r.begin();
      const auto equal = std::upper_bound(r.begin(), r.end(), theta) - r.begin() - below;
      const double frac = (static_cast<double>(below) + 0.5 * static_cast<double>(equal)) / static_cast<double>(r.size());
      double a = 0;
      if (jack_ok[j] && jack[j].size() >= 3) {
        double mean = 0;
        for (double x : jack[j]) mean += x;
        mean /= static_cast<double>(jack[j].size());
        double s2 = 0, s3 = 0;
        for (double x : jack[j]) {
          const double dlt = mean - x;
          s2 += dlt * dlt;
          s3 += dlt * dlt * dlt;
        }
        if (s2 > 0) a = s3 / (6.0 * std::pow(s2, 1.5));
      }
      if (frac <= 0 || frac >= 1) {
        iv.method = ci_method_name(CiMethod::kPercentile);
        iv.note += std::string(iv.note.empty() ? "" : "; ") +
                   "BCa bias correction infinite (every replicate on one side of the estimate): percentile used";
      } else {
        const double z0 = normal_quantile(frac);
        auto adjusted = [&](double q) {
          const double z = z0 + normal_quantile(q);
          return normal_cdf(z0 + z / (1 - a * z));
        };
        q_low = adjusted(alpha / 2);
        q_high = adjusted(1 - alpha / 2);
      }
    }
    iv.low = sorted_quantile(r, q_low);
    iv.high = sorted_quantile(r, q_high);
    if (options.null_value) {
      const double theta = *estimate[j], observed = std::abs(theta - *options.null_value);
      // Relative slack so that replicates equal to the estimate up to rounding count as "as extreme".
      const double slack = 1e-12 * std::max(1.0, std::abs(theta));
      int64_t extreme = 0;
      for (double x : r) extreme += std::abs(x - theta) >= observed - slack;
      iv.p_value = std::min(1.0, static_cast<double>(1 + extreme) / static_cast<double>(r.size() + 1));
    }
  }
  return out;
}

}  // namespace

std::vector<Interval> bootstrap_intervals(const Statistics& stat, const Values& estimate, const Resampler& resampler,
                                          const BootstrapOptions& options, const Rng& rng) {
  return summarise(
      estimate, resampler, options,
      [&](int64_t b) {
        Rng stream = rng.fork(static_cast<uint64_t>(b));
        return stat(resampler.draw(stream));
      },
      [&](std::size_t g, std::size_t groups) { return stat(resampler.without_group(g, groups)); });
}

std::vector<Interval> bootstrap_intervals(const CountStatistics& stat, const Values& estimate,
                                          const Resampler& resampler, const BootstrapOptions& options,
                                          const Rng& rng) {
  return summarise(
      estimate, resampler, options,
      [&](int64_t b) {
        Rng stream = rng.fork(static_cast<uint64_t>(b));
        thread_local Counts counts;
        resampler.draw_counts(stream, counts);
        return stat(counts);
      },
      [&](std::size_t g, std::size_t groups) { return stat(resampler.counts_without_group(g, groups)); });
}

}  // namespace lucent::metrics
