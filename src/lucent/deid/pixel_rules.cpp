#include "lucent/deid/pixel_rules.h"

#include <algorithm>
#include <cctype>

#include "lucent/core/atomic_file.h"

namespace lucent::deid {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool holds(const PixelCondition& c, const std::string& v0) {
  const std::string v = trim(v0);
  const std::string& m = c.method;
  if (m == "equals") return v == c.value;
  if (m == "equalsIgnoreCase") return lower(v) == lower(c.value);
  if (m == "contains") return v.find(c.value) != std::string::npos;
  if (m == "containsIgnoreCase") return lower(v).find(lower(c.value)) != std::string::npos;
  if (m == "startsWith") return v.starts_with(c.value);
  if (m == "startsWithIgnoreCase") return lower(v).starts_with(lower(c.value));
  if (m == "isBlank") return v.empty();
  return false;
}

constexpr std::string_view kFields[] = {"Modality",     "Manufacturer",      "ManufacturerModelName",
                                        "Rows",         "Columns",           "SOPClassUID",
                                        "ImageType",    "BurnedInAnnotation", "ConversionType"};
constexpr std::string_view kMethods[] = {"equals",     "equalsIgnoreCase",     "contains", "containsIgnoreCase",
                                         "startsWith", "startsWithIgnoreCase", "isBlank"};

}  // namespace

std::string PixelRule::describe() const {
  std::string s = "line " + std::to_string(line) + ":";
  for (const auto& c : conditions) s += " " + c.field + "." + c.method + "(\"" + c.value + "\")";
  return s;
}

Result<PixelRules> PixelRules::parse(std::string_view text, std::string_view source) {
  PixelRules out;
  // Strip comments, remember line numbers by offset.
  std::string clean;
  std::vector<int> line_of;
  int line = 1;
  bool comment = false;
  for (char c : text) {
    if (c == '\n') {
      comment = false;
      clean += ' ';
      line_of.push_back(line++);
      continue;
    }
    if (c == '#') comment = true;
    if (comment) continue;
    clean += c;
    line_of.push_back(line);
  }
  auto err = [&](std::size_t pos, const std::string& what) {
    const int l = pos < line_of.size() ? line_of[pos] : line;
    return fail(ErrorCode::kInvalidData, std::string(source) + " line " + std::to_string(l) + ": " + what);
  };
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < clean.size() && std::isspace(static_cast<unsigned char>(clean[i]))) ++i;
  };
  while (true) {
    skip_ws();
    if (i >= clean.size()) break;
    if (clean[i] != '{') return err(i, "expected '{' to start a rule condition");
    PixelRule rule;
    rule.line = line_of[i];
    const std::size_t close = clean.find('}', i);
    if (close == std::string::npos) return err(i, "missing '}'");
    std::string cond = clean.substr(i + 1, close - i - 1);
    i = close + 1;
    std::size_t p = 0;
    while (p <= cond.size()) {
      std::size_t star = cond.find('*', p);
      std::string term = trim(cond.substr(p, star == std::string::npos ? std::string::npos : star - p));
      p = star == std::string::npos ? cond.size() + 1 : star + 1;
      if (term.empty()) continue;
      const std::size_t dot = term.find('.'), paren = term.find('(');
      if (dot == std::string::npos || paren == std::string::npos || paren < dot || term.back() != ')')
        return err(close, "bad condition '" + term + "'; expected Field.method(\"value\")");
      PixelCondition c{term.substr(0, dot), term.substr(dot + 1, paren - dot - 1), trim(term.substr(paren + 1, term.size() - paren - 2))};
      if (c.value.size() >= 2 && c.value.front() == '"' && c.value.back() == '"') c.value = c.value.substr(1, c.value.size() - 2);
      if (std::find(std::begin(kFields), std::end(kFields), c.field) == std::end(kFields))
        return err(close, "unknown field '" + c.field + "'");
      if (std::find(std::begin(kMethods), std::end(kMethods), c.method) == std::end(kMethods))
        return err(close, "unknown method '" + c.method + "'");
      rule.conditions.push_back(std::move(c));
    }
    skip_ws();
    while (i < clean.size() && clean[i] == '(') {
      const std::size_t end = clean.find(')', i);
      if (end == std::string::npos) return err(i, "missing ')' after region");
      int v[4];
      if (std::sscanf(clean.substr(i + 1, end - i - 1).c_str(), "%d , %d , %d , %d", &v[0], &v[1], &v[2], &v[3]) != 4 ||
          v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0)
        return err(i, "region must be (x,y,width,height) with x,y >= 0 and width,height > 0");
      rule.regions.push_back({v[0], v[1], v[2], v[3]});
      i = end + 1;
      skip_ws();
    }
    if (rule.regions.empty()) return err(i, "rule has no (x,y,width,height) region");
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

Result<PixelRules> PixelRules::load(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context("reading pixel rules"));
  return parse(*text, path.string());
}

const PixelRule* PixelRules::match(const std::map<std::string, std::string>& fields) const {
  for (const PixelRule& r : rules_) {
    bool all = true;
    for (const auto& c : r.conditions) {
      auto it = fields.find(c.field);
      if (!holds(c, it == fields.end() ? std::string() : it->second)) {
        all = false;
        break;
      }
    }
    if (all) return &r;
  }
  return nullptr;
}

}  // namespace lucent::deid
