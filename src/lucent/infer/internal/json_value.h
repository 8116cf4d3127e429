// A typed value of a JSON object's key for the bundle and recipe parsers of infer (private).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "lucent/core/error.h"

namespace lucent::infer::internal {

// A typed value of `obj[key]`, `fallback` when absent; kInvalidArgument naming the key otherwise.
template <typename T>
Result<T> value_of(const nlohmann::json& obj, const std::string& key, const std::string& where, T fallback) {
  if (!obj.contains(key) || obj.at(key).is_null()) return fallback;
  try {
    return obj.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    return fail(ErrorCode::kInvalidArgument, where + "." + key + " has the wrong type (" +
                                                 std::string(obj.at(key).type_name()) + ": " + obj.at(key).dump() + ")");
  }
}

}  // namespace lucent::infer::internal
