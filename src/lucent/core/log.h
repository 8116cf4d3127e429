// Logging: human-readable lines on a terminal, JSON lines otherwise (or when asked).
//
// Thin layer over spdlog so that every binary configures logging the same way. After
// `init_logging`, use `lucent::log_info(...)` etc. Thread-safe after initialisation.
#pragma once

#include <string_view>

namespace lucent {

enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };
enum class LogFormat { kAuto, kText, kJson };

// Logs go to stderr. kAuto = text on a terminal, JSON lines when stderr is not a terminal.
void init_logging(LogLevel level = LogLevel::kInfo, LogFormat format = LogFormat::kText);

void log_debug(std::string_view msg);
void log_info(std::string_view msg);
void log_warn(std::string_view msg);
void log_error(std::string_view msg);

}  // namespace lucent
