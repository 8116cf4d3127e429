// Agreement between readers (radiologists grading the same cases) and how a model compares
// with them.
//
//   auto r = read_ratings("ratings.csv");                     // id, reader_1 … reader_k
//   auto model = read_model_decisions("pred.csv", *r, 0.5);    // optional
//   auto a = agreement(*r, *model, {.bootstrap = {.resamples = 2000}, .seed = 1});
//   std::string json = to_json(*a).dump(2);                   // agreement.json
//
// Ratings: one row per case, `id` then one column per reader (every other column), each cell a
// category 0..C−1 (C = the largest category + 1, at least 2; binary findings are 0/1). Every
// reader rates every case; an empty or non-integer cell is an error naming the file, line, id
// and reader.
// Statistics (docs/metrics.md, "Reader agreement"):
//  - Cohen's kappa of every pair of readers (threshold.h's cohen_kappa, unweighted).
//  - Fleiss' kappa of all readers (Fleiss 1971): n_ij = readers putting case i in category j,
//    P_i = (Σ_j n_ij² − k) / (k (k − 1)), p_j = Σ_i n_ij / (N k), κ = (P̄ − P̄e) / (1 − P̄e) with
//    P̄ = mean P_i, P̄e = Σ_j p_j²; undefined when P̄e = 1.
//  - Model versus readers as in CheXNet (Rajpurkar et al. 2017): G_j = the majority vote of all
//    readers except reader j (a tie goes to the higher category — for binary findings, to
//    positive); reader j is scored against G_j, the model against every G_j and averaged over j.
//    Scores: F1 of category 1 (binary ratings only) and Cohen's kappa. The difference is the
//    model's score minus the mean reader's score.
//  - Intervals: bootstrap over cases (bootstrap.h: BCa or percentile, seeded), every statistic
//    from the same resamples.
// Errors: kNotFound for a missing file; kInvalidData for bad cells, fewer than 2 readers, no
// rows, duplicated, missing or extra ids between the ratings and the model's predictions.
// Pure functions; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lucent/core/csv.h"
#include "lucent/core/error.h"
#include "lucent/metrics/evaluation.h"

namespace lucent::metrics {

struct Ratings {
  std::vector<std::string> ids;
  std::vector<std::string> readers;       // column names
  std::vector<std::vector<int>> values;   // one row per case, one value per reader
  int categories = 2;
};

[[nodiscard]] Result<Ratings> parse_ratings(const CsvTable& table, const std::string& source);
[[nodiscard]] Result<Ratings> read_ratings(const std::filesystem::path& path);

// The model's category for every rated case, in the ratings' order. Binary ratings: `score`
// (or the last of score_0, score_1) >= threshold is category 1; C > 2 categories: the arg-max of
// score_0 … score_{C−1} (the first maximum). The threshold is used only for binary ratings.
[[nodiscard]] Result<std::vector<int>> parse_model_decisions(const CsvTable& pred, const std::string& source,
                                                             const Ratings& ratings, double threshold = 0.5);
[[nodiscard]] Result<std::vector<int>> read_model_decisions(const std::filesystem::path& pred, const Ratings& ratings,
                                                            double threshold = 0.5);

// Fleiss' kappa of the rows (each row: one category per reader, all rows the same length >= 2).
[[nodiscard]] MetricValue fleiss_kappa(const std::vector<std::vector<int>>& ratings, int categories);
// The majority category of each case among all readers but `left_out` (ties: the higher category).
[[nodiscard]] std::vector<int> majority_without(const Ratings& ratings, std::size_t left_out);

struct AgreementOptions {
  BootstrapOptions bootstrap;
  uint64_t seed = 0;
};

struct ReaderScore {
  std::string name;
  Estimate f1, kappa;                  // against the majority of the other readers
};

struct Agreement {
  int64_t n = 0;
  int categories = 2;
  double confidence = 0.95;
  int64_t resamples = 0;
  uint64_t seed = 0;
  std::vector<std::string> readers;
  Estimate fleiss;
  std::vector<std::pair<std::pair<std::string, std::string>, Estimate>> pairwise;  // Cohen's kappa
  std::vector<ReaderScore> reader_scores;
  ReaderScore mean_reader;             // mean over readers
  std::optional<ReaderScore> model;    // mean over the leave-one-reader-out majorities
  std::optional<ReaderScore> model_minus_mean_reader;
};

// `model`: empty, or one category per case (read_model_decisions). kInvalidArgument for a model
// vector of the wrong length or bad bootstrap options.
[[nodiscard]] Result<Agreement> agreement(const Ratings& ratings, const std::optional<std::vector<int>>& model,
                                          const AgreementOptions& options = {});

[[nodiscard]] nlohmann::ordered_json to_json(const Agreement& agreement);

}  // namespace lucent::metrics
