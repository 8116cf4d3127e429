#include "lucent/core/atomic_file.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace lucent {
namespace {
namespace fs = std::filesystem;

TEST(AtomicFile, WritesContentAndLeavesNoTemporary) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "a.txt", "hello"));
  EXPECT_EQ(*read_file(dir / "a.txt"), "hello");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, FailedWriterLeavesNothingThatLooksComplete) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomically(dir / "keep.txt", "old"));
  Status st = write_atomically(dir / "keep.txt", [](const fs::path& tmp) -> Status {
    EXPECT_TRUE(write_file_atomically(tmp, "partial"));
    return fail(ErrorCode::kInvalidData, "writer gave up half way");
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidData);
  EXPECT_EQ(*read_file(dir / "keep.txt"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(AtomicFile, MissingFolderIsAClearIoError) {
  test::TempDir dir;
  Status st = write_file_atomically(dir / "no" / "such" / "x.nii", "x");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kIoError);
  EXPECT_NE(st.error().message().find("does not exist"), std::string::npos);
}

TEST(AtomicFile, TemporaryKeepsCompoundExtension) {
  EXPECT_EQ(full_extension(temporary_sibling("/x/ct.nii.gz")), ".nii.gz");
  EXPECT_EQ(full_extension("/x/IMG.DCM"), ".dcm");
  EXPECT_EQ(full_extension("/x/noext"), "");
}

}  // namespace
}  // namespace lucent
