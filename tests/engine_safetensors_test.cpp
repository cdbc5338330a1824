// Safetensors: round trip, and a table of corrupt or lying files, each rejected with a message
// naming the problem, without reading out of bounds (the files are real files on disk; the
// mapping is only made after the header checks pass).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/safetensors.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engine_st_test_" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

// A file made of an 8-byte little-endian length (may lie), the header text and `data_bytes` bytes.
std::string write_raw(const fs::path& p, const std::string& header, uint64_t data_bytes,
                      uint64_t claimed_len = UINT64_MAX) {
  std::ofstream out(p, std::ios::binary);
  const uint64_t len = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(len >> (8 * i)));
  out << header << std::string(data_bytes, '\x01');
  return p.string();
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("written tensors read back with names, dtypes, shapes, bytes and metadata") {
  TempDir dir;
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<uint16_t> b = {0x3f80, 0x4000};
  const std::string path = (dir.path / "t.safetensors").string();
  write_safetensors(path, {{"w.a", DType::F32, {2, 3}, a.data()}, {"w.b", DType::BF16, {2}, b.data()}},
                    {{"format", "pt"}});
  auto f = SafetensorsFile::open(path);
  REQUIRE(f->header().tensors.size() == 2);
  CHECK(f->header().metadata.at("format") == "pt");
  const TensorInfo* ta = f->find("w.a");
  REQUIRE(ta);
  CHECK(ta->shape == std::vector<int64_t>{2, 3});
  CHECK(ta->dtype == DType::F32);
  CHECK(std::memcmp(f->data(*ta), a.data(), 24) == 0);
  const TensorInfo* tb = f->find("w.b");
  REQUIRE(tb);
  CHECK(tb->dtype == DType::BF16);
  CHECK(std::memcmp(f->data(*tb), b.data(), 4) == 0);
  CHECK(f->find("w.c") == nullptr);
}

TEST_CASE("corrupt and lying files are rejected with a precise message") {
  TempDir dir;
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  struct Case {
    const char* what;
    std::string header;
    uint64_t data_bytes;
    uint64_t claimed_len;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"empty file", "", 0, 0, "header is not valid JSON"},
      {"header length past the end", ok, 8, 1000, "header length 1000 is past the end of the file"},
      {"absurd header length", ok, 8, 1ull << 40, "is absurd"},
      {"not JSON", "{nope", 0, UINT64_MAX, "header is not valid JSON"},
      {"not an object", "[1,2]", 0, UINT64_MAX, "header is not a JSON object"},
      {"offsets past the data", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, UINT64_MAX,
       "tensor 't': data_offsets end 8 is past the end of the data (4 bytes)"},
      {"shape disagrees with offsets", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, UINT64_MAX,
       "tensor 't': shape [3] of F32 needs 12 bytes but data_offsets span 8"},
      {"overlapping ranges",
       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, UINT64_MAX, "tensors 'a' and 'b' have overlapping data_offsets"},
      {"begin after end", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8, UINT64_MAX,
       "data_offsets begin > end"},
      {"unknown dtype", R"({"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2, UINT64_MAX,
       "unknown dtype 'Q4'"},
      {"negative dimension", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, UINT64_MAX,
       "shape entries must be non-negative integers"},
      {"overflowing shape", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
       8, UINT64_MAX, "absurd shape"},
      {"missing dtype", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8, UINT64_MAX, "tensor 't': missing dtype"},
      {"bad offsets", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, UINT64_MAX,
       "data_offsets must be [begin, end]"},
      {"metadata not strings", R"({"__metadata__":{"n":1}})", 0, UINT64_MAX, "__metadata__ value 'n' is not a string"},
  };
  int i = 0;
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string p = write_raw(dir.path / ("bad" + std::to_string(i++)), c.header, c.data_bytes, c.claimed_len);
    const std::string err = error_of(p);
    CHECK_THAT(err, Catch::Contains(c.message));
    CHECK_THAT(err, Catch::Contains(p));  // the message names the file
  }
}

TEST_CASE("a file cut short inside the data is caught by the offsets check") {
  TempDir dir;
  const std::vector<float> a(64, 1.0f);
  const std::string path = (dir.path / "t.safetensors").string();
  write_safetensors(path, {{"t", DType::F32, {64}, a.data()}});
  fs::resize_file(path, fs::file_size(path) - 10);
  CHECK_THAT(error_of(path), Catch::Contains("past the end of the data"));
  fs::resize_file(path, 5);
  CHECK_THAT(error_of(path), Catch::Contains("too short for a safetensors header"));
}
