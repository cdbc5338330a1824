// Safetensors files, memory-mapped: the header is parsed and checked completely before any
// tensor is touched, so a truncated or lying file is rejected instead of read out of bounds.
// Tensor data stays on disk until used (a 60 GB checkpoint loads without reading it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nagent::engine {

struct SafetensorsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // as spelled in safetensors headers ("BF16", "F8_E4M3", ...)

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
  int64_t numel() const;
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[200, 64]"

// Parses and validates a header (the JSON text after the 8-byte length) for a data section of
// data_size bytes. Throws SafetensorsError naming the offending tensor and field.
struct Header {
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};
Header parse_header(std::string_view json_text, uint64_t data_size);

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const Header& header() const { return header_; }
  const TensorInfo* find(std::string_view name) const;
  // Pointer to the tensor's bytes inside the mapping (valid while this object lives).
  const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  Header header_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;
};

// Writes a safetensors file (tests, benchmarks, the logits command). Tensors are written in
// the given order; `bytes` must hold numel * dtype_size bytes.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace nagent::engine
