// MetricValue: a metric's value, or the reason it has none.
//
// Many metrics are undefined on some inputs (AUC with one class present, PPV with no predicted
// positives, kappa when chance agreement is perfect). They are returned as a MetricValue without
// a value and with a human-readable reason, never as NaN, so that JSON output can carry
// `"value": null, "reason": "..."` and the terminal can print the reason.
//
//   MetricValue v = ratio(tp, tp + fn, "no positive cases");
//   if (v) use(*v.value); else log(v.reason);
//
// Values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace lucent::metrics {

struct MetricValue {
  std::optional<double> value;
  std::string reason;  // set when value is empty

  [[nodiscard]] static MetricValue of(double v) { return {v, {}}; }
  [[nodiscard]] static MetricValue undefined(std::string why) { return {std::nullopt, std::move(why)}; }
  [[nodiscard]] explicit operator bool() const { return value.has_value(); }
};

// num / den, or undefined with `reason` when den == 0.
[[nodiscard]] inline MetricValue ratio(double num, double den, const std::string& reason) {
  if (den == 0) return MetricValue::undefined(reason);
  return MetricValue::of(num / den);
}

}  // namespace lucent::metrics
