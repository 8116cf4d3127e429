#include "lucent/metrics/agreement.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "lucent/metrics/internal/csv_fields.h"
#include "lucent/metrics/threshold.h"

namespace lucent::metrics {
namespace {

using json = nlohmann::ordered_json;

using internal::trim;
using internal::where;

// A category: a whole number >= 0, written without a sign.
std::optional<int> parse_category(std::string_view text) {
  if (!trim(text).empty() && trim(text).front() == '+') return std::nullopt;
  const auto v = internal::parse_int(text);
  return v && *v >= 0 ? v : std::nullopt;
}

std::optional<double> parse_score(std::string_view text) { return internal::parse_double(text); }

MetricValue f1_of(const std::vector<int>& truth, const std::vector<int>& decided, const std::vector<int64_t>& cases) {
  BinaryCounts b;
  for (int64_t c : cases) {
    const auto i = static_cast<std::size_t>(c);
    if (truth[i] == 1) (decided[i] == 1 ? b.tp : b.fn) += 1;
    else (decided[i] == 1 ? b.fp : b.tn) += 1;
  }
  return f1(b);
}

MetricValue kappa_of(const std::vector<int>& truth, const std::vector<int>& decided, const std::vector<int64_t>& cases,
                     int categories) {
  ConfusionMatrix cm{categories, std::vector<int64_t>(static_cast<std::size_t>(categories * categories), 0)};
  for (int64_t c : cases) {
    const auto i = static_cast<std::size_t>(c);
    ++cm.counts[static_cast<std::size_t>(truth[i] * categories + decided[i])];
  }
  return cohen_kappa(cm, KappaWeights::kNone);
}

std::optional<double> mean_of(const std::vector<MetricValue>& values) {
  double s = 0;
  for (const auto& v : values) {
    if (!v) return std::nullopt;
    s += *v.value;
  }
  return values.empty() ? std::nullopt : std::optional(s / static_cast<double>(values.size()));
}

MetricValue as_value(const std::optional<double>& v, const std::string& why) {
  return v ? MetricValue::of(*v) : MetricValue::undefined(why);
}

json estimate_or_null(const Estimate& e) { return to_json(e); }

json score_json(const ReaderScore& s) {
  return {{"f1", estimate_or_null(s.f1)}, {"kappa", estimate_or_null(s.kappa)}};
}

}  // namespace

Result<Ratings> parse_ratings(const CsvTable& t, const std::string& source) {
  const int id_col = t.column("id");
  if (id_col < 0) return fail(ErrorCode::kInvalidData, source + ": no 'id' column; the ratings file needs id, reader_1 … reader_k");
  Ratings r;
  std::vector<std::size_t> cols;
  for (std::size_t c = 0; c < t.header.size(); ++c)
    if (static_cast<int>(c) != id_col) {
      cols.push_back(c);
      r.readers.push_back(t.header[c]);
    }
  if (cols.size() < 2)
    return fail(ErrorCode::kInvalidData, source + ": " + std::to_string(cols.size()) +
                                             " reader column(s); agreement needs at least 2 (id, reader_1, reader_2 …)");
  if (t.rows.empty()) return fail(ErrorCode::kInvalidData, source + ": no rating rows (the file is empty below its header)");
  std::unordered_map<std::string, std::size_t> seen;
  int top = 1;
  for (std::size_t row = 0; row < t.rows.size(); ++row) {
    const std::string& id = t.rows[row][static_cast<std::size_t>(id_col)];
    if (trim(id).empty()) return fail(ErrorCode::kInvalidData, source + " line " + std::to_string(t.lines[row]) + ": empty id");
    if (auto [it, fresh] = seen.try_emplace(id, row); !fresh)
      return fail(ErrorCode::kInvalidData, where(source, t, row, id) + ": duplicated id (first on line " +
                                               std::to_string(t.lines[it->second]) + "); rate each case once");
    std::vector<int> values;
    for (std::size_t k = 0; k < cols.size(); ++k) {
      const std::string& text = t.rows[row][cols[k]];
      const auto v = parse_category(text);
      if (!v)
        return fail(ErrorCode::kInvalidData, where(source, t, row, id) + ": " + r.readers[k] + " '" + text +
                                                 "' is not a category (an integer >= 0); every reader must rate "
                                                 "every case");
      top = std::max(top, *v);
      values.push_back(*v);
    }
    r.ids.push_back(id);
    r.values.push_back(std::move(values));
  }
  r.categories = top + 1;
  return r;
}

Result<Ratings> read_ratings(const std::filesystem::path& path) {
  auto t = read_csv(path);
  if (!t) return std::unexpected(t.error().with_context("ratings"));
  return parse_ratings(*t, path.string());
}

Result<std::vector<int>> parse_model_decisions(const CsvTable& pred, const std::string& source, const Ratings& ratings,
                                               double threshold) {
  const int id_col = pred.column("id");
  if (id_col < 0) return fail(ErrorCode::kInvalidData, source + ": no 'id' column; the prediction file needs id and score columns");
  std::vector<int> score_cols;
  for (int k = 0;; ++k) {
    const int c = pred.column("score_" + std::to_string(k));
    if (c < 0) break;
    score_cols.push_back(c);
  }
  const bool binary = ratings.categories == 2;
  if (binary) {
    if (const int c = pred.column("score"); c >= 0) score_cols = {c};
    else if (score_cols.size() == 1 || score_cols.size() == 2) score_cols = {score_cols.back()};
    else
      return fail(ErrorCode::kInvalidData, source + ": binary ratings need a 'score' column (or score_0, score_1), found " +
                                               std::to_string(score_cols.size()) + " score columns");
  } else if (static_cast<int>(score_cols.size()) != ratings.categories) {
    return fail(ErrorCode::kInvalidData, source + ": the ratings use " + std::to_string(ratings.categories) +
                                             " categories, so the model needs score_0 … score_" +
                                             std::to_string(ratings.categories - 1) + "; found " +
                                             std::to_string(score_cols.size()) + " score columns");
  }
  std::unordered_map<std::string, std::size_t> rows;
  for (std::size_t r = 0; r < pred.rows.size(); ++r) {
    const std::string& id = pred.rows[r][static_cast<std::size_t>(id_col)];
    if (auto [it, fresh] = rows.try_emplace(id, r); !fresh)
      return fail(ErrorCode::kInvalidData, where(source, pred, r, id) + ": duplicated id (first on line " +
                                               std::to_string(pred.lines[it->second]) + ")");
  }
  std::unordered_map<std::string, bool> rated;
  for (const auto& id : ratings.ids) rated[id] = true;
  for (std::size_t r = 0; r < pred.rows.size(); ++r) {
    const std::string& id = pred.rows[r][static_cast<std::size_t>(id_col)];
    if (!rated.contains(id))
      return fail(ErrorCode::kInvalidData, where(source, pred, r, id) + ": id not in the ratings file; every "
                                                                        "prediction needs the readers' ratings");
  }
  std::vector<int> out;
  for (const auto& id : ratings.ids) {
    const auto it = rows.find(id);
    if (it == rows.end())
      return fail(ErrorCode::kInvalidData, source + ": no prediction for rated case '" + id +
                                               "'; predict every rated case or drop it from the ratings");
    const std::size_t r = it->second;
    std::vector<double> scores;
    for (int c : score_cols) {
      const std::string& text = pred.rows[r][static_cast<std::size_t>(c)];
      const auto v = parse_score(text);
      if (!v)
        return fail(ErrorCode::kInvalidData, where(source, pred, r, id) + ": " + pred.header[static_cast<std::size_t>(c)] +
                                                 " '" + text + "' is not a finite number");
      scores.push_back(*v);
    }
    out.push_back(binary ? (scores[0] >= threshold ? 1 : 0)
                         : static_cast<int>(std::max_element(scores.begin(), scores.end()) - scores.begin()));
  }
  return out;
}

Result<std::vector<int>> read_model_decisions(const std::filesystem::path& pred, const Ratings& ratings, double threshold) {
  auto t = read_csv(pred);
  if (!t) return std::unexpected(t.error().with_context("predictions"));
  return parse_model_decisions(*t, pred.string(), ratings, threshold);
}

namespace {

MetricValue fleiss_of(const std::vector<std::vector<int>>& rows, const std::vector<int64_t>& cases, int categories) {
  if (cases.empty()) return MetricValue::undefined("undefined: no cases");
  const std::size_t k = rows[static_cast<std::size_t>(cases[0])].size();
  if (k < 2) return MetricValue::undefined("undefined: fewer than 2 readers");
  std::vector<double> p(static_cast<std::size_t>(categories), 0.0);
  std::vector<int64_t> n_ij(static_cast<std::size_t>(categories));
  double p_bar = 0;
  const double kd = static_cast<double>(k);
  for (int64_t c : cases) {
    std::fill(n_ij.begin(), n_ij.end(), 0);
    for (int v : rows[static_cast<std::size_t>(c)]) ++n_ij[static_cast<std::size_t>(v)];
    double sq = 0;
    for (std::size_t j = 0; j < n_ij.size(); ++j) {
      sq += static_cast<double>(n_ij[j] * n_ij[j]);
      p[j] += static_cast<double>(n_ij[j]);
    }
    p_bar += (sq - kd) / (kd * (kd - 1));
  }
  const double n = static_cast<double>(cases.size());
  p_bar /= n;
  double pe = 0;
  for (double x : p) pe += (x / (n * kd)) * (x / (n * kd));
  if (pe >= 1) return MetricValue::undefined("undefined: every rating is the same category (chance agreement is 1)");
  return MetricValue::of((p_bar - pe) / (1 - pe));
}

}  // namespace

MetricValue fleiss_kappa(const std::vector<std::vector<int>>& ratings, int categories) {
  std::vector<int64_t> all(ratings.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  return fleiss_of(ratings, all, categories);
}

std::vector<int> majority_without(const Ratings& r, std::size_t left_out) {
  std::vector<int> out;
  std::vector<int> votes(static_cast<std::size_t>(r.categories));
  for (const auto& row : r.values) {
    std::fill(votes.begin(), votes.end(), 0);
    for (std::size_t k = 0; k < row.size(); ++k)
      if (k != left_out) ++votes[static_cast<std::size_t>(row[k])];
    int best = 0;
    for (int c = 1; c < r.categories; ++c)
      if (votes[static_cast<std::size_t>(c)] >= votes[static_cast<std::size_t>(best)]) best = c;  // ties: higher
    out.push_back(best);
  }
  return out;
}

Result<Agreement> agreement(const Ratings& r, const std::optional<std::vector<int>>& model, const AgreementOptions& o) {
  const std::size_t n = r.ids.size(), k = r.readers.size();
  if (n == 0 || k < 2) return fail(ErrorCode::kInvalidData, "agreement needs at least one case and 2 readers");
  if (model && model->size() != n)
    return fail(ErrorCode::kInvalidArgument, "the model has " + std::to_string(model->size()) + " decisions for " +
                                                 std::to_string(n) + " rated cases");
  if (model)
    for (int v : *model)
      if (v < 0 || v >= r.categories)
        return fail(ErrorCode::kInvalidArgument, "model decision " + std::to_string(v) + " is outside the ratings' "
                                                 "categories 0.." + std::to_string(r.categories - 1));
  if (!(o.bootstrap.confidence > 0 && o.bootstrap.confidence < 1) || o.bootstrap.resamples < 0)
    return fail(ErrorCode::kInvalidArgument, "bootstrap: confidence must be in (0, 1) and resamples >= 0");
  const int cats = r.categories;
  const bool binary = cats == 2;
  // Columns: reader j's ratings, and G_j (majority of the others).
  std::vector<std::vector<int>> reader(k, std::vector<int>(n)), majority(k);
  for (std::size_t j = 0; j < k; ++j) {
    for (std::size_t i = 0; i < n; ++i) reader[j][i] = r.values[i][j];
    majority[j] = majority_without(r, j);
  }
  const std::string f1_reason = "undefined: F1 needs binary (0/1) ratings; these use " + std::to_string(cats) + " categories";

  // All statistics in one vector (same resamples): fleiss, pairwise kappas, per reader (f1, kappa),
  // mean reader (f1, kappa), then with a model: model (f1, kappa), difference (f1, kappa).
  const Statistics stat = [&](const std::vector<int64_t>& cases) {
    std::vector<std::optional<double>> out;
    out.push_back(fleiss_of(r.values, cases, cats).value);
    for (std::size_t a = 0; a < k; ++a)
      for (std::size_t b = a + 1; b < k; ++b) out.push_back(kappa_of(reader[a], reader[b], cases, cats).value);
    std::vector<MetricValue> rf1, rk, mf1, mk;
    for (std::size_t j = 0; j < k; ++j) {
      rf1.push_back(binary ? f1_of(majority[j], reader[j], cases) : MetricValue::undefined(f1_reason));
      rk.push_back(kappa_of(majority[j], reader[j], cases, cats));
      out.push_back(rf1.back().value);
      out.push_back(rk.back().value);
      if (model) {
        mf1.push_back(binary ? f1_of(majority[j], *model, cases) : MetricValue::undefined(f1_reason));
        mk.push_back(kappa_of(majority[j], *model, cases, cats));
      }
    }
    const auto mean_f1 = mean_of(rf1), mean_k = mean_of(rk);
    out.push_back(mean_f1);
    out.push_back(mean_k);
    if (model) {
      const auto model_f1 = mean_of(mf1), model_k = mean_of(mk);
      out.push_back(model_f1);
      out.push_back(model_k);
      out.push_back(model_f1 && mean_f1 ? std::optional(*model_f1 - *mean_f1) : std::nullopt);
      out.push_back(model_k && mean_k ? std::optional(*model_k - *mean_k) : std::nullopt);
    }
    return out;
  };
  const Resampler resampler = Resampler::make(n, {}, {});
  const auto all = resampler.all_cases();
  const auto estimate = stat(all);
  std::vector<Interval> intervals;
  if (o.bootstrap.resamples > 0) intervals = bootstrap_intervals(stat, estimate, resampler, o.bootstrap, Rng(o.seed));

  // Point values with their reasons (recomputed for the reasons; the numbers equal `estimate`).
  std::size_t at = 0;
  auto next = [&](const MetricValue& point) {
    Estimate e;
    e.point = point;
    if (at < intervals.size()) {
      e.ci_low = intervals[at].low;
      e.ci_high = intervals[at].high;
      e.ci_method = intervals[at].low ? intervals[at].method : "none";
      e.ci_note = intervals[at].note;
    }
    ++at;
    return e;
  };
  Agreement out;
  out.n = static_cast<int64_t>(n);
  out.categories = cats;
  out.confidence = o.bootstrap.confidence;
  out.resamples = o.bootstrap.resamples;
  out.seed = o.seed;
  out.readers = r.readers;
  out.fleiss = next(fleiss_of(r.values, all, cats));
  for (std::size_t a = 0; a < k; ++a)
    for (std::size_t b = a + 1; b < k; ++b)
      out.pairwise.push_back({{r.readers[a], r.readers[b]}, next(kappa_of(reader[a], reader[b], all, cats))});
  std::vector<MetricValue> rf1, rk, mf1, mk;
  for (std::size_t j = 0; j < k; ++j) {
    rf1.push_back(binary ? f1_of(majority[j], reader[j], all) : MetricValue::undefined(f1_reason));
    rk.push_back(kappa_of(majority[j], reader[j], all, cats));
    ReaderScore s{r.readers[j], next(rf1.back()), next(rk.back())};
    out.reader_scores.push_back(std::move(s));
    if (model) {
      mf1.push_back(binary ? f1_of(majority[j], *model, all) : MetricValue::undefined(f1_reason));
      mk.push_back(kappa_of(majority[j], *model, all, cats));
    }
  }
  const char* undefined_mean = "undefined: a reader's score is undefined";
  const auto mean_f1 = mean_of(rf1), mean_k = mean_of(rk);
  out.mean_reader = {"mean reader", next(binary ? as_value(mean_f1, undefined_mean) : MetricValue::undefined(f1_reason)),
                     next(as_value(mean_k, undefined_mean))};
  if (model) {
    const auto model_f1 = mean_of(mf1), model_k = mean_of(mk);
    out.model = ReaderScore{"model", next(binary ? as_value(model_f1, undefined_mean) : MetricValue::undefined(f1_reason)),
                            next(as_value(model_k, undefined_mean))};
    out.model_minus_mean_reader =
        ReaderScore{"model - mean reader",
                    next(model_f1 && mean_f1 ? MetricValue::of(*model_f1 - *mean_f1)
                                             : MetricValue::undefined(binary ? undefined_mean : f1_reason.c_str())),
                    next(model_k && mean_k ? MetricValue::of(*model_k - *mean_k) : MetricValue::undefined(undefined_mean))};
  }
  return out;
}

json to_json(const Agreement& a) {
  json pairwise = json::array();
  for (const auto& [pair, est] : a.pairwise) {
    json j = {{"reader_a", pair.first}, {"reader_b", pair.second}};
    j["kappa"] = to_json(est);
    pairwise.push_back(std::move(j));
  }
  json readers = json::object();
  for (const auto& s : a.reader_scores) readers[s.name] = score_json(s);
  json out = {{"n", a.n},
              {"categories", a.categories},
              {"readers", a.readers},
              {"fleiss_kappa", to_json(a.fleiss)},
              {"cohen_kappa", std::move(pairwise)},
              {"versus_other_readers",
               {{"reference", "majority vote of the other readers (ties: the higher category)"},
                {"readers", std::move(readers)},
                {"mean_reader", score_json(a.mean_reader)}}}};
  if (a.model) {
    out["versus_other_readers"]["model"] = score_json(*a.model);
    out["versus_other_readers"]["model_minus_mean_reader"] = score_json(*a.model_minus_mean_reader);
    out["versus_other_readers"]["model_reference"] = "each reader's reference in turn, averaged over readers";
  }
  out["bootstrap"] = {{"resamples", a.resamples}, {"seed", a.seed}, {"confidence", a.confidence}, {"unit", "case"},
                      {"stratified_by", "none"}};
  return out;
}

}  // namespace lucent::metrics
