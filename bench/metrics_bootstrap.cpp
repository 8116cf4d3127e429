// Bootstrap confidence intervals at scale: every metric of `lucent metrics` with intervals from
// `resamples` stratified bootstrap resamples of `cases` synthetic binary cases (binormal scores,
// rounded to 3 decimals so that ties occur, 30 % positives), the way `lucent metrics` runs them.
//
//   lucent_metrics_bootstrap_bench [--cases 100000] [--resamples 2000] [--threads N] [--repeats 3]
//
// Times evaluate() end to end (operating point, point estimates, DeLong, resamples and the BCa
// jackknife) for the BCa and percentile intervals, with and without patient clusters (3 cases
// per patient), and prints a table with the median and best wall time of `repeats` runs and
// the CPU time of the process (all threads) of the median run: on a busy machine the wall time
// grows while the CPU time stays put.
// A benchmark, not a test: nothing is asserted. docs/metrics.md records the numbers.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "lucent/core/rng.h"
#include "lucent/core/threads.h"
#include "lucent/metrics/evaluation.h"

namespace {

using namespace lucent;

metrics::PredictionSet synthetic(int64_t n, bool patients) {
  metrics::PredictionSet p;
  p.task = Task::kBinary;
  p.classes = 2;
  Rng rng(2026);
  for (int64_t i = 0; i < n; ++i) {
    const int y = rng.bernoulli(0.3) ? 1 : 0;
    const double z = rng.normal(y ? 1.0 : 0.0, 1.0);
    const double s = std::round(1000.0 / (1.0 + std::exp(-z))) / 1000.0;
    p.ids.push_back("c" + std::to_string(i));
    p.scores.push_back({s});
    p.labels.push_back({y});
    if (patients) p.patients.push_back("p" + std::to_string(i / 3));
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time bootstrap confidence intervals of lucent metrics"};
  int64_t cases = 100000, resamples = 2000;
  int threads = 0, repeats = 3;
  app.add_option("--cases", cases, "Synthetic binary cases")->check(CLI::PositiveNumber);
  app.add_option("--resamples", resamples, "Bootstrap resamples")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "LibTorch intra-op threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats, "Timed runs per row")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  auto used = configure_threads(threads);
  if (!used) {
    std::fprintf(stderr, "error: %s\n", used.error().to_string().c_str());
    return used.error().cli_exit_code();
  }

  std::printf("lucent metrics bootstrap: %lld binary cases, %lld resamples, %d thread(s), median/best of %d runs\n",
              static_cast<long long>(cases), static_cast<long long>(resamples), *used, repeats);
  std::printf("  %-22s %-10s %10s %10s %10s %12s\n", "interval", "unit", "median s", "best s", "cpu s", "auc ci (w)");
  struct Row {
    metrics::CiMethod method;
    bool patients;
  };
  for (const Row row : {Row{metrics::CiMethod::kBca, false}, Row{metrics::CiMethod::kPercentile, false},
                        Row{metrics::CiMethod::kBca, true}}) {
    const auto set = synthetic(cases, row.patients);
    std::vector<std::pair<double, double>> times;  // wall, cpu
    double width = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      auto e = metrics::evaluate(set, {.bootstrap = {.resamples = resamples, .method = row.method}, .seed = 1});
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!e) {
        std::fprintf(stderr, "error: %s\n", e.error().to_string().c_str());
        return e.error().cli_exit_code();
      }
      times.emplace_back(s, static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
      const auto& auc = e->metrics.front().second;
      if (auc.ci_low && auc.ci_high) width = *auc.ci_high - *auc.ci_low;
    }
    std::sort(times.begin(), times.end());
    std::printf("  %-22s %-10s %10.3f %10.3f %10.3f %12.5f\n", metrics::ci_method_name(row.method),
                row.patients ? "patient" : "case", times[times.size() / 2].first, times.front().first,
                times[times.size() / 2].second, width);
  }
  return 0;
}
