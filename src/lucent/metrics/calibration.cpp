#include "lucent/metrics/calibration.h"

#include <algorithm>
#include <cmath>

namespace lucent::metrics {

MetricValue brier_score(const std::vector<double>& probs, const std::vector<int>& truth) {
  const std::size_t n = std::min(probs.size(), truth.size());
  if (n == 0) return MetricValue::undefined("undefined: no cases");
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double e = probs[i] - (truth[i] != 0 ? 1.0 : 0.0);
    s += e * e;
  }
  return MetricValue::of(s / static_cast<double>(n));
}

Calibration calibration(const std::vector<double>& confidence, const std::vector<int>& outcome, int bins) {
  bins = std::max(bins, 1);
  Calibration cal;
  cal.bins.resize(static_cast<std::size_t>(bins));
  std::vector<double> sum_conf(static_cast<std::size_t>(bins), 0), sum_obs(static_cast<std::size_t>(bins), 0);
  const std::size_t n = std::min(confidence.size(), outcome.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double p = std::clamp(confidence[i], 0.0, 1.0);
    const auto b = static_cast<std::size_t>(std::min(static_cast<int>(std::floor(p * bins)), bins - 1));
    ++cal.bins[b].count;
    sum_conf[b] += confidence[i];
    sum_obs[b] += outcome[i] != 0 ? 1.0 : 0.0;
  }
  double ece = 0, mce = 0;
  for (std::size_t b = 0; b < cal.bins.size(); ++b) {
    auto& bin = cal.bins[b];
    bin.low = static_cast<double>(b) / bins;
    bin.high = static_cast<double>(b + 1) / bins;
    if (bin.count == 0) continue;
    const double c = static_cast<double>(bin.count);
    bin.mean_confidence = sum_conf[b] / c;
    bin.observed = sum_obs[b] / c;
    const double gap = std::abs(bin.observed - bin.mean_confidence);
    ece += c / static_cast<double>(n) * gap;
    mce = std::max(mce, gap);
  }
  if (n == 0) {
    cal.ece = MetricValue::undefined("undefined: no cases");
    cal.mce = cal.ece;
  } else {
    cal.ece = MetricValue::of(ece);
    cal.mce = MetricValue::of(mce);
  }
  return cal;
}

}  // namespace lucent::metrics
