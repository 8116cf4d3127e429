#include "lucent/core/safetensors.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lucent/core/atomic_file.h"

namespace lucent {
namespace {

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {{at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kHalf, "F16"},
                                 {at::kBFloat16, "BF16"}, {at::kLong, "I64"}, {at::kInt, "I32"},
                                 {at::kShort, "I16"}, {at::kChar, "I8"}, {at::kByte, "U8"}, {at::kBool, "BOOL"}};

const char* dtype_to_name(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  return nullptr;
}

}  // namespace

Status write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const char* dtype = dtype_to_name(c.scalar_type());
    if (!dtype)
      return fail(ErrorCode::kUnsupported, "tensor " + name + " has dtype " + std::string(at::toString(c.scalar_type())) +
                                               " which safetensors output does not support");
    if (header.contains(name)) return fail(ErrorCode::kInvalidArgument, "tensor name " + name + " appears twice");
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(c);
  }
  std::string head = header.dump();
  while ((head.size() + 8) % 8 != 0) head += ' ';  // align the data section to 8 bytes
  std::string out;
  out.reserve(8 + head.size() + offset);
  uint64_t n = head.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += head;
  for (const auto& c : contiguous)
    out.append(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel()) * c.element_size());
  return write_file_atomically(path, out);
}

Result<SafetensorsFile> read_safetensors(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  const std::string& b = *bytes;
  auto bad = [&](const std::string& what) { return fail(ErrorCode::kInvalidData, path.string() + ": " + what); };
  if (b.size() < 8) return bad("too short for a safetensors file (" + std::to_string(b.size()) + " bytes)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
  if (n > b.size() - 8) return bad("header length " + std::to_string(n) + " exceeds the file size");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(b.substr(8, n));
  } catch (const std::exception& e) {
    return bad(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) return bad("header is not a JSON object");
  const uint64_t data_start = 8 + n, data_size = b.size() - data_start;
  SafetensorsFile out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_object())
        for (auto m = it->begin(); m != it->end(); ++m)
          if (m->is_string()) out.metadata[m.key()] = m->get<std::string>();
      continue;
    }
    const auto& v = *it;
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      return bad("entry " + it.key() + " lacks dtype/shape/data_offsets");
    try {
      const std::string dtype = v["dtype"].get<std::string>();
      at::ScalarType type = at::kFloat;
      bool known = false;
      for (const auto& d : kDtypes)
        if (dtype == d.name) {
          type = d.type;
          known = true;
        }
      if (!known) return fail(ErrorCode::kUnsupported, path.string() + ": tensor " + it.key() + " has dtype " + dtype);
      std::vector<int64_t> shape = v["shape"].get<std::vector<int64_t>>();
      uint64_t numel = 1;
      for (int64_t s : shape) {
        if (s < 0 || (s > 0 && numel > (uint64_t{1} << 40) / static_cast<uint64_t>(s)))
          return bad("tensor " + it.key() + " has an impossible shape");
        numel *= static_cast<uint64_t>(s);
      }
      auto offs = v["data_offsets"].get<std::vector<uint64_t>>();
      const uint64_t elem = static_cast<uint64_t>(c10::elementSize(type));
      if (offs.size() != 2 || offs[0] > offs[1] || offs[1] > data_size || offs[1] - offs[0] != numel * elem)
        return bad("tensor " + it.key() + ": data offsets do not match its shape or lie outside the file");
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
      if (numel) std::memcpy(t.data_ptr(), b.data() + data_start + offs[0], numel * elem);
      out.tensors.emplace(it.key(), t);
    } catch (const nlohmann::json::exception& e) {
      return bad("entry " + it.key() + " is malformed: " + e.what());
    }
  }
  return out;
}

}  // namespace lucent
