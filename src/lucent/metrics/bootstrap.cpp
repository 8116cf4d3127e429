#include "lucent/metrics/bootstrap.h"

#include <ATen/Parallel.h>

#include <algorithm>
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
  return r;
}

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
  for (const auto& units : by_stratum_) {
    const auto last = static_cast<int64_t>(units.size()) - 1;
    for (std::size_t k = 0; k < units.size(); ++k) {
      const auto& cases = units_[units[static_cast<std::size_t>(rng.integer(0, last))]];
      out.insert(out.end(), cases.begin(), cases.end());
    }
  }
  return out;
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

std::vector<Interval> bootstrap_intervals(const Statistics& stat, const std::vector<std::optional<double>>& estimate,
                                          const Resampler& resampler, const BootstrapOptions& options,
                                          const Rng& rng) {
  const std::size_t m = estimate.size();
  std::vector<Interval> out(m);
  std::vector<std::vector<double>> reps(m);
  const int64_t b_total = std::max<int64_t>(options.resamples, 0);
  // Resamples run in parallel (LibTorch's intra-op pool, sized by --threads); each has its own
  // forked stream and slot, so the result does not depend on the thread count.
  std::vector<std::vector<std::optional<double>>> per_resample(static_cast<std::size_t>(b_total));
  at::parallel_for(0, b_total, 8, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      Rng stream = rng.fork(static_cast<uint64_t>(b));
      per_resample[static_cast<std::size_t>(b)] = stat(resampler.draw(stream));
    }
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
    std::vector<std::vector<std::optional<double>>> per_group(groups);
    at::parallel_for(0, static_cast<int64_t>(groups), 4, [&](int64_t begin, int64_t end) {
      for (int64_t g = begin; g < end; ++g)
        per_group[static_cast<std::size_t>(g)] = stat(resampler.without_group(static_cast<std::size_t>(g), groups));
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
  }
  return out;
}

}  // namespace lucent::metrics
