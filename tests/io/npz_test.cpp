// NumPy .npz / .npy reading and the MedMNIST layout on top of it. Synthetic archives are built
// here byte by byte (zip headers + zlib raw deflate), so every branch of the reader is reached.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "lucent/io/image_io.h"
#include "lucent/io/npz.h"
#include "support/test_support.h"

namespace lucent::io {
namespace {
namespace fs = std::filesystem;
using test::data_dir;
using test::TempDir;

constexpr const char* kBreast = "medmnist/breastmnist.npz";
constexpr const char* kPneumonia = "medmnist/pneumoniamnist.npz";

// ---------------------------------------------------------------------------------------------
// Builders

template <typename T>
void append_le(std::string& s, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) s.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
}

// A .npy file: magic, version, header dict padded to 64 bytes, raw data.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false,
                int major = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  if (major == 1) append_le<uint16_t>(out, static_cast<uint16_t>(dict.size()));
  else append_le<uint32_t>(out, static_cast<uint32_t>(dict.size()));
  return out + dict + data;
}

template <typename T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string raw_deflate(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct Member {
  std::string name;
  std::string data;
  bool deflate = false;
  uint16_t flags = 0;
  int16_t method_override = -1;
};

// Writes a plain zip (no data descriptors, no zip64) holding `members`.
std::string zip(const std::vector<Member>& members) {
  std::string out, central;
  for (const Member& m : members) {
    const std::string payload = m.deflate ? raw_deflate(m.data) : m.data;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size())));
    const uint16_t method = m.method_override >= 0 ? static_cast<uint16_t>(m.method_override) : (m.deflate ? 8 : 0);
    const uint32_t offset = static_cast<uint32_t>(out.size());
    append_le<uint32_t>(out, 0x04034b50);
    append_le<uint16_t>(out, 20);
    append_le<uint16_t>(out, m.flags);
    append_le<uint16_t>(out, method);
    append_le<uint32_t>(out, 0);  // time, date
    append_le<uint32_t>(out, crc);
    append_le<uint32_t>(out, static_cast<uint32_t>(payload.size()));
    append_le<uint32_t>(out, static_cast<uint32_t>(m.data.size()));
    append_le<uint16_t>(out, static_cast<uint16_t>(m.name.size()));
    append_le<uint16_t>(out, 0);
    out += m.name + payload;

    append_le<uint32_t>(central, 0x02014b50);
    append_le<uint16_t>(central, 20);
    append_le<uint16_t>(central, 20);
    append_le<uint16_t>(central, m.flags);
    append_le<uint16_t>(central, method);
    append_le<uint32_t>(central, 0);
    append_le<uint32_t>(central, crc);
    append_le<uint32_t>(central, static_cast<uint32_t>(payload.size()));
    append_le<uint32_t>(central, static_cast<uint32_t>(m.data.size()));
    append_le<uint16_t>(central, static_cast<uint16_t>(m.name.size()));
    append_le<uint16_t>(central, 0);  // extra
    append_le<uint16_t>(central, 0);  // comment
    append_le<uint16_t>(central, 0);  // disk
    append_le<uint16_t>(central, 0);  // internal attributes
    append_le<uint32_t>(central, 0);  // external attributes
    append_le<uint32_t>(central, offset);
    central += m.name;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  append_le<uint32_t>(out, 0x06054b50);
  append_le<uint16_t>(out, 0);
  append_le<uint16_t>(out, 0);
  append_le<uint16_t>(out, static_cast<uint16_t>(members.size()));
  append_le<uint16_t>(out, static_cast<uint16_t>(members.size()));
  append_le<uint32_t>(out, static_cast<uint32_t>(central.size()));
  append_le<uint32_t>(out, cd_offset);
  append_le<uint16_t>(out, 0);
  return out;
}

fs::path write_file(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const fs::path p = dir / name;
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

void expect_error(const Result<std::map<std::string, at::Tensor>>& r, ErrorCode code, const std::string& fragment) {
  ASSERT_FALSE(r) << "expected an error containing '" << fragment << "'";
  EXPECT_EQ(r.error().code(), code) << r.error().to_string();
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
}

// ---------------------------------------------------------------------------------------------
// Real MedMNIST files (counts computed once with /usr/bin/python3 + numpy)

struct SplitExpectation {
  const char* split;
  int64_t n;
  int64_t label0, label1;
  int64_t pixel_sum;
};

void check_medmnist(const fs::path& path, const std::vector<SplitExpectation>& splits) {
  for (const auto& e : splits) {
    SCOPED_TRACE(e.split);
    auto s = read_medmnist(path, e.split);
    ASSERT_TRUE(s) << s.error().to_string();
    EXPECT_EQ(s->spatial_dims, 2);
    EXPECT_EQ(s->images.scalar_type(), at::kByte);
    EXPECT_EQ(s->images.sizes(), (std::vector<int64_t>{e.n, 1, 28, 28}));
    EXPECT_EQ(s->labels.scalar_type(), at::kLong);
    EXPECT_EQ(s->labels.sizes(), (std::vector<int64_t>{e.n, 1}));
    EXPECT_EQ(s->labels.eq(0).sum().item<int64_t>(), e.label0);
    EXPECT_EQ(s->labels.eq(1).sum().item<int64_t>(), e.label1);
    EXPECT_EQ(s->images.sum(at::kLong).item<int64_t>(), e.pixel_sum);
  }
}

TEST(MedMnist, BreastSplitsMatchNumpy) {
  LUCENT_REQUIRE_DATA(kBreast);
  check_medmnist(data_dir() / kBreast, {{"train", 546, 147, 399, 35757482},
                                        {"val", 78, 21, 57, 5282574},
                                        {"test", 156, 42, 114, 10478773}});
}

TEST(MedMnist, PneumoniaSplitsMatchNumpy) {
  LUCENT_REQUIRE_DATA(kPneumonia);
  check_medmnist(data_dir() / kPneumonia, {{"train", 4708, 1214, 3494, 538305934},
                                           {"val", 524, 135, 389, 59624090},
                                           {"test", 624, 234, 390, 70355184}});
}

TEST(MedMnist, UnknownSplitIsInvalidArgumentListingKeys) {
  LUCENT_REQUIRE_DATA(kBreast);
  auto s = read_medmnist(data_dir() / kBreast, "validation");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("val_images"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("train_labels"), std::string::npos) << s.error().message();
}

TEST(MedMnist, ReadImagePicksOneImageOfASplit) {
  LUCENT_REQUIRE_DATA(kBreast);
  ReadOptions opt;
  opt.npz_split = "val";
  opt.npz_index = 5;
  auto img = read_image(data_dir() / kBreast, opt);
  ASSERT_TRUE(img) << img.error().to_string();
  EXPECT_EQ(img->meta.format, "MedMNIST");
  EXPECT_EQ(img->data.sizes(), (std::vector<int64_t>{1, 28, 28}));
  auto split = read_medmnist(data_dir() / kBreast, "val");
  ASSERT_TRUE(split);
  EXPECT_TRUE(at::equal(img->data, split->images[5]));
  opt.npz_index = 78;
  auto out_of_range = read_image(data_dir() / kBreast, opt);
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().code(), ErrorCode::kInvalidArgument);
}

TEST(MedMnist, FourDArraysAreVolumesUnlessTheLastAxisIsRgb) {
  TempDir tmp;
  std::vector<uint8_t> vol(2 * 4 * 4 * 4), rgb(2 * 5 * 6 * 3);
  for (size_t i = 0; i < vol.size(); ++i) vol[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i % 3 * 100 + i / 3 % 7);
  const fs::path p = write_file(tmp, "m.npz",
                                zip({{"train_images.npy", npy("|u1", "(2, 4, 4, 4)", raw(vol))},
                                     {"train_labels.npy", npy("<i8", "(2,)", raw(std::vector<int64_t>{3, 1}))},
                                     {"test_images.npy", npy("|u1", "(2, 5, 6, 3)", raw(rgb)), true},
                                     {"test_labels.npy", npy("|u1", "(2, 2)", raw(std::vector<uint8_t>{1, 0, 0, 1}))}}));
  auto v = read_medmnist(p, "train");
  ASSERT_TRUE(v) << v.error().to_string();
  EXPECT_EQ(v->spatial_dims, 3);
  EXPECT_EQ(v->images.sizes(), (std::vector<int64_t>{2, 1, 4, 4, 4}));
  EXPECT_EQ(v->images[1][0][3][2][1].item<uint8_t>(), 64 + 48 + 8 + 1);
  EXPECT_EQ(v->labels.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(v->labels[0][0].item<int64_t>(), 3);

  auto c = read_medmnist(p, "test");
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->spatial_dims, 2);
  EXPECT_EQ(c->images.sizes(), (std::vector<int64_t>{2, 3, 5, 6}));
  EXPECT_TRUE(c->images.is_contiguous());
  // Channel k of pixel (n, y, x) is element ((n*5 + y)*6 + x)*3 + k.
  const int64_t n = 1, y = 4, x = 2, k = 2, i = ((n * 5 + y) * 6 + x) * 3 + k;
  EXPECT_EQ(c->images[n][k][y][x].item<uint8_t>(), rgb[i]);
  EXPECT_EQ(c->labels.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(c->labels.scalar_type(), at::kLong);
}

// ---------------------------------------------------------------------------------------------
// Synthetic archives

TEST(NpzRead, StoredAndDeflatedMembersOfEveryDtypeParse) {
  TempDir tmp;
  const std::vector<float> f{1.5f, -2.0f, 3.25f, 4.0f, 5.0f, -6.5f};
  const std::vector<int64_t> l{-1, 0, 1LL << 40, 7};
  const std::vector<uint16_t> u{0, 40000, 65535};
  const std::vector<uint8_t> b{1, 0, 1};
  const std::vector<double> d{0.125, 1e300};
  const fs::path p = write_file(tmp, "a.npz",
                                zip({{"f.npy", npy("<f4", "(2, 3)", raw(f))},
                                     {"l.npy", npy("<i8", "(4,)", raw(l)), true},
                                     {"u.npy", npy("<u2", "(3,)", raw(u)), true},
                                     {"b.npy", npy("|b1", "(3,)", raw(b))},
                                     {"d.npy", npy("<f8", "(1, 2)", raw(d), false, 2), true},
                                     {"s.npy", npy("<i2", "()", raw(std::vector<int16_t>{-7}))}}));
  auto r = read_npz(p);
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 6u);
  const at::Tensor& tf = r->at("f");
  EXPECT_EQ(tf.scalar_type(), at::kFloat);
  EXPECT_EQ(tf.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tf[1][2].item<float>(), -6.5f);
  const at::Tensor& tl = r->at("l");
  EXPECT_EQ(tl.scalar_type(), at::kLong);
  EXPECT_EQ(tl[2].item<int64_t>(), 1LL << 40);
  const at::Tensor& tu = r->at("u");
  EXPECT_EQ(tu.scalar_type(), at::kInt);
  EXPECT_EQ(tu[2].item<int32_t>(), 65535);
  EXPECT_EQ(r->at("b").scalar_type(), at::kBool);
  EXPECT_TRUE(r->at("b")[0].item<bool>());
  EXPECT_EQ(r->at("d").scalar_type(), at::kDouble);
  EXPECT_EQ(r->at("d")[0][1].item<double>(), 1e300);
  EXPECT_EQ(r->at("s").dim(), 0);
  EXPECT_EQ(r->at("s").item<int16_t>(), -7);
}

TEST(NpzRead, FortranOrderArraysComeBackInCOrder) {
  // numpy: a = np.arange(6, dtype='<f4').reshape(2, 3); np.asfortranarray(a) stores 0 3 1 4 2 5.
  const std::vector<float> fortran_bytes{0, 3, 1, 4, 2, 5};
  const std::vector<int64_t> fortran3d{0, 4, 2, 6, 1, 5, 3, 7};  // arange(8).reshape(2,2,2), F order
  TempDir tmp;
  const fs::path p = write_file(tmp, "f.npz",
                                zip({{"a.npy", npy("<f4", "(2, 3)", raw(fortran_bytes), true), true},
                                     {"c.npy", npy("<i8", "(2, 2, 2)", raw(fortran3d), true)}}));
  auto r = read_npz(p);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(at::equal(r->at("a"), at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(r->at("a").is_contiguous());
  EXPECT_TRUE(at::equal(r->at("c"), at::arange(8, at::kLong).reshape({2, 2, 2})));
}

TEST(NpzRead, CorruptCrcIsInvalidData) {
  std::string bytes = zip({{"x.npy", npy("<f4", "(2,)", raw(std::vector<float>{1, 2}))}});
  // The last data byte of the stored member (just before the central directory).
  const size_t cd = bytes.find(std::string("PK\x01\x02", 4));
  bytes[cd - 1] ^= 0x40;
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "crc.npz", bytes)), ErrorCode::kInvalidData, "CRC-32");
}

TEST(NpzRead, CorruptDeflateStreamIsInvalidData) {
  std::vector<float> big(1000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 17);
  std::string bytes = zip({{"x.npy", npy("<f4", "(1000,)", raw(big)), true}});
  const size_t cd = bytes.find(std::string("PK\x01\x02", 4));
  for (size_t i = 60; i < cd - 4; i += 7) bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
  TempDir tmp;
  auto r = read_npz(write_file(tmp, "deflate.npz", bytes));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData) << r.error().to_string();
  EXPECT_NE(r.error().message().find("x.npy"), std::string::npos) << r.error().message();
}

TEST(NpzRead, TruncatedArchiveIsInvalidData) {
  const std::string bytes = zip({{"x.npy", npy("<i4", "(3,)", raw(std::vector<int32_t>{1, 2, 3})), true}});
  TempDir tmp;
  for (size_t keep : {bytes.size() - 1, bytes.size() - 30, bytes.size() / 2, size_t{10}, size_t{0}}) {
    SCOPED_TRACE(keep);
    const fs::path p = write_file(tmp, "t.npz", bytes.substr(0, keep));
    auto r = read_npz(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidData) << r.error().to_string();
    EXPECT_NE(r.error().message().find(p.string()), std::string::npos) << r.error().message();
  }
}

TEST(NpzRead, DeclaredSizeLargerThanTheStreamIsInvalidData) {
  std::string bytes = zip({{"x.npy", npy("<i4", "(3,)", raw(std::vector<int32_t>{1, 2, 3})), true}});
  // Patch the uncompressed size in the central directory (offset 24 of the entry).
  const size_t cd = bytes.find(std::string("PK\x01\x02", 4));
  bytes[cd + 24] = static_cast<char>(bytes[cd + 24] + 5);
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "size.npz", bytes)), ErrorCode::kInvalidData, "x.npy");
}

TEST(NpzRead, BadNpyHeaderIsInvalidData) {
  TempDir tmp;
  std::string broken = npy("<f4", "(2,)", raw(std::vector<float>{1, 2}));
  broken.replace(broken.find("'shape'"), 7, "'shap3'");
  expect_error(read_npz(write_file(tmp, "h1.npz", zip({{"x.npy", broken}}))), ErrorCode::kInvalidData, "header");
  expect_error(read_npz(write_file(tmp, "h2.npz", zip({{"x.npy", std::string("not an npy file at all")}}))),
               ErrorCode::kInvalidData, "x.npy");
  // Header length pointing past the end.
  std::string longhdr = npy("<f4", "(2,)", raw(std::vector<float>{1, 2}));
  longhdr[8] = '\xFF';
  longhdr[9] = '\x7F';
  expect_error(read_npz(write_file(tmp, "h3.npz", zip({{"x.npy", longhdr}}))), ErrorCode::kInvalidData, "header");
}

TEST(NpzRead, DataLengthMustMatchShape) {
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "n.npz", zip({{"x.npy", npy("<f4", "(3,)", raw(std::vector<float>{1, 2}))}}))),
               ErrorCode::kInvalidData, "needs 12 bytes");
  expect_error(read_npz(write_file(tmp, "o.npz",
                                   zip({{"x.npy", npy("<f4", "(4611686018427387904, 4)", std::string())}}))),
               ErrorCode::kInvalidData, "impossible shape");
}

TEST(NpzRead, BigEndianAndObjectArraysAreUnsupported) {
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "be.npz", zip({{"x.npy", npy(">i4", "(1,)", std::string(4, '\0'))}}))),
               ErrorCode::kUnsupported, "big-endian");
  expect_error(read_npz(write_file(tmp, "obj.npz", zip({{"x.npy", npy("|O", "(1,)", std::string(8, '\0'))}}))),
               ErrorCode::kUnsupported, "object");
  // A one-byte type is the same in either byte order.
  auto r = read_npz(write_file(tmp, "be1.npz", zip({{"x.npy", npy(">u1", "(1,)", std::string(1, '\x09'))}})));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->at("x")[0].item<uint8_t>(), 9);
}

TEST(NpzRead, EncryptedAndUnknownMethodsAreUnsupported) {
  const std::string payload = npy("|u1", "(1,)", std::string(1, '\x01'));
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "enc.npz", zip({{"x.npy", payload, false, /*flags*/ 1}}))),
               ErrorCode::kUnsupported, "encrypted");
  expect_error(read_npz(write_file(tmp, "bz2.npz", zip({{"x.npy", payload, false, 0, /*bzip2*/ 12}}))),
               ErrorCode::kUnsupported, "method 12");
}

TEST(NpzRead, NotAZipAndMissingFileHaveTheirCodes) {
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "plain.npz", std::string(100, 'z'))), ErrorCode::kInvalidData,
               "end-of-central-directory");
  auto missing = read_npz(tmp / "absent.npz");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST(NpzRead, Zip64EndRecordIsUnsupported) {
  std::string bytes = zip({{"x.npy", npy("|u1", "(1,)", std::string(1, '\x01'))}});
  const size_t eocd = bytes.rfind(std::string("PK\x05\x06", 4));
  std::string locator;
  append_le<uint32_t>(locator, 0x07064b50);
  append_le<uint32_t>(locator, 0);
  append_le<uint64_t>(locator, 0);
  append_le<uint32_t>(locator, 1);
  bytes.insert(eocd, locator);
  TempDir tmp;
  expect_error(read_npz(write_file(tmp, "z64.npz", bytes)), ErrorCode::kUnsupported, "zip64");
}

}  // namespace
}  // namespace lucent::io
