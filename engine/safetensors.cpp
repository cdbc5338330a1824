#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

namespace nagent::engine {

namespace {

// Headers of real checkpoints are a few hundred KB (Super: ~41k tensors ~ 5 MB); anything near
// this limit is a corrupt length field, not a header.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeName {
  const char* name;
  DType type;
  size_t size;
};
constexpr DTypeName kDTypes[] = {
    {"F64", DType::F64, 8},  {"F32", DType::F32, 4},         {"F16", DType::F16, 2},
    {"BF16", DType::BF16, 2}, {"I64", DType::I64, 8},        {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},  {"I8", DType::I8, 1},           {"U8", DType::U8, 1},
    {"BOOL", DType::BOOL, 1}, {"F8_E4M3", DType::F8_E4M3, 1}, {"F8_E5M2", DType::F8_E5M2, 1},
};

[[noreturn]] void fail(const std::string& what) { throw SafetensorsError(what); }

}  // namespace

size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Header parse_header(std::string_view text, uint64_t data_size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail("header is not a JSON object");
  Header h;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value '" + m.key() + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!v.is_object()) fail(where + "entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail(where + "missing dtype");
    if (!v.contains("shape") || !v["shape"].is_array()) fail(where + "missing shape");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      fail(where + "data_offsets must be [begin, end]");
    TensorInfo t;
    t.name = name;
    const std::string dt = v["dtype"].get<std::string>();
    size_t esize = 0;
    for (const auto& d : kDTypes)
      if (dt == d.name) t.dtype = d.type, esize = d.size;
    if (!esize) fail(where + "unknown dtype '" + dt + "'");
    // Element count with overflow checks: the product must fit the data section anyway.
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail(where + "shape entries must be non-negative integers");
      uint64_t n = d.get<uint64_t>();
      if (n > (1ull << 48) || (n && numel > (1ull << 62) / n)) fail(where + "absurd shape " + d.dump());
      numel *= n;
      t.shape.push_back(static_cast<int64_t>(n));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) fail(where + "data_offsets must be non-negative integers");
    t.begin = v["data_offsets"][0].get<uint64_t>();
    t.end = v["data_offsets"][1].get<uint64_t>();
    if (t.begin > t.end) fail(where + "data_offsets begin > end");
    if (t.end > data_size)
      fail(where + "data_offsets end " + std::to_string(t.end) + " is past the end of the data (" +
           std::to_string(data_size) + " bytes)");
    if (numel > (1ull << 62) / esize || numel * esize != t.end - t.begin)
      fail(where + "shape " + shape_string(t.shape) + " of " + dt + " needs " +
           std::to_string(numel * esize) + " bytes but data_offsets span " + std::to_string(t.end - t.begin));
    h.tensors.push_back(std::move(t));
  }
  // Ranges must not overlap (two tensors sharing bytes is a lie, or an aliasing trick we refuse).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : h.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* a = by_offset[i - 1];
    const auto* b = by_offset[i];
    if (b->begin < a->end && b->end != b->begin && a->end != a->begin)
      fail("tensors '" + a->name + "' and '" + b->name + "' have overlapping data_offsets");
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return h;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail(path + ": cannot stat: " + std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  try {
    if (size < 8) fail("file is " + std::to_string(size) + " bytes, too short for a safetensors header");
    uint8_t len_bytes[8];
    if (pread(fd, len_bytes, 8, 0) != 8) fail(std::string("cannot read header length: ") + std::strerror(errno));
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
    if (header_len > kMaxHeaderBytes) fail("header length " + std::to_string(header_len) + " is absurd");
    if (header_len > size - 8)
      fail("header length " + std::to_string(header_len) + " is past the end of the file (" +
           std::to_string(size) + " bytes): truncated file?");
    std::string text(header_len, '\0');
    if (header_len && pread(fd, text.data(), header_len, 8) != static_cast<ssize_t>(header_len))
      fail(std::string("cannot read header: ") + std::strerror(errno));
    f->header_ = parse_header(text, size - 8 - header_len);
    if (size > 0) {
      void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(errno));
      f->map_ = m;
      f->map_size_ = size;
      f->data_ = static_cast<const uint8_t*>(m) + 8 + header_len;
    }
  } catch (const SafetensorsError& e) {
    ::close(fd);
    throw SafetensorsError(path + ": " + e.what());
  }
  ::close(fd);
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(header_.tensors.begin(), header_.tensors.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  return it != header_.tensors.end() && it->name == name ? &*it : nullptr;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = h.dump();
  while (text.size() % 8) text += ' ';  // the format pads the header to 8-byte alignment
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(path + ": cannot create");
  uint64_t len = text.size();
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(len_bytes), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& t : tensors) {
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    out.write(static_cast<const char*>(t.bytes), static_cast<std::streamsize>(n));
  }
  if (!out) fail(path + ": write failed");
}

}  // namespace nagent::engine
