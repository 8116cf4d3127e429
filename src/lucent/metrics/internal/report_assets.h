// What the report writer inlines into report.html: the minified Vega, Vega-Lite and vega-embed
// builds (npm packages pinned in web/report/package.json), the report's own script and
// stylesheet (web/report/report.js, report.css) and the licences. The definitions are generated
// at build time by cmake/embed_report_assets.cmake; each text is a sequence of pieces to be
// written one after the other (no single huge literal). Static data; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace lucent::metrics::internal {

struct ScriptAsset {
  std::string_view package;   // npm package name
  std::string_view version;   // exact installed version (checked against package.json at build time)
  std::string_view license;   // SPDX identifier from the package
  std::span<const std::string_view> script;        // the minified UMD build, in pieces
  std::span<const std::string_view> license_text;  // the package's LICENSE file, in pieces
};

// In load order: vega, vega-lite, vega-embed.
[[nodiscard]] std::span<const ScriptAsset> report_scripts();
[[nodiscard]] std::span<const std::string_view> report_app_script();
[[nodiscard]] std::span<const std::string_view> report_stylesheet();
// "name version licence" lines: every production package in web/report/package-lock.json.
[[nodiscard]] std::span<const std::string_view> report_bundled_packages();

}  // namespace lucent::metrics::internal
