#include "lucent/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <string>

namespace lucent {
namespace {

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

bool g_json = false;

void emit(spdlog::level::level_enum lvl, std::string_view msg) {
  if (g_json) {
    spdlog::log(lvl, "{}", json_escape(msg));
  } else {
    spdlog::log(lvl, "{}", msg);
  }
}

}  // namespace

void init_logging(LogLevel level, LogFormat format) {
  g_json = format == LogFormat::kJson || (format == LogFormat::kAuto && !isatty(STDERR_FILENO));
  auto logger = spdlog::stderr_color_mt("lucent");
  if (g_json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","msg":"%v"})");
  } else {
    logger->set_pattern("%^%l%$: %v");
  }
  switch (level) {
    case LogLevel::kDebug: logger->set_level(spdlog::level::debug); break;
    case LogLevel::kInfo: logger->set_level(spdlog::level::info); break;
    case LogLevel::kWarn: logger->set_level(spdlog::level::warn); break;
    case LogLevel::kError: logger->set_level(spdlog::level::err); break;
    case LogLevel::kOff: logger->set_level(spdlog::level::off); break;
  }
  spdlog::set_default_logger(logger);
}

void log_debug(std::string_view msg) { emit(spdlog::level::debug, msg); }
void log_info(std::string_view msg) { emit(spdlog::level::info, msg); }
void log_warn(std::string_view msg) { emit(spdlog::level::warn, msg); }
void log_error(std::string_view msg) { emit(spdlog::level::err, msg); }

}  // namespace lucent
