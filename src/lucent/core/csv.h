// CSV tables (RFC 4180): manifests, prediction and truth files, split files.
//
//   auto t = lucent::read_csv("manifest.csv");            // header + rows of strings
//   int col = t->column("label");                          // -1 when absent
//   for (const auto& row : t->rows) use(row[col]);
//   std::string line = lucent::csv_row({"id", "a,b"});     // "id,\"a,b\"\n"
//
// Parsing accepts quoted fields (commas, quotes doubled, line breaks inside quotes), CRLF or LF
// line ends, a UTF-8 byte-order mark and a missing final newline; blank lines are skipped.
// Errors (kInvalidData, naming the source and the line): an unterminated quote, text after a
// closing quote, a row whose field count differs from the header's, an empty or duplicated
// column name, a file with no header. Free functions; thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lucent/core/error.h"

namespace lucent {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each has header.size() fields
  std::vector<int64_t> lines;                  // the 1-based line where each row starts

  // Index of a column by exact name, or -1.
  [[nodiscard]] int column(std::string_view name) const;
};

[[nodiscard]] Result<CsvTable> parse_csv(std::string_view text, const std::string& source);
[[nodiscard]] Result<CsvTable> read_csv(const std::filesystem::path& path);

// One field, quoted when it holds a comma, quote, CR/LF or leading/trailing space.
[[nodiscard]] std::string csv_field(std::string_view value);
// Fields joined by commas, ending with "\n".
[[nodiscard]] std::string csv_row(const std::vector<std::string>& fields);

}  // namespace lucent
