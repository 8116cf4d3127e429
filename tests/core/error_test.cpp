#include "lucent/core/error.h"

#include <gtest/gtest.h>

#include <set>

namespace lucent {
namespace {

TEST(ErrorTable, EveryCodeHasDistinctNameAndExitCode) {
  auto [rows, n] = error_code_table();
  std::set<std::string_view> names;
  std::set<int> exits;
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(static_cast<std::size_t>(rows[i].code), i);
    EXPECT_TRUE(names.insert(rows[i].name).second) << rows[i].name;
    EXPECT_TRUE(exits.insert(rows[i].cli_exit_code).second) << rows[i].name;
    EXPECT_FALSE(rows[i].description.empty());
  }
  EXPECT_EQ(error_code_info(ErrorCode::kOk).cli_exit_code, 0);
}

TEST(ErrorTable, MapsCodesToTransportStatuses) {
  Error e(ErrorCode::kNotFound, "no such case");
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(e.cli_exit_code(), 3);
  EXPECT_EQ(Error(ErrorCode::kUnsupported, "").dicom_status(), 0x0122);
}

TEST(Error, ContextIsPrependedAndCauseKept) {
  Result<int> r = fail(ErrorCode::kInvalidData, "tag (0028,0010) missing");
  auto r2 = with_context(r, "reading a.dcm");
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), ErrorCode::kInvalidData);
  EXPECT_EQ(r2.error().message(), "reading a.dcm: tag (0028,0010) missing");
  EXPECT_EQ(r2.error().to_string(), "invalid_data: reading a.dcm: tag (0028,0010) missing");
}

}  // namespace
}  // namespace lucent
