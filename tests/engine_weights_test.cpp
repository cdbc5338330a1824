// Checkpoint directories: every tensor checked against config.json before anything runs, with
// errors naming the tensor and the expected and found shapes; quantised checkpoints refused
// clearly; shard indexes that lie rejected.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/model_weights.h"

using namespace nagent::engine;
namespace fs = std::filesystem;

namespace {

const fs::path kNano = fs::path(NAGENT_SOURCE_DIR) / "tests/fixtures/nemotronh/nano_fp32";

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("engine_weights_test_" + std::to_string(getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// Copies the nano fixture's config and rewrites its weights through `edit`.
struct Tensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
void make_checkpoint(const fs::path& dir, const std::function<void(std::vector<Tensor>&)>& edit) {
  fs::copy_file(kNano / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  auto src = SafetensorsFile::open((kNano / "model.safetensors").string());
  std::vector<Tensor> ts;
  for (const auto& t : src->header().tensors) {
    const uint8_t* p = src->data(t);
    ts.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(p, p + (t.end - t.begin))});
  }
  edit(ts);
  std::vector<TensorToWrite> out;
  for (const auto& t : ts) out.push_back({t.name, t.dtype, t.shape, t.bytes.data()});
  write_safetensors((dir / "model.safetensors").string(), out);
}

std::string error_of(const fs::path& dir) {
  try {
    load_model_weights(dir.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

Tensor* find(std::vector<Tensor>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return &t;
  FAIL("fixture has no tensor " << name);
  return nullptr;
}

}  // namespace

TEST_CASE("the fixture loads, matrices stay mapped in their stored dtype") {
  const ModelWeights w = load_model_weights(kNano.string());
  CHECK(w.layers.size() == 5);
  CHECK(w.layers[0].mamba.in_proj.rows == w.config.in_proj_out());
  CHECK(w.layers[0].mamba.in_proj.dtype == DType::F32);
  CHECK(w.layers[4].moe.experts.size() == 6);
  CHECK(w.mapped_bytes == fs::file_size(kNano / "model.safetensors"));
  const ModelWeights b = load_model_weights((kNano.parent_path() / "nano_bf16").string());
  CHECK(b.layers[0].mamba.in_proj.dtype == DType::BF16);
  CHECK(b.lm_head.dtype == DType::BF16);
}

TEST_CASE("a wrong shape names the tensor, the expected and the found shape") {
  TempDir d;
  make_checkpoint(d.path, [](std::vector<Tensor>& ts) {
    Tensor* t = find(ts, "backbone.layers.0.mixer.in_proj.weight");
    t->shape = {t->shape[0] / 2, t->shape[1] * 2};
  });
  CHECK_THAT(error_of(d.path),
             Catch::Contains("tensor backbone.layers.0.mixer.in_proj.weight: expected shape [200, 64], found [100, 128]"));
}

TEST_CASE("missing, unexpected and non-float tensors are all reported") {
  TempDir d;
  make_checkpoint(d.path, [](std::vector<Tensor>& ts) {
    ts.erase(std::remove_if(ts.begin(), ts.end(), [](const Tensor& t) { return t.name == "backbone.layers.2.mixer.up_proj.weight"; }),
             ts.end());
    ts.push_back({"backbone.layers.9.mixer.extra", DType::F32, {1}, std::vector<uint8_t>(4)});
    Tensor* t = find(ts, "backbone.norm_f.weight");
    t->dtype = DType::I32;
  });
  const std::string err = error_of(d.path);
  CHECK_THAT(err, Catch::Contains("missing tensor backbone.layers.2.mixer.up_proj.weight (expected shape [96, 64])"));
  CHECK_THAT(err, Catch::Contains("unexpected tensors not described by config.json: backbone.layers.9.mixer.extra"));
  CHECK_THAT(err, Catch::Contains("tensor backbone.norm_f.weight: dtype I32 is not supported"));
}

TEST_CASE("FP8 and NVFP4 ModelOpt checkpoints are recognised and refused clearly") {
  TempDir d;
  make_checkpoint(d.path, [](std::vector<Tensor>& ts) {
    Tensor* t = find(ts, "backbone.layers.0.mixer.out_proj.weight");
    t->dtype = DType::F8_E4M3;
    t->bytes.resize(t->bytes.size() / 4);
  });
  CHECK_THAT(error_of(d.path), Catch::Contains("FP8 (tensor backbone.layers.0.mixer.out_proj.weight is F8_E4M3)"));
  CHECK_THAT(error_of(d.path), Catch::Contains("CPU path runs F32, BF16 and F16 weights only"));
  std::ofstream(d.path / "hf_quant_config.json") << R"({"quantization":{"quant_algo":"NVFP4","group_size":16}})";
  CHECK_THAT(error_of(d.path), Catch::Contains("quantised checkpoint ModelOpt NVFP4"));
}

TEST_CASE("sharded checkpoints: the index must agree with the shards") {
  const fs::path sup = kNano.parent_path() / "super_fp32";
  REQUIRE_NOTHROW(load_model_weights(sup.string()));
  TempDir d;
  for (const auto& e : fs::directory_iterator(sup)) fs::copy_file(e.path(), d.path / e.path().filename());
  {
    std::ifstream in(d.path / "model.safetensors.index.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Point one tensor at the other shard.
    const std::string key = "\"backbone.norm_f.weight\": \"model-0000";
    const auto at = text.find(key);
    REQUIRE(at != std::string::npos);
    char& digit = text[at + key.size()];
    digit = digit == '1' ? '2' : '1';
    std::ofstream(d.path / "model.safetensors.index.json") << text;
  }
  CHECK_THAT(error_of(d.path), Catch::Contains("backbone.norm_f.weight"));
  fs::copy_file(sup / "model.safetensors.index.json", d.path / "model.safetensors.index.json",
                fs::copy_options::overwrite_existing);
  fs::remove(d.path / "model-00002-of-00002.safetensors");
  CHECK_THAT(error_of(d.path), Catch::Contains("cannot open"));
}

TEST_CASE("a directory without weights says what is missing") {
  TempDir d;
  CHECK_THAT(error_of(d.path), Catch::Contains("no config.json"));
  fs::copy_file(kNano / "config.json", d.path / "config.json");
  CHECK_THAT(error_of(d.path), Catch::Contains("no model.safetensors or model.safetensors.index.json"));
}
