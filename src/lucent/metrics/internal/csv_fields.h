// Parsing of single CSV cells, shared by the prediction/truth readers (evaluation.cpp) and the
// reader-ratings reader (agreement.cpp). Cells are trimmed of spaces and tabs; a number must
// fill the whole cell. Internal to lucent::metrics.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

#include "lucent/core/csv.h"

namespace lucent::metrics::internal {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A finite number (no NaN/inf).
inline std::optional<double> parse_double(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A whole number; a leading '+' is accepted.
inline std::optional<int> parse_int(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// "FILE line N (id 'X')" for messages.
inline std::string where(const std::string& source, const CsvTable& t, std::size_t row, const std::string& id) {
  return source + " line " + std::to_string(t.lines[row]) + " (id '" + id + "')";
}

}  // namespace lucent::metrics::internal
