#include "lucent/metrics/ranking.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <string>

namespace lucent::metrics {
namespace {

constexpr const char* kOneClass = "undefined: only one class present";

std::string one_class_reason(int64_t positives) {
  return std::string(kOneClass) + (positives == 0 ? " (no positive case)" : " (no negative case)");
}

Status check_lengths(const std::vector<double>& scores, const std::vector<int>& truth) {
  if (scores.size() != truth.size())
    return fail(ErrorCode::kInvalidArgument, std::to_string(scores.size()) + " scores but " +
                                                 std::to_string(truth.size()) + " labels");
  return ok();
}

}  // namespace

std::vector<RocPoint> roc_points(const std::vector<double>& scores, const std::vector<int>& truth) {
  const std::size_t n = std::min(scores.size(), truth.size());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::vector<RocPoint> points;
  int64_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < n;) {
    const double s = scores[order[i]];
    for (; i < n && scores[order[i]] == s; ++i) (truth[order[i]] != 0 ? tp : fp) += 1;
    points.push_back({s, tp, fp});
  }
  return points;
}

std::vector<double> midranks(const std::vector<double>& values) {
  const std::size_t n = values.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(n);
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && values[order[j]] == values[order[i]]) ++j;
    // Ranks i+1 .. j share their mean.
    const double mid = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
    for (std::size_t k = i; k < j; ++k) ranks[order[k]] = mid;
    i = j;
  }
  return ranks;
}

MetricValue roc_auc(const std::vector<double>& scores, const std::vector<int>& truth) {
  if (scores.size() != truth.size()) return MetricValue::undefined("undefined: scores and labels differ in length");
  return roc_auc(roc_points(scores, truth));
}

MetricValue roc_auc(const std::vector<RocPoint>& points) {
  if (points.empty()) return MetricValue::undefined("undefined: no cases");
  const int64_t p = points.back().true_positives, n = points.back().false_positives;
  if (p == 0 || n == 0) return MetricValue::undefined(one_class_reason(p));
  // Trapezoids in count space, divided once: exact for integer counts.
  double area = 0;
  int64_t prev_tp = 0, prev_fp = 0;
  for (const auto& pt : points) {
    area += static_cast<double>(pt.false_positives - prev_fp) * static_cast<double>(pt.true_positives + prev_tp);
    prev_tp = pt.true_positives;
    prev_fp = pt.false_positives;
  }
  return MetricValue::of(area / (2.0 * static_cast<double>(p) * static_cast<double>(n)));
}

Result<MetricValue> partial_roc_auc(const std::vector<double>& scores, const std::vector<int>& truth, double max_fpr,
                                    PartialAucScale scale) {
  if (auto st = check_lengths(scores, truth); !st) return std::unexpected(st.error());
  return partial_roc_auc(roc_points(scores, truth), max_fpr, scale);
}

Result<MetricValue> partial_roc_auc(const std::vector<RocPoint>& points, double max_fpr, PartialAucScale scale) {
  if (!(max_fpr > 0 && max_fpr <= 1))
    return fail(ErrorCode::kInvalidArgument,
                "partial AUC: max FPR must be in (0, 1], got " + std::to_string(max_fpr));
  if (points.empty()) return MetricValue::undefined("undefined: no cases");
  const int64_t p = points.back().true_positives, n = points.back().false_positives;
  if (p == 0 || n == 0) return MetricValue::undefined(one_class_reason(p));
  double area = 0, x0 = 0, y0 = 0;
  for (const auto& pt : points) {
    const double x1 = static_cast<double>(pt.false_positives) / static_cast<double>(n);
    const double y1 = static_cast<double>(pt.true_positives) / static_cast<double>(p);
    if (x1 <= max_fpr) {
      area += (x1 - x0) * (y0 + y1) / 2.0;
      x0 = x1;
      y0 = y1;
      continue;
    }
    // The segment crossing max_fpr: interpolate linearly, then stop.
    const double y_cut = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0);
    area += (max_fpr - x0) * (y0 + y_cut) / 2.0;
    break;
  }
  if (scale == PartialAucScale::kRaw) return MetricValue::of(area);
  if (max_fpr == 1) return MetricValue::of(area);
  const double min_area = 0.5 * max_fpr * max_fpr, max_area = max_fpr;
  return MetricValue::of(0.5 * (1.0 + (area - min_area) / (max_area - min_area)));
}

MetricValue average_precision(const std::vector<double>& scores, const std::vector<int>& truth) {
  if (scores.size() != truth.size()) return MetricValue::undefined("undefined: scores and labels differ in length");
  return average_precision(roc_points(scores, truth));
}

MetricValue average_precision(const std::vector<RocPoint>& points) {
  if (points.empty()) return MetricValue::undefined("undefined: no cases");
  const int64_t p = points.back().true_positives;
  if (p == 0) return MetricValue::undefined("undefined: no positive case, so recall is undefined");
  double ap = 0;
  int64_t prev_tp = 0;
  for (const auto& pt : points) {
    const double precision =
        static_cast<double>(pt.true_positives) / static_cast<double>(pt.true_positives + pt.false_positives);
    ap += static_cast<double>(pt.true_positives - prev_tp) / static_cast<double>(p) * precision;
    prev_tp = pt.true_positives;
  }
  return MetricValue::of(ap);
}

std::pair<double, double> DelongAuc::interval(double confidence) const {
  const double z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
  const double half = z * std::sqrt(std::max(variance, 0.0));
  return {std::clamp(auc - half, 0.0, 1.0), std::clamp(auc + half, 0.0, 1.0)};
}

Result<DelongAuc> delong_auc(const std::vector<double>& scores, const std::vector<int>& truth) {
  if (auto st = check_lengths(scores, truth); !st) return std::unexpected(st.error());
  std::vector<double> pos, neg;
  for (std::size_t i = 0; i < scores.size(); ++i) (truth[i] != 0 ? pos : neg).push_back(scores[i]);
  const auto m = static_cast<int64_t>(pos.size()), n = static_cast<int64_t>(neg.size());
  if (m == 0 || n == 0) return fail(ErrorCode::kInvalidArgument, "DeLong AUC: " + one_class_reason(m));
  if (m < 2 || n < 2)
    return fail(ErrorCode::kInvalidArgument, "DeLong variance needs at least 2 positive and 2 negative cases, found " +
                                                 std::to_string(m) + " and " + std::to_string(n));
  std::vector<double> all = pos;
  all.insert(all.end(), neg.begin(), neg.end());
  const auto rx = midranks(pos), ry = midranks(neg), rz = midranks(all);
  const double md = static_cast<double>(m), nd = static_cast<double>(n);
  std::vector<double> v10(pos.size()), v01(neg.size());
  for (std::size_t i = 0; i < pos.size(); ++i) v10[i] = (rz[i] - rx[i]) / nd;
  for (std::size_t j = 0; j < neg.size(); ++j) v01[j] = 1.0 - (rz[pos.size() + j] - ry[j]) / md;
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
  auto sample_var = [](const std::vector<double>& v, double mu) {
    double s = 0;
    for (double x : v) s += (x - mu) * (x - mu);
    return s / static_cast<double>(v.size() - 1);
  };
  DelongAuc d;
  d.auc = mean(v10);
  d.variance = sample_var(v10, d.auc) / md + sample_var(v01, mean(v01)) / nd;
  d.positives = m;
  d.negatives = n;
  return d;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01,  -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  if (!(p > 0 && p < 1)) return p <= 0 ? -INFINITY : INFINITY;
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow || p > 1 - kLow) {
    const double q = std::sqrt(-2 * std::log(p < kLow ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 1 - kLow) x = -x;
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // One Halley step brings the approximation (1e-9 relative) to machine precision.
  const double e = normal_cdf(x) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

}  // namespace lucent::metrics
