#include "lucent/core/config.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "lucent/core/atomic_file.h"

namespace lucent {
namespace {

nlohmann::json scalar_to_json(const YAML::Node& n) {
  const std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  try {
    std::size_t pos = 0;
    const long long i = std::stoll(s, &pos);
    if (pos == s.size()) return i;
  } catch (const std::exception&) {
  }
  try {
    std::size_t pos = 0;
    const double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string p;
  while (std::getline(ss, p, '.')) parts.push_back(p);
  return parts;
}

std::string type_name(const nlohmann::json& j) { return j.type_name(); }

}  // namespace

Result<nlohmann::json> parse_yaml(const std::string& text, const std::string& source) {
  try {
    return to_json(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::kInvalidArgument, source + " is not valid YAML: line " + std::to_string(e.mark.line + 1) +
                                                 ": " + e.msg);
  }
}

Result<nlohmann::json> load_config(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context("config"));
  auto j = parse_yaml(*text, path.string());
  if (!j) return j;
  if (!j->is_object()) return fail(ErrorCode::kInvalidArgument, path.string() + ": expected a mapping of keys at the top level");
  return j;
}

Status apply_override(nlohmann::json& config, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    return fail(ErrorCode::kInvalidArgument, "--set expects key.path=value, got '" + assignment + "'");
  auto value = parse_yaml(assignment.substr(eq + 1), "--set " + assignment);
  if (!value) return std::unexpected(value.error());
  nlohmann::json* node = &config;
  for (const auto& part : split_path(assignment.substr(0, eq))) {
    if (!node->is_object()) *node = nlohmann::json::object();
    node = &(*node)[part];
  }
  *node = *value;
  return ok();
}

const nlohmann::json* ConfigReader::find(const std::string& path) const {
  const nlohmann::json* node = &root_;
  for (const auto& part : split_path(path)) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node->is_null() ? nullptr : node;
}

bool ConfigReader::has(const std::string& path) const { return find(path) != nullptr; }

void ConfigReader::error(const std::string& path, const std::string& what) {
  if (!first_error_) first_error_ = Error(ErrorCode::kInvalidArgument, source_ + ": " + path + " " + what);
}

int64_t ConfigReader::integer(const std::string& path, int64_t fallback, std::optional<int64_t> min,
                              std::optional<int64_t> max) {
  used_.insert(path);
  const auto* n = find(path);
  if (!n) return fallback;
  if (!n->is_number_integer()) {
    error(path, "must be an integer, found " + type_name(*n) + " " + n->dump());
    return fallback;
  }
  const int64_t v = n->get<int64_t>();
  if ((min && v < *min) || (max && v > *max)) {
    error(path, "is " + std::to_string(v) + ", expected " + (min ? ">= " + std::to_string(*min) : "") +
                    (min && max ? " and " : "") + (max ? "<= " + std::to_string(*max) : ""));
    return fallback;
  }
  return v;
}

double ConfigReader::number(const std::string& path, double fallback, std::optional<double> min,
                            std::optional<double> max) {
  used_.insert(path);
  const auto* n = find(path);
  if (!n) return fallback;
  if (!n->is_number()) {
    error(path, "must be a number, found " + type_name(*n) + " " + n->dump());
    return fallback;
  }
  const double v = n->get<double>();
  if ((min && v < *min) || (max && v > *max)) {
    std::ostringstream o;
    o << "is " << v << ", expected " << (min ? ">= " + std::to_string(*min) : "") << (min && max ? " and " : "")
      << (max ? "<= " + std::to_string(*max) : "");
    error(path, o.str());
    return fallback;
  }
  return v;
}

bool ConfigReader::boolean(const std::string& path, bool fallback) {
  used_.insert(path);
  const auto* n = find(path);
  if (!n) return fallback;
  if (!n->is_boolean()) {
    error(path, "must be true or false, found " + n->dump());
    return fallback;
  }
  return n->get<bool>();
}

std::string ConfigReader::string(const std::string& path, const std::string& fallback,
                                 const std::vector<std::string>& allowed) {
  used_.insert(path);
  const auto* n = find(path);
  if (!n) return fallback;
  if (!n->is_string()) {
    error(path, "must be a string, found " + type_name(*n) + " " + n->dump());
    return fallback;
  }
  std::string v = n->get<std::string>();
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    error(path, "is '" + v + "', expected one of: " + list);
    return fallback;
  }
  return v;
}

std::vector<double> ConfigReader::numbers(const std::string& path, const std::vector<double>& fallback) {
  used_.insert(path);
  const auto* n = find(path);
  if (!n) return fallback;
  if (!n->is_array()) {
    error(path, "must be a list of numbers, found " + n->dump());
    return fallback;
  }
  std::vector<double> out;
  for (const auto& e : *n) {
    if (!e.is_number()) {
      error(path, "must hold only numbers, found " + e.dump());
      return fallback;
    }
    out.push_back(e.get<double>());
  }
  return out;
}

nlohmann::json ConfigReader::raw(const std::string& path, const nlohmann::json& fallback) {
  used_.insert(path);
  const auto* n = find(path);
  return n ? *n : fallback;
}

void ConfigReader::collect_unknown(const nlohmann::json& node, const std::string& prefix,
                                   std::vector<std::string>& out) const {
  if (!prefix.empty() && used_.count(prefix)) return;
  if (!node.is_object()) {
    if (!prefix.empty()) out.push_back(prefix);
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it)
    collect_unknown(*it, prefix.empty() ? it.key() : prefix + "." + it.key(), out);
}

Status ConfigReader::finish() const {
  if (first_error_) return std::unexpected(*first_error_);
  std::vector<std::string> unknown;
  collect_unknown(root_, "", unknown);
  if (!unknown.empty()) {
    std::string known;
    for (const auto& u : used_) known += (known.empty() ? "" : ", ") + u;
    return fail(ErrorCode::kInvalidArgument, source_ + ": unknown key '" + unknown.front() +
                                                 "' (typo?); known keys: " + known);
  }
  return ok();
}

}  // namespace lucent
