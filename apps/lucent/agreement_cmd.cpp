// `lucent agreement`: agreement among readers (Cohen's and Fleiss' kappa) and, with a model's
// predictions, the model against the readers as in CheXNet. Parsing and printing only; the
// statistics are in lucent/metrics/agreement.h (docs/metrics.md, "Reader agreement").
#include <cstdio>

#include "commands.h"
#include "lucent/core/atomic_file.h"
#include "lucent/metrics/agreement.h"

namespace lucent::app {
namespace {
namespace fs = std::filesystem;

struct AgreementArgs {
  std::string ratings;
  std::string model;
  double threshold = 0.5;
  int64_t bootstrap = 2000;
  int64_t seed = 0;
  double confidence = 0.95;
  std::string ci = "bca";
  std::string out = ".";
};

std::string cell(const metrics::Estimate& e) {
  if (!e.point) return "-";
  char buf[64];
  if (e.ci_low) std::snprintf(buf, sizeof buf, "%.4f [%.4f, %.4f]", *e.point.value, *e.ci_low, *e.ci_high);
  else std::snprintf(buf, sizeof buf, "%.4f", *e.point.value);
  return buf;
}

void print_table(const metrics::Agreement& a) {
  std::printf("%lld cases, %zu readers, %d categories; %.0f %% intervals\n", static_cast<long long>(a.n),
              a.readers.size(), a.categories, 100 * a.confidence);
  std::printf("  Fleiss' kappa       %s\n", cell(a.fleiss).c_str());
  for (const auto& [pair, est] : a.pairwise)
    std::printf("  Cohen's kappa %s / %s: %s\n", pair.first.c_str(), pair.second.c_str(), cell(est).c_str());
  std::printf("  against the majority of the other readers:\n  %-22s %-28s %s\n", "", "F1", "kappa");
  auto row = [](const metrics::ReaderScore& s) {
    std::printf("  %-22s %-28s %s\n", s.name.c_str(), cell(s.f1).c_str(), cell(s.kappa).c_str());
  };
  for (const auto& s : a.reader_scores) row(s);
  row(a.mean_reader);
  if (a.model) {
    row(*a.model);
    row(*a.model_minus_mean_reader);
  }
}

int run_agreement(const AgreementArgs& a) {
  auto ratings = metrics::read_ratings(a.ratings);
  if (!ratings) return report(ratings.error());
  std::optional<std::vector<int>> model;
  if (!a.model.empty()) {
    auto m = metrics::read_model_decisions(a.model, *ratings, a.threshold);
    if (!m) return report(m.error());
    model = std::move(*m);
  }
  metrics::AgreementOptions opts;
  opts.bootstrap.resamples = a.bootstrap;
  opts.bootstrap.confidence = a.confidence;
  opts.bootstrap.method = a.ci == "percentile" ? metrics::CiMethod::kPercentile : metrics::CiMethod::kBca;
  opts.seed = static_cast<uint64_t>(a.seed);
  auto result = metrics::agreement(*ratings, model, opts);
  if (!result) return report(result.error());
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec) return report(Error(ErrorCode::kIoError, "cannot create output folder " + a.out + ": " + ec.message()));
  const fs::path out = fs::path(a.out) / "agreement.json";
  auto js = metrics::to_json(*result);
  if (model) js["model"] = {{"predictions", a.model}, {"threshold", a.threshold}};
  if (auto st = write_file_atomically(out, js.dump(2) + "\n"); !st) return report(st.error());
  print_table(*result);
  std::printf("agreement: %s\n", out.c_str());
  return 0;
}

}  // namespace

void add_agreement_command(CLI::App& app, Runner& run) {
  auto a = std::make_shared<AgreementArgs>();
  auto* cmd = app.add_subcommand("agreement", "Reader agreement (Cohen's, Fleiss' kappa) and a model against the "
                                              "readers (docs/metrics.md)");
  cmd->add_option("--ratings", a->ratings, "Ratings CSV: id, reader_1 … reader_k (categories 0..C-1)")->required();
  cmd->add_option("--model", a->model, "The model's predictions (id,score or id,score_0..score_{C-1}) to score "
                                       "against the readers");
  cmd->add_option("--threshold", a->threshold, "Binary ratings: the model calls 1 when score >= T (default 0.5)");
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap resamples over cases (0 = none)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a->seed, "Seed of the bootstrap")->check(CLI::NonNegativeNumber);
  cmd->add_option("--confidence", a->confidence, "Confidence level of the intervals")->check(CLI::Range(0.5, 0.999));
  cmd->add_option("--ci", a->ci, "Bootstrap interval: bca or percentile")->check(CLI::IsMember({"bca", "percentile"}));
  cmd->add_option("--out", a->out, "Folder for agreement.json (default: current folder)");
  cmd->callback([&run, a] { run = [a] { return run_agreement(*a); }; });
}

}  // namespace lucent::app
