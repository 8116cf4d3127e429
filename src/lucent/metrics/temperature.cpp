#include "lucent/metrics/temperature.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace lucent::metrics {
namespace {

constexpr double kClip = 1e-12;

bool sigmoid_task(Task task) { return task == Task::kBinary || task == Task::kMultilabel; }

double logit(double p) {
  p = std::clamp(p, kClip, 1 - kClip);
  return std::log(p / (1 - p));
}

// Mean NLL of the labels at inverse temperature `beta` (logits × beta).
double nll(const std::vector<std::vector<double>>& z, const std::vector<std::vector<int>>& labels, Task task,
           double beta) {
  double total = 0;
  std::size_t terms = 0;
  for (std::size_t i = 0; i < z.size(); ++i) {
    if (sigmoid_task(task)) {
      for (std::size_t k = 0; k < z[i].size(); ++k) {
        const double s = beta * z[i][k];
        const int y = task == Task::kBinary ? labels[i][0] : labels[i][k];
        // -log sigmoid(s) for y = 1, -log(1 - sigmoid(s)) for y = 0, without overflow.
        const double v = y ? -s : s;
        total += v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
        ++terms;
      }
    } else {
      double m = -INFINITY;
      for (double v : z[i]) m = std::max(m, beta * v);
      double sum = 0;
      for (double v : z[i]) sum += std::exp(beta * v - m);
      total += m + std::log(sum) - beta * z[i][static_cast<std::size_t>(labels[i][0])];
      ++terms;
    }
  }
  return total / static_cast<double>(std::max<std::size_t>(terms, 1));
}

std::vector<std::vector<double>> logits(const std::vector<std::vector<double>>& scores, Task task) {
  std::vector<std::vector<double>> z(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i)
    for (double p : scores[i]) z[i].push_back(sigmoid_task(task) ? logit(p) : std::log(std::clamp(p, kClip, 1.0)));
  return z;
}

}  // namespace

Result<TemperatureFit> fit_temperature(const std::vector<std::vector<double>>& scores,
                                       const std::vector<std::vector<int>>& labels, Task task) {
  if (scores.empty()) return fail(ErrorCode::kInvalidArgument, "temperature scaling needs at least one case");
  if (labels.size() != scores.size())
    return fail(ErrorCode::kInvalidArgument, "temperature scaling: " + std::to_string(scores.size()) + " score rows but " +
                                                 std::to_string(labels.size()) + " label rows");
  const std::size_t width = scores.front().size();
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (scores[i].size() != width || width == 0)
      return fail(ErrorCode::kInvalidArgument, "temperature scaling: score rows differ in width (row " + std::to_string(i) + ")");
    if (!sigmoid_task(task) && (labels[i].empty() || labels[i][0] < 0 || labels[i][0] >= static_cast<int>(width)))
      return fail(ErrorCode::kInvalidArgument, "temperature scaling: label of row " + std::to_string(i) +
                                                   " is not a class index below " + std::to_string(width));
  }
  const auto z = logits(scores, task);
  // Golden-section search over u = log(beta), beta = 1 / T in [0.01, 100].
  const double lo0 = std::log(0.01), hi0 = std::log(100.0);
  const double g = (std::sqrt(5.0) - 1) / 2;
  double lo = lo0, hi = hi0;
  double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
  double fa = nll(z, labels, task, std::exp(a)), fb = nll(z, labels, task, std::exp(b));
  for (int it = 0; it < 100 && hi - lo > 1e-9; ++it) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = nll(z, labels, task, std::exp(a));
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = nll(z, labels, task, std::exp(b));
    }
  }
  const double u = (lo + hi) / 2;
  TemperatureFit fit;
  fit.temperature = std::exp(-u);
  fit.nll_before = nll(z, labels, task, 1.0);
  fit.nll_after = nll(z, labels, task, std::exp(u));
  fit.at_bound = u - lo0 < 1e-6 || hi0 - u < 1e-6;
  return fit;
}

std::vector<std::vector<double>> apply_temperature(const std::vector<std::vector<double>>& scores, Task task,
                                                   double temperature) {
  const auto z = logits(scores, task);
  std::vector<std::vector<double>> out(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) {
    if (sigmoid_task(task)) {
      for (double v : z[i]) out[i].push_back(1 / (1 + std::exp(-v / temperature)));
    } else {
      double m = -INFINITY;
      for (double v : z[i]) m = std::max(m, v / temperature);
      double sum = 0;
      for (double v : z[i]) sum += std::exp(v / temperature - m);
      for (double v : z[i]) out[i].push_back(std::exp(v / temperature - m) / sum);
    }
  }
  return out;
}

}  // namespace lucent::metrics
