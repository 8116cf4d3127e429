// report.html: the payload (Vega-Lite specifications, tables, provenance) is built here as JSON
// from the raw predictions and metrics.json; web/report/report.js puts it on the page.
#include "lucent/metrics/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "lucent/core/atomic_file.h"
#include "lucent/core/csv.h"
#include "lucent/core/hash.h"
#include "lucent/metrics/bootstrap.h"
#include "lucent/metrics/calibration.h"
#include "lucent/metrics/internal/report_assets.h"
#include "lucent/metrics/ranking.h"
#include "lucent/metrics/threshold.h"

namespace lucent::metrics {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";
constexpr int kGridSteps = 100;        // bands at FPR / recall 0, 0.01, …, 1
constexpr std::size_t kMaxCurvePoints = 1500;
constexpr int64_t kMaxBandResamples = 1000;
constexpr int kChartSize = 300;

// One binary ranking problem: the positive score (binary), one class against the rest
// (multiclass, ordinal) or one label (multilabel), with the decision made on each case.
struct Curve {
  std::string name;
  std::vector<double> scores;
  std::vector<int> truth;   // 0/1
  std::vector<int> called;  // the decision: 0/1
  int64_t positives = 0, negatives = 0;
};

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// JSON for a <script type="application/json"> element: <, > and & only occur inside strings,
// where \u escapes keep the value and no "</script>" or "<!--" can appear. Invalid UTF-8 in
// ids is replaced (U+FFFD), never an exception.
std::string script_json(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size() + s.size() / 16);
  for (char c : s) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// A data: URI of an image file the browser can show as it is, or the reason there is none.
json thumbnail(const std::string& path, std::size_t max_bytes) {
  if (path.empty()) return json{{"note", "no image path"}};
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return json{{"note", "not readable: " + ec.message()}};
  if (size > max_bytes) return json{{"note", "not embedded: " + std::to_string(size) + " bytes (limit " + std::to_string(max_bytes) + ")"}};
  auto bytes = read_file(path);
  if (!bytes) return json{{"note", "not readable"}};
  const std::string& b = *bytes;
  std::string mime;
  if (b.starts_with("\x89PNG\r\n\x1a\n")) mime = "image/png";
  else if (b.starts_with("\xff\xd8\xff")) mime = "image/jpeg";
  else if (b.starts_with("GIF87a") || b.starts_with("GIF89a")) mime = "image/gif";
  else return json{{"note", "no preview: not a PNG, JPEG or GIF file"}};
  return json{{"src", "data:" + mime + ";base64," + base64(b)}};
}

// --- curves ------------------------------------------------------------------------------------

int arg_max(const std::vector<double>& row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());  // first maximum
}

std::vector<Curve> make_curves(const PredictionSet& p, double threshold) {
  std::vector<Curve> curves;
  const std::size_t n = p.ids.size();
  auto finish = [](Curve& c) {
    for (int t : c.truth) (t ? c.positives : c.negatives) += 1;
  };
  if (p.task == Task::kBinary) {
    Curve c;
    c.name = "positive";
    for (std::size_t i = 0; i < n; ++i) {
      c.scores.push_back(p.scores[i][0]);
      c.truth.push_back(p.labels[i][0] != 0);
      c.called.push_back(p.scores[i][0] >= threshold);
    }
    finish(c);
    curves.push_back(std::move(c));
  } else if (p.task == Task::kMultilabel) {
    for (int k = 0; k < p.classes; ++k) {
      Curve c;
      c.name = "label_" + std::to_string(k);
      for (std::size_t i = 0; i < n; ++i) {
        c.scores.push_back(p.scores[i][k]);
        c.truth.push_back(p.labels[i][k] != 0);
        c.called.push_back(p.scores[i][k] >= threshold);
      }
      finish(c);
      curves.push_back(std::move(c));
    }
  } else {
    std::vector<int> predicted(n);
    for (std::size_t i = 0; i < n; ++i) predicted[i] = arg_max(p.scores[i]);
    for (int k = 0; k < p.classes; ++k) {
      Curve c;
      c.name = "class " + std::to_string(k);
      for (std::size_t i = 0; i < n; ++i) {
        c.scores.push_back(p.scores[i][k]);
        c.truth.push_back(p.labels[i][0] == k);
        c.called.push_back(predicted[i] == k);
      }
      finish(c);
      curves.push_back(std::move(c));
    }
  }
  return curves;
}

struct Xy {
  double x = 0, y = 0;
};

// ROC as (FPR, TPR) from (0, 0), in increasing order.
std::vector<Xy> roc_xy(const std::vector<RocPoint>& pts, int64_t pos, int64_t neg) {
  std::vector<Xy> out{{0, 0}};
  for (const auto& q : pts)
    out.push_back({double(q.false_positives) / double(neg), double(q.true_positives) / double(pos)});
  return out;
}

// PR as (recall, precision), starting at recall 0 with the precision of the top threshold;
// drawn with step-before interpolation, its area is the average precision.
std::vector<Xy> pr_xy(const std::vector<RocPoint>& pts, int64_t pos) {
  std::vector<Xy> out;
  for (const auto& q : pts) {
    const double precision = double(q.true_positives) / double(q.true_positives + q.false_positives);
    if (out.empty()) out.push_back({0, precision});
    out.push_back({double(q.true_positives) / double(pos), precision});
  }
  return out;
}

// TPR at FPR = g / kGridSteps: the curve interpolated linearly (the top of a vertical step).
std::vector<double> tpr_grid(const std::vector<Xy>& roc) {
  std::vector<double> out(kGridSteps + 1);
  std::size_t j = 0;
  for (int g = 0; g <= kGridSteps; ++g) {
    const double f = double(g) / kGridSteps;
    while (j + 1 < roc.size() && roc[j + 1].x <= f + 1e-12) ++j;
    if (j + 1 >= roc.size()) {
      out[g] = roc.back().y;
    } else {
      const Xy& a = roc[j];
      const Xy& b = roc[j + 1];
      out[g] = a.y + (b.y - a.y) * (f - a.x) / (b.x - a.x);
    }
  }
  return out;
}

// Precision at recall = g / kGridSteps: that of the first threshold reaching the recall (the
// step the average precision integrates).
std::vector<double> precision_grid(const std::vector<Xy>& pr) {
  std::vector<double> out(kGridSteps + 1);
  std::size_t j = 0;
  for (int g = 0; g <= kGridSteps; ++g) {
    const double r = double(g) / kGridSteps;
    while (j + 1 < pr.size() && pr[j].x < r - 1e-12) ++j;
    out[g] = pr[j].y;
  }
  return out;
}

// At most kMaxCurvePoints points: a point is kept when it is at least 1/1000 (in x + y) from the
// last kept one; the first and last are always kept.
json thin_points(const std::vector<Xy>& xy, const std::string& curve, const char* xname, const char* yname) {
  json rows = json::array();
  Xy last{-1, -1};
  const double step = xy.size() > kMaxCurvePoints ? 1e-3 : 0;
  for (std::size_t i = 0; i < xy.size(); ++i) {
    const bool keep = i == 0 || i + 1 == xy.size() || std::abs(xy[i].x - last.x) + std::abs(xy[i].y - last.y) >= step;
    if (!keep) continue;
    rows.push_back({{"curve", curve}, {"i", rows.size()}, {xname, xy[i].x}, {yname, xy[i].y}});
    last = xy[i];
  }
  return rows;
}

struct Bands {
  // Per curve: lower and upper TPR at the FPR grid, precision at the recall grid (nullopt: none).
  std::vector<std::vector<Interval>> roc, pr;
  int64_t resamples = 0;
};

Bands curve_bands(const std::vector<Curve>& curves, const PredictionSet& p, int64_t resamples, double confidence,
                  uint64_t seed) {
  Bands bands;
  bands.resamples = resamples;
  const std::size_t per_curve = 2 * (kGridSteps + 1);
  auto stat = [&](const std::vector<int64_t>& cases) {
    std::vector<std::optional<double>> v(curves.size() * per_curve);
    std::vector<double> s;
    std::vector<int> y;
    for (std::size_t c = 0; c < curves.size(); ++c) {
      s.clear();
      y.clear();
      int64_t pos = 0;
      for (int64_t i : cases) {
        s.push_back(curves[c].scores[static_cast<std::size_t>(i)]);
        y.push_back(curves[c].truth[static_cast<std::size_t>(i)]);
        pos += y.back();
      }
      const int64_t neg = static_cast<int64_t>(y.size()) - pos;
      if (pos == 0 || neg == 0) continue;
      const auto pts = roc_points(s, y);
      const auto roc = tpr_grid(roc_xy(pts, pos, neg));
      const auto pr = precision_grid(pr_xy(pts, pos));
      for (int g = 0; g <= kGridSteps; ++g) {
        v[c * per_curve + static_cast<std::size_t>(g)] = roc[static_cast<std::size_t>(g)];
        v[c * per_curve + kGridSteps + 1 + static_cast<std::size_t>(g)] = pr[static_cast<std::size_t>(g)];
      }
    }
    return v;
  };
  std::vector<int> strata;
  if (p.task != Task::kMultilabel)
    for (const auto& l : p.labels) strata.push_back(l[0]);
  const Resampler resampler = Resampler::make(p.ids.size(), strata, p.patients);
  const auto estimate = stat(resampler.all_cases());
  BootstrapOptions options;
  options.resamples = resamples;
  options.confidence = confidence;
  options.method = CiMethod::kPercentile;
  const auto iv = bootstrap_intervals(stat, estimate, resampler, options, Rng(seed));
  for (std::size_t c = 0; c < curves.size(); ++c) {
    const auto first = iv.begin() + static_cast<std::ptrdiff_t>(c * per_curve);
    bands.roc.emplace_back(first, first + kGridSteps + 1);
    bands.pr.emplace_back(first + kGridSteps + 1, first + static_cast<std::ptrdiff_t>(per_curve));
  }
  return bands;
}

json color_encoding(std::size_t curves, const char* title) {
  json c = {{"field", "curve"}, {"type", "nominal"}, {"title", title}};
  if (curves <= 1) c["legend"] = nullptr;
  return c;
}

json axis_q(const char* field, const char* title) {
  return {{"field", field}, {"type", "quantitative"}, {"title", title}, {"scale", {{"domain", {0, 1}}}}};
}

struct CurveData {
  json line = json::array(), band = json::array(), op = json::array(), chance = json::array();
};

json roc_spec(const CurveData& d, std::size_t curves, const std::string& subtitle) {
  json layers = json::array();
  const json x = axis_q("fpr", "false positive rate (1 − specificity)");
  if (!d.band.empty())
    layers.push_back({{"data", {{"values", d.band}}},
                      {"mark", {{"type", "area"}, {"opacity", 0.18}}},
                      {"encoding", {{"x", x}, {"y", axis_q("lo", "true positive rate (sensitivity)")},
                                    {"y2", {{"field", "hi"}}}, {"color", color_encoding(curves, "curve")}}}});
  layers.push_back({{"data", {{"values", json::array({{{"x", 0}, {"y", 0}}, {{"x", 1}, {"y", 1}}})}}},
                    {"mark", {{"type", "line"}, {"strokeDash", {4, 4}}, {"color", "#999999"}}},
                    {"encoding", {{"x", {{"field", "x"}, {"type", "quantitative"}}},
                                  {"y", {{"field", "y"}, {"type", "quantitative"}}}}}});
  layers.push_back({{"data", {{"values", d.line}}},
                    {"mark", {{"type", "line"}, {"strokeWidth", 2}}},
                    {"encoding", {{"x", x}, {"y", axis_q("tpr", "true positive rate (sensitivity)")},
                                  {"order", {{"field", "i"}, {"type", "quantitative"}}},
                                  {"color", color_encoding(curves, "curve")}}}});
  const json tooltip = json::array({{{"field", "curve"}}, {{"field", "decision"}},
                                    {{"field", "sensitivity"}, {"format", ".4f"}},
                                    {{"field", "specificity"}, {"format", ".4f"}}});
  layers.push_back({{"data", {{"values", d.op}}},
                    {"mark", {{"type", "point"}, {"shape", "diamond"}, {"filled", true}, {"size", 130},
                              {"stroke", "black"}, {"strokeWidth", 1}}},
                    {"encoding", {{"x", {{"field", "fpr"}, {"type", "quantitative"}}},
                                  {"y", {{"field", "tpr"}, {"type", "quantitative"}}},
                                  {"color", color_encoding(curves, "curve")}, {"tooltip", tooltip}}}});
  layers.push_back({{"data", {{"values", d.op}}},
                    {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 8}, {"dy", 10}, {"fontSize", 10}}},
                    {"encoding", {{"x", {{"field", "fpr"}, {"type", "quantitative"}}},
                                  {"y", {{"field", "tpr"}, {"type", "quantitative"}}},
                                  {"text", {{"field", "label"}}}}}});
  return {{"$schema", kSchema},
          {"title", {{"text", "ROC curve"}, {"subtitle", subtitle}}},
          {"width", kChartSize},
          {"height", kChartSize},
          {"layer", std::move(layers)}};
}

json pr_spec(const CurveData& d, std::size_t curves, const std::string& subtitle) {
  json layers = json::array();
  const json x = axis_q("recall", "recall (sensitivity)");
  if (!d.band.empty())
    layers.push_back({{"data", {{"values", d.band}}},
                      {"mark", {{"type", "area"}, {"opacity", 0.18}}},
                      {"encoding", {{"x", x}, {"y", axis_q("lo", "precision (PPV)")}, {"y2", {{"field", "hi"}}},
                                    {"color", color_encoding(curves, "curve")}}}});
  layers.push_back({{"data", {{"values", d.chance}}},
                    {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"opacity", 0.7}}},
                    {"encoding", {{"y", {{"field", "prevalence"}, {"type", "quantitative"}}},
                                  {"color", color_encoding(curves, "curve")},
                                  {"tooltip", json::array({{{"field", "curve"}},
                                                           {{"field", "prevalence"}, {"format", ".4f"}}})}}}});
  layers.push_back({{"data", {{"values", d.line}}},
                    {"mark", {{"type", "line"}, {"strokeWidth", 2}, {"interpolate", "step-before"}}},
                    {"encoding", {{"x", x}, {"y", axis_q("precision", "precision (PPV)")},
                                  {"order", {{"field", "i"}, {"type", "quantitative"}}},
                                  {"color", color_encoding(curves, "curve")}}}});
  const json tooltip = json::array({{{"field", "curve"}}, {{"field", "decision"}},
                                    {{"field", "tpr"}, {"title", "recall"}, {"format", ".4f"}},
                                    {{"field", "precision"}, {"format", ".4f"}}});
  layers.push_back({{"data", {{"values", d.op}}},
                    {"transform", json::array({{{"filter", "isValid(datum.precision)"}}})},
                    {"mark", {{"type", "point"}, {"shape", "diamond"}, {"filled", true}, {"size", 130},
                              {"stroke", "black"}, {"strokeWidth", 1}}},
                    {"encoding", {{"x", {{"field", "tpr"}, {"type", "quantitative"}}},
                                  {"y", {{"field", "precision"}, {"type", "quantitative"}}},
                                  {"color", color_encoding(curves, "curve")}, {"tooltip", tooltip}}}});
  return {{"$schema", kSchema},
          {"title", {{"text", "Precision–recall curve"}, {"subtitle", subtitle}}},
          {"width", kChartSize},
          {"height", kChartSize},
          {"layer", std::move(layers)}};
}

// --- sections ----------------------------------------------------------------------------------

json section(const char* id, const char* title, std::string text) {
  return {{"id", id}, {"title", title}, {"text", std::move(text)}, {"charts", json::array()}, {"notes", json::array()}};
}

json chart(const char* id, json spec) { return {{"id", id}, {"spec", std::move(spec)}}; }

json curves_section(const std::vector<Curve>& curves, const PredictionSet& p, double threshold, int64_t resamples,
                    double confidence, uint64_t seed) {
  json sec = section("curves", "ROC and precision–recall curves",
                     p.task == Task::kBinary
                         ? "The positive score ranks the cases; each distinct score is a threshold."
                         : (p.task == Task::kMultilabel ? "One curve per label." : "One curve per class, one against the rest."));
  std::vector<const Curve*> drawn;
  for (const auto& c : curves) {
    if (c.positives == 0 || c.negatives == 0)
      sec["notes"].push_back(c.name + ": no curve, only one class present (" + std::to_string(c.positives) +
                             " positive, " + std::to_string(c.negatives) + " negative cases)");
    else drawn.push_back(&c);
  }
  if (drawn.empty()) return sec;
  std::optional<Bands> bands;
  if (resamples > 0) bands = curve_bands(curves, p, resamples, confidence, seed);
  CurveData roc, pr;
  const std::string decision = p.task == Task::kBinary || p.task == Task::kMultilabel
                                   ? "score >= " + fixed(threshold, 4)
                                   : "arg-max class";
  for (std::size_t ci = 0; ci < curves.size(); ++ci) {
    const Curve& c = curves[ci];
    if (c.positives == 0 || c.negatives == 0) continue;
    const auto pts = roc_points(c.scores, c.truth);
    const auto rxy = roc_xy(pts, c.positives, c.negatives);
    const auto pxy = pr_xy(pts, c.positives);
    for (auto& r : thin_points(rxy, c.name, "fpr", "tpr")) roc.line.push_back(std::move(r));
    for (auto& r : thin_points(pxy, c.name, "recall", "precision")) pr.line.push_back(std::move(r));
    if (bands) {
      for (int g = 0; g <= kGridSteps; ++g) {
        const Interval& a = bands->roc[ci][static_cast<std::size_t>(g)];
        if (a.low && a.high) roc.band.push_back({{"curve", c.name}, {"fpr", double(g) / kGridSteps}, {"lo", *a.low}, {"hi", *a.high}});
        const Interval& b = bands->pr[ci][static_cast<std::size_t>(g)];
        if (b.low && b.high) pr.band.push_back({{"curve", c.name}, {"recall", double(g) / kGridSteps}, {"lo", *b.low}, {"hi", *b.high}});
      }
    }
    int64_t tp = 0, fp = 0;
    for (std::size_t i = 0; i < c.truth.size(); ++i) {
      if (!c.called[i]) continue;
      (c.truth[i] ? tp : fp) += 1;
    }
    const double tpr = double(tp) / double(c.positives), fpr = double(fp) / double(c.negatives);
    json op = {{"curve", c.name}, {"decision", decision}, {"fpr", fpr}, {"tpr", tpr},
               {"sensitivity", tpr}, {"specificity", 1 - fpr},
               {"precision", tp + fp ? json(double(tp) / double(tp + fp)) : json(nullptr)},
               {"label", drawn.size() == 1 ? "operating point (" + decision + ")" : ""}};
    roc.op.push_back(op);
    pr.op.push_back(std::move(op));
    pr.chance.push_back({{"curve", c.name}, {"prevalence", double(c.positives) / double(c.truth.size())}});
  }
  std::string subtitle = bands ? "shaded: pointwise " + fixed(100 * confidence, 0) + " % bootstrap band (" +
                                     std::to_string(bands->resamples) + " resamples, percentile)"
                               : "no bootstrap band";
  subtitle += "; ◆ operating point";
  sec["charts"].push_back(chart("roc", roc_spec(roc, drawn.size(), subtitle)));
  sec["charts"].push_back(chart("pr", pr_spec(pr, drawn.size(), subtitle)));
  if (bands)
    sec["notes"].push_back("Bands: at each false positive rate (ROC) or recall (PR) in steps of 0.01, the " +
                           fixed(50 * (1 - confidence), 1) + " and " + fixed(100 - 50 * (1 - confidence), 1) +
                           " percentiles of the sensitivity (precision) over " + std::to_string(bands->resamples) +
                           " bootstrap resamples, drawn as metrics.json's intervals are (same seed, strata and "
                           "patient clusters). Pointwise, not simultaneous: the whole curve may leave the band.");
  return sec;
}

// Wilson score interval of k successes in n.
std::pair<double, double> wilson(int64_t k, int64_t n, double confidence) {
  const double z = normal_quantile(1 - (1 - confidence) / 2);
  const double nn = double(n), ph = double(k) / nn, z2 = z * z;
  const double centre = (ph + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z * std::sqrt(ph * (1 - ph) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

json calibration_section(const std::vector<Curve>& curves, const PredictionSet& p, double confidence) {
  json sec = section("calibration", "Reliability diagram",
                     std::to_string(kCalibrationBins) + " equal-width bins of the " +
                         (p.task == Task::kBinary       ? std::string("positive score")
                          : p.task == Task::kMultilabel ? std::string("score of each label")
                                                        : std::string("top-label probability (outcome: the arg-max class is right)")) +
                         ". A calibrated model lies on the diagonal. Error bars: " + fixed(100 * confidence, 0) +
                         " % Wilson intervals of the observed frequency; bars below: cases per bin.");
  std::vector<std::pair<std::string, Calibration>> cals;
  if (p.task == Task::kBinary || p.task == Task::kMultilabel) {
    for (const auto& c : curves) cals.emplace_back(c.name, calibration(c.scores, c.truth));
  } else {
    std::vector<double> conf;
    std::vector<int> correct;
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      const int k = arg_max(p.scores[i]);
      conf.push_back(p.scores[i][static_cast<std::size_t>(k)]);
      correct.push_back(k == p.labels[i][0]);
    }
    cals.emplace_back("top label", calibration(conf, correct));
  }
  json points = json::array(), counts = json::array();
  std::string eces;
  for (const auto& [name, cal] : cals) {
    for (const auto& b : cal.bins) {
      counts.push_back({{"curve", name}, {"low", b.low}, {"high", b.high}, {"count", b.count}});
      if (b.count == 0) continue;
      const auto k = static_cast<int64_t>(std::llround(b.observed * double(b.count)));
      const auto [lo, hi] = wilson(k, b.count, confidence);
      points.push_back({{"curve", name}, {"bin", fixed(b.low, 1) + "–" + fixed(b.high, 1)}, {"count", b.count},
                        {"mean_confidence", b.mean_confidence}, {"observed", b.observed}, {"lo", lo}, {"hi", hi}});
    }
    if (cal.ece && cals.size() <= 4) eces += (eces.empty() ? "" : "; ") + name + " ECE " + fixed(*cal.ece.value, 4);
  }
  const json color = color_encoding(cals.size(), "curve");
  const json x = axis_q("mean_confidence", "mean predicted probability");
  const json tooltip = json::array({{{"field", "curve"}}, {{"field", "bin"}}, {{"field", "count"}},
                                    {{"field", "mean_confidence"}, {"format", ".4f"}},
                                    {{"field", "observed"}, {"format", ".4f"}}});
  json top = {{"width", kChartSize},
              {"height", kChartSize},
              {"layer",
               json::array({{{"data", {{"values", json::array({{{"x", 0}, {"y", 0}}, {{"x", 1}, {"y", 1}}})}}},
                             {"mark", {{"type", "line"}, {"strokeDash", {4, 4}}, {"color", "#999999"}}},
                             {"encoding", {{"x", {{"field", "x"}, {"type", "quantitative"}}},
                                           {"y", {{"field", "y"}, {"type", "quantitative"}}}}}},
                            {{"data", {{"values", points}}},
                             {"mark", {{"type", "rule"}, {"opacity", 0.6}}},
                             {"encoding", {{"x", x}, {"y", axis_q("lo", "observed frequency")}, {"y2", {{"field", "hi"}}},
                                           {"color", color}}}},
                            {{"data", {{"values", points}}},
                             {"mark", {{"type", "line"}, {"point", true}}},
                             {"encoding", {{"x", x}, {"y", axis_q("observed", "observed frequency")},
                                           {"color", color}, {"tooltip", tooltip}}}}})}};
  json bottom = {{"width", kChartSize},
                 {"height", 70},
                 {"data", {{"values", counts}}},
                 {"mark", {{"type", "rect"}, {"opacity", 0.6}, {"stroke", "white"}, {"strokeWidth", 1}}},
                 {"encoding", {{"x", axis_q("low", "predicted probability (bin)")}, {"x2", {{"field", "high"}}},
                               {"y", {{"field", "count"}, {"type", "quantitative"}, {"title", "cases"}}},
                               {"y2", {{"datum", 0}}},
                               {"color", color},
                               {"tooltip", json::array({{{"field", "curve"}}, {{"field", "low"}}, {{"field", "count"}}})}}}};
  sec["charts"].push_back(chart("reliability", {{"$schema", kSchema},
                                                {"title", {{"text", "Reliability diagram"}, {"subtitle", eces.empty() ? " " : eces}}},
                                                {"vconcat", json::array({top, bottom})}}));
  return sec;
}

json confusion_section(const std::vector<Curve>& curves, const PredictionSet& p) {
  json sec = section("confusion", "Confusion matrix", "Rows: truth; columns: decision. Colour: share of the row.");
  json rows = json::array();
  std::vector<std::string> names;
  auto add = [&](const ConfusionMatrix& cm, const std::string& facet) {
    for (int t = 0; t < cm.k; ++t) {
      int64_t row_total = 0;
      for (int q = 0; q < cm.k; ++q) row_total += cm.at(t, q);
      for (int q = 0; q < cm.k; ++q) {
        const double share = row_total ? double(cm.at(t, q)) / double(row_total) : 0.0;
        json r = {{"truth", names[static_cast<std::size_t>(t)]}, {"predicted", names[static_cast<std::size_t>(q)]},
                  {"count", cm.at(t, q)}, {"share", share},
                  {"text", std::to_string(cm.at(t, q)) + "\n" + fixed(100 * share, 1) + " %"}};
        if (!facet.empty()) r["label"] = facet;
        rows.push_back(std::move(r));
      }
    }
  };
  if (p.task == Task::kMulticlass || p.task == Task::kOrdinal) {
    std::vector<int> truth, pred;
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      truth.push_back(p.labels[i][0]);
      pred.push_back(arg_max(p.scores[i]));
    }
    for (int k = 0; k < p.classes; ++k) names.push_back(std::to_string(k));
    add(confusion_matrix(truth, pred, p.classes), "");
  } else {
    names = {"0 (negative)", "1 (positive)"};
    for (const auto& c : curves)
      add(confusion_matrix(c.truth, c.called, 2), p.task == Task::kMultilabel ? c.name : "");
  }
  const int cell = p.task == Task::kMultilabel ? 80 : std::clamp(360 / std::max(p.classes, 1), 28, 120);
  const json names_json = names;
  json layer = json::array(
      {{{"mark", "rect"},
        {"encoding", {{"color", {{"field", "share"}, {"type", "quantitative"}, {"title", "share of row"},
                                 {"scale", {{"scheme", "blues"}, {"domain", {0, 1}}}}}},
                      {"tooltip", json::array({{{"field", "truth"}}, {{"field", "predicted"}}, {{"field", "count"}},
                                               {{"field", "share"}, {"format", ".1%"}}})}}}},
       {{"mark", {{"type", "text"}, {"lineBreak", "\n"}, {"fontSize", p.classes > 8 ? 8 : 11}}},
        {"encoding", {{"text", {{"field", "text"}}},
                      {"color", {{"condition", {{"test", "datum.share > 0.5"}, {"value", "white"}}}, {"value", "black"}}}}}}});
  json enc = {{"x", {{"field", "predicted"}, {"type", "ordinal"}, {"sort", names_json}, {"title", "decision"}, {"axis", {{"labelAngle", 0}}}}},
              {"y", {{"field", "truth"}, {"type", "ordinal"}, {"sort", names_json}, {"title", "truth"}}}};
  json inner = {{"width", cell * static_cast<int>(names.size())}, {"height", cell * static_cast<int>(names.size())},
                {"encoding", enc}, {"layer", layer}};
  json spec = {{"$schema", kSchema}, {"title", "Confusion matrix"}, {"data", {{"values", rows}}}};
  if (p.task == Task::kMultilabel) {
    json order = json::array();
    for (const auto& c : curves) order.push_back(c.name);
    spec["facet"] = {{"field", "label"}, {"type", "nominal"}, {"sort", order}, {"title", nullptr}};
    spec["columns"] = 4;
    spec["spec"] = inner;
  } else {
    for (auto& [k, v] : inner.items()) spec[k] = v;
  }
  sec["charts"].push_back(chart("confusion", std::move(spec)));
  return sec;
}

std::optional<double> number_at(const json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

json subgroup_section(const json& mj) {
  json sec = section("subgroups", "Subgroups",
                     "Each metric with its interval in each subgroup; dashed line and grey band: the whole "
                     "evaluation set; red: the subgroup's interval lies wholly on the worse side of it "
                     "(metrics.json subgroup_audit).");
  const auto it = mj.find("subgroups");
  if (it == mj.end() || !it->is_object() || it->empty()) {
    sec["notes"].push_back("metrics.json has no \"subgroups\" section: no subgroup audit was run for this evaluation.");
    return sec;
  }
  // Metrics in this order first, then any other that a subgroup reports; at most four charts.
  static const std::vector<std::string> kPreferred = {"auc", "sensitivity", "specificity", "ppv", "npv", "balanced_acc",
                                                      "f1", "acc", "pr_auc", "brier", "ece", "kappa"};
  std::vector<std::string> seen;
  std::vector<std::string> labels;
  json rows = json::array();
  // subgroup_audit (when present) names the subgroups whose interval lies wholly on the worse
  // side of the overall value: (column, value, metric).
  std::set<std::tuple<std::string, std::string, std::string>> below;
  if (const auto audit = mj.find("subgroup_audit"); audit != mj.end() && audit->is_object() && audit->contains("columns") &&
                                                    (*audit)["columns"].is_object())
    for (const auto& [col, a] : (*audit)["columns"].items())
      if (a.is_object() && a.contains("below_overall") && a["below_overall"].is_array())
        for (const auto& b : a["below_overall"])
          if (b.is_object() && b.value("subgroup", json()).is_string() && b.value("metric", json()).is_string())
            below.emplace(col, b["subgroup"].get<std::string>(), b["metric"].get<std::string>());
  for (const auto& [col, values] : it->items()) {
    if (!values.is_object()) continue;
    for (const auto& [value, g] : values.items()) {
      if (!g.is_object()) continue;
      std::string label = col + " = " + value;
      if (auto n = number_at(g, "n")) label += " (n = " + std::to_string(static_cast<int64_t>(*n)) + ")";
      if (g.value("status", json()) == "too_small") {
        label += " — too small";
        sec["notes"].push_back(col + " = " + value + ": not evaluated" +
                               (g.value("reason", json()).is_string() ? ": " + g["reason"].get<std::string>() : std::string()));
      }
      labels.push_back(label);
      const auto m = g.find("metrics");
      if (m == g.end() || !m->is_object()) continue;
      for (const auto& [name, est] : m->items()) {
        if (std::find(seen.begin(), seen.end(), name) == seen.end()) seen.push_back(name);
        json r = {{"group", label}, {"metric", name},
                  {"flag", below.contains({col, value, name}) ? "interval worse than overall" : "—"}};
        r["value"] = number_at(est, "value") ? json(*number_at(est, "value")) : json(nullptr);
        r["ci_low"] = number_at(est, "ci_low") ? json(*number_at(est, "ci_low")) : json(nullptr);
        r["ci_high"] = number_at(est, "ci_high") ? json(*number_at(est, "ci_high")) : json(nullptr);
        rows.push_back(std::move(r));
      }
    }
  }
  std::vector<std::string> chosen;
  for (const auto& name : kPreferred)
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) chosen.push_back(name);
  for (const auto& name : seen)
    if (std::find(chosen.begin(), chosen.end(), name) == chosen.end()) chosen.push_back(name);
  if (chosen.size() > 4) {
    sec["notes"].push_back("Shown: " + std::to_string(4) + " of " + std::to_string(chosen.size()) +
                           " metrics; metrics.json has all of them.");
    chosen.resize(4);
  }
  if (chosen.empty()) {
    sec["notes"].push_back("metrics.json's \"subgroups\" section holds no metric values.");
    return sec;
  }
  const json overall_all = mj.contains("metrics") ? mj["metrics"] : json::object();
  json charts = json::array();
  const json domain = labels;
  const int height = std::max(60, 22 * static_cast<int>(labels.size()));
  for (std::size_t c = 0; c < chosen.size(); ++c) {
    const std::string& name = chosen[c];
    json data = json::array();
    for (const auto& r : rows)
      if (r["metric"] == name) data.push_back(r);
    json y = {{"field", "group"}, {"type", "nominal"}, {"sort", domain}, {"scale", {{"domain", domain}}}, {"title", nullptr}};
    if (c > 0) y["axis"] = {{"labels", false}, {"ticks", false}};
    else y["axis"] = {{"labelLimit", 260}};
    const json xq = {{"field", "value"}, {"type", "quantitative"}, {"title", name}, {"scale", {{"zero", false}}}};
    json layers = json::array();
    const json overall = overall_all.contains(name) ? overall_all[name] : json::object();
    if (auto lo = number_at(overall, "ci_low"), hi = number_at(overall, "ci_high"); lo && hi)
      layers.push_back({{"data", {{"values", json::array({{{"lo", *lo}, {"hi", *hi}}})}}},
                        {"mark", {{"type", "rect"}, {"color", "#bbbbbb"}, {"opacity", 0.3}, {"clip", true}}},
                        {"encoding", {{"x", {{"field", "lo"}, {"type", "quantitative"}}}, {"x2", {{"field", "hi"}}}}}});
    if (auto v = number_at(overall, "value"))
      layers.push_back({{"data", {{"values", json::array({{{"overall", *v}}})}}},
                        {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "#555555"}}},
                        {"encoding", {{"x", {{"field", "overall"}, {"type", "quantitative"}}}}}});
    layers.push_back({{"mark", {{"type", "rule"}, {"strokeWidth", 2}, {"clip", true}}},
                      {"encoding", {{"x", {{"field", "ci_low"}, {"type", "quantitative"}}}, {"x2", {{"field", "ci_high"}}},
                                    {"y", y}}}});
    layers.push_back({{"mark", {{"type", "point"}, {"filled", true}, {"size", 70}, {"shape", "square"}}},
                      {"encoding", {{"x", xq}, {"y", y},
                                    {"color", {{"field", "flag"}, {"type", "nominal"}, {"title", nullptr},
                                               {"scale", {{"domain", {"—", "interval worse than overall"}},
                                                          {"range", {"#4c78a8", "#d62728"}}}},
                                               {"legend", c + 1 == chosen.size() && !below.empty() ? json{{"orient", "bottom"}} : json(nullptr)}}},
                                    {"tooltip", json::array({{{"field", "group"}}, {{"field", "value"}, {"format", ".4f"}},
                                                             {{"field", "ci_low"}, {"format", ".4f"}},
                                                             {{"field", "ci_high"}, {"format", ".4f"}}, {{"field", "flag"}}})}}}});
    charts.push_back({{"width", 200}, {"height", height}, {"data", {{"values", data}}}, {"layer", layers}});
  }
  sec["charts"].push_back(chart("forest", {{"$schema", kSchema},
                                           {"title", {{"text", "Subgroup forest plot"}, {"subtitle", "point: value; line: interval"}}},
                                           {"hconcat", charts}}));
  return sec;
}

json worst_section(const PredictionSet& p, const std::vector<Curve>& curves, const ReportOptions& o) {
  json sec = section("worst", "Most confident errors",
                     "The wrong decisions the model was most sure of (confidence: the probability it gave to its "
                     "decision), most confident first.");
  struct Wrong {
    std::size_t i;
    int k;  // label (multilabel) or -1
    double confidence;
  };
  std::vector<Wrong> wrong;
  const bool multiclass = p.task == Task::kMulticlass || p.task == Task::kOrdinal;
  if (multiclass) {
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      const int k = arg_max(p.scores[i]);
      if (k != p.labels[i][0]) wrong.push_back({i, -1, p.scores[i][static_cast<std::size_t>(k)]});
    }
  } else {
    for (std::size_t c = 0; c < curves.size(); ++c)
      for (std::size_t i = 0; i < p.ids.size(); ++i)
        if (curves[c].called[i] != curves[c].truth[i])
          wrong.push_back({i, p.task == Task::kMultilabel ? static_cast<int>(c) : -1,
                           curves[c].called[i] ? curves[c].scores[i] : 1 - curves[c].scores[i]});
  }
  std::stable_sort(wrong.begin(), wrong.end(), [](const Wrong& a, const Wrong& b) { return a.confidence > b.confidence; });
  const std::size_t total = wrong.size();
  if (wrong.size() > static_cast<std::size_t>(std::max(o.worst_cases, 0))) wrong.resize(static_cast<std::size_t>(std::max(o.worst_cases, 0)));
  const bool images = !o.image_paths.empty();
  const bool patients = !p.patients.empty();
  json columns = json::array({"#", "id"});
  if (patients) columns.push_back("patient");
  if (p.task == Task::kMultilabel) columns.push_back("label");
  if (multiclass) {
    for (const char* c : {"truth", "predicted", "p(predicted)", "p(truth)"}) columns.push_back(c);
  } else {
    for (const char* c : {"truth", "decision", "score", "confidence"}) columns.push_back(c);
  }
  if (images) columns.push_back("image");
  json rows = json::array();
  for (std::size_t r = 0; r < wrong.size(); ++r) {
    const Wrong& w = wrong[r];
    json row = json::array({r + 1, p.ids[w.i]});
    if (patients) row.push_back(p.patients[w.i]);
    if (p.task == Task::kMultilabel) row.push_back("label_" + std::to_string(w.k));
    if (multiclass) {
      const int k = arg_max(p.scores[w.i]);
      const int t = p.labels[w.i][0];
      row.push_back(t);
      row.push_back(k);
      row.push_back(p.scores[w.i][static_cast<std::size_t>(k)]);
      row.push_back(p.scores[w.i][static_cast<std::size_t>(t)]);
    } else {
      const Curve& c = curves[w.k < 0 ? 0 : static_cast<std::size_t>(w.k)];
      row.push_back(c.truth[w.i]);
      row.push_back(c.called[w.i]);
      row.push_back(c.scores[w.i]);
      row.push_back(w.confidence);
    }
    if (images) row.push_back(thumbnail(o.image_paths[w.i], o.max_thumbnail_bytes));
    rows.push_back(std::move(row));
  }
  sec["table"] = {{"columns", columns}, {"rows", rows}};
  if (total == 0) sec["notes"].push_back("No wrong decision.");
  else sec["notes"].push_back("Shown: " + std::to_string(wrong.size()) + " of " + std::to_string(total) + " wrong decisions.");
  if (!images) sec["notes"].push_back("No image column was given, so the table has no thumbnails.");
  return sec;
}

// "key: value" rows of a JSON object, nested objects flattened as "key.sub".
void flatten(const json& j, const std::string& prefix, json& rows) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) flatten(v, key, rows);
    else rows.push_back(json::array({key, v.is_string() ? v.get<std::string>() : v.dump(-1, ' ', false, json::error_handler_t::replace)}));
  }
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status check(const PredictionSet& p, const ReportOptions& o) {
  const std::size_t n = p.ids.size();
  if (p.scores.size() != n || p.labels.size() != n)
    return fail(ErrorCode::kInvalidArgument, "report: " + std::to_string(n) + " ids but " + std::to_string(p.scores.size()) +
                                                 " score rows and " + std::to_string(p.labels.size()) + " label rows");
  if (!p.patients.empty() && p.patients.size() != n)
    return fail(ErrorCode::kInvalidArgument, "report: " + std::to_string(p.patients.size()) + " patient ids for " + std::to_string(n) + " cases");
  if (!o.image_paths.empty() && o.image_paths.size() != n)
    return fail(ErrorCode::kInvalidArgument, "report: " + std::to_string(o.image_paths.size()) + " image paths for " +
                                                 std::to_string(n) + " cases; give one per case (\"\" when unknown) or none");
  const bool multiclass = p.task == Task::kMulticlass || p.task == Task::kOrdinal;
  const std::size_t score_cols = p.task == Task::kBinary ? 1 : static_cast<std::size_t>(p.classes);
  const std::size_t label_cols = p.task == Task::kMultilabel ? static_cast<std::size_t>(p.classes) : 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (p.scores[i].size() != score_cols || p.labels[i].size() != label_cols)
      return fail(ErrorCode::kInvalidArgument, "report: case '" + p.ids[i] + "' has " + std::to_string(p.scores[i].size()) +
                                                   " scores and " + std::to_string(p.labels[i].size()) + " labels; expected " +
                                                   std::to_string(score_cols) + " and " + std::to_string(label_cols));
    if (multiclass && (p.labels[i][0] < 0 || p.labels[i][0] >= p.classes))
      return fail(ErrorCode::kInvalidArgument, "report: case '" + p.ids[i] + "' has label " + std::to_string(p.labels[i][0]) +
                                                   " outside 0.." + std::to_string(p.classes - 1));
  }
  return ok();
}

template <typename Pieces>
void append_pieces(std::string& out, const Pieces& pieces) {
  for (std::string_view s : pieces) out.append(s);
}

}  // namespace

Result<std::string> render_report(const json& mj, const PredictionSet& p, const ReportOptions& o) {
  if (auto st = check(p, o); !st) return std::unexpected(st.error());
  const json op = mj.contains("operating_point") ? mj["operating_point"] : json::object();
  const json boot = mj.contains("bootstrap") ? mj["bootstrap"] : json::object();
  const double threshold = o.threshold ? *o.threshold : number_at(op, "threshold").value_or(0.5);
  const double confidence = number_at(boot, "confidence").value_or(0.95);
  const auto seed = static_cast<uint64_t>(number_at(boot, "seed").value_or(0));
  const int64_t resamples = o.band_resamples ? std::max<int64_t>(*o.band_resamples, 0)
                                             : std::min<int64_t>(static_cast<int64_t>(number_at(boot, "resamples").value_or(2000)),
                                                                 kMaxBandResamples);
  const auto curves = make_curves(p, threshold);

  json payload;
  payload["title"] = o.title;
  json summary = json::array();
  auto add = [&summary](const std::string& key, const std::string& value) { summary.push_back(json::array({key, value})); };
  add("task", task_name(p.task));
  add("cases", std::to_string(p.ids.size()) +
                   (p.patients.empty() ? "" : " from " + std::to_string(std::set<std::string>(p.patients.begin(), p.patients.end()).size()) + " patients"));
  if (p.task != Task::kBinary) add(p.task == Task::kMultilabel ? "labels" : "classes", std::to_string(p.classes));
  std::string decision = p.task == Task::kBinary || p.task == Task::kMultilabel ? "positive when score >= " + fixed(threshold, 6)
                                                                                 : "class = arg-max score";
  if (op.contains("rule") && op["rule"].is_string()) decision += " (" + op["rule"].get<std::string>() + ")";
  add("decision", decision);
  if (auto r = number_at(boot, "resamples"))
    add("intervals", fixed(100 * confidence, 0) + " %; " + std::to_string(static_cast<int64_t>(*r)) +
                         " bootstrap resamples of " + boot.value("unit", std::string("case")) + "s, seed " + std::to_string(seed));
  add("generated", utc_now());
  payload["summary"] = summary;
  json prov = json::array();
  if (o.provenance.is_object()) flatten(o.provenance, "", prov);
  payload["provenance"] = prov;

  json metrics = json::array();
  if (mj.contains("metrics") && mj["metrics"].is_object())
    for (const auto& [name, m] : mj["metrics"].items()) {
      std::string note = m.is_object() ? m.value("reason", std::string()) : std::string();
      if (m.is_object() && m.contains("ci_note") && m["ci_note"].is_string())
        note += (note.empty() ? "" : "; ") + m["ci_note"].get<std::string>();
      metrics.push_back(json::array({name, number_at(m, "value") ? json(*number_at(m, "value")) : json(nullptr),
                         number_at(m, "ci_low") ? json(*number_at(m, "ci_low")) : json(nullptr),
                         number_at(m, "ci_high") ? json(*number_at(m, "ci_high")) : json(nullptr),
                         m.is_object() ? m.value("ci_method", std::string("none")) : std::string("none"), note}));
    }
  payload["metrics"] = {{"columns", {"metric", "value", "low", "high", "interval", "note"}}, {"rows", metrics}};
  json warnings = json::array();
  if (mj.contains("warnings") && mj["warnings"].is_array())
    for (const auto& w : mj["warnings"])
      if (w.is_string()) warnings.push_back(w);
  if (op.contains("note") && op["note"].is_string()) warnings.push_back("operating point " + op["note"].get<std::string>());
  payload["warnings"] = warnings;

  json sections = json::array();
  sections.push_back(curves_section(curves, p, threshold, resamples, confidence, seed));
  sections.push_back(calibration_section(curves, p, confidence));
  sections.push_back(confusion_section(curves, p));
  sections.push_back(subgroup_section(mj));
  sections.push_back(worst_section(p, curves, o));
  payload["sections"] = sections;

  json software = json::array();
  json licenses = json::array();
  for (const auto& a : internal::report_scripts()) {
    software.push_back({{"package", a.package}, {"version", a.version}, {"license", a.license}});
    std::string text;
    append_pieces(text, a.license_text);
    licenses.push_back({{"package", a.package}, {"text", text}});
  }
  std::string bundled;
  append_pieces(bundled, internal::report_bundled_packages());
  payload["software"] = {{"scripts", software}, {"licenses", licenses}, {"bundled", bundled}};

  std::string html;
  html.reserve(1 << 20);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // Nothing may be fetched: scripts and styles are inline, images are data: URIs.
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' "
          "'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"generator\" content=\"Lucent\">\n<title>" + html_escape(o.title) + "</title>\n<style>\n";
  append_pieces(html, internal::report_stylesheet());
  html += "</style>\n</head>\n<body>\n<main id=\"report\">\n<noscript>This report draws its charts and tables with "
          "JavaScript (inlined; it loads nothing from the network): allow scripts for this file.</noscript>\n</main>\n";
  html += "<script type=\"application/json\" id=\"lucent-report-data\">";
  html += script_json(payload);
  html += "</script>\n";
  for (const auto& a : internal::report_scripts()) {
    html += "<script>/* ";
    html += a.package;
    html += " ";
    html += a.version;
    html += " (";
    html += a.license;
    html += "; licence text at the end of the report) */\n";
    append_pieces(html, a.script);
    html += "\n</script>\n";
  }
  html += "<script>\n";
  append_pieces(html, internal::report_app_script());
  html += "\n</script>\n</body>\n</html>\n";
  return html;
}

Status write_report(const fs::path& html, const json& metrics_json, const PredictionSet& predictions,
                    const ReportOptions& options) {
  auto text = render_report(metrics_json, predictions, options);
  if (!text) return std::unexpected(text.error());
  return write_file_atomically(html, *text);
}

Result<json> file_provenance(const std::vector<std::pair<std::string, fs::path>>& files) {
  json out = json::object();
  for (const auto& [name, path] : files) {
    auto h = sha256_file(path);
    if (!h) return std::unexpected(h.error().with_context("hashing " + name + " file " + path.string()));
    out[name] = {{"file", path.string()}, {"sha256", *h}};
  }
  return out;
}

Result<std::vector<std::string>> image_paths_from_csv(const fs::path& csv, const std::vector<std::string>& ids,
                                                      const std::string& column) {
  auto table = read_csv(csv);
  if (!table) return std::unexpected(table.error());
  int col = -1;
  if (column.empty()) {
    for (const char* name : {"image", "image_path", "path", "file"})
      if ((col = table->column(name)) >= 0) break;
    if (col < 0) return std::vector<std::string>{};
  } else if ((col = table->column(column)) < 0) {
    return fail(ErrorCode::kInvalidArgument, csv.string() + ": no column '" + column + "' for the image paths");
  }
  const int id_col = table->column("id");
  if (id_col < 0) return fail(ErrorCode::kInvalidArgument, csv.string() + ": no 'id' column");
  std::map<std::string, std::string> by_id;
  for (const auto& row : table->rows) by_id[row[static_cast<std::size_t>(id_col)]] = row[static_cast<std::size_t>(col)];
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    const auto it = by_id.find(id);
    if (it == by_id.end() || it->second.empty()) {
      out.emplace_back();
      continue;
    }
    fs::path p = it->second;
    if (p.is_relative()) p = csv.parent_path() / p;
    out.push_back(p.string());
  }
  return out;
}

}  // namespace lucent::metrics
