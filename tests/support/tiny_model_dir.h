// Test helper: a model directory for the embedded engine = the nano NemotronH fixture
// (tests/fixtures/nemotronh/nano_fp32, 5 layers, 256-token vocabulary) + a small byte-level
// tokenizer written for that vocabulary, in a temporary directory removed at the end.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

// Model directory = the nano fixture + a tokenizer: ids 0..95 are '\n' and printable ASCII
// (byte-level symbols), 96..100 the chat special tokens, the rest two-letter pieces so that
// every id decodes.
struct TinyModelDir {
  std::filesystem::path path;
  explicit TinyModelDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / (name + "_" + std::to_string(getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    const std::filesystem::path nano = std::filesystem::path(NAGENT_SOURCE_DIR) / "tests/fixtures/nemotronh/nano_fp32";
    for (const char* f : {"config.json", "model.safetensors"}) std::filesystem::copy_file(nano / f, path / f);
    nlohmann::json vocab = nlohmann::json::object();
    int id = 0;
    vocab["\u010a"] = id++;  // '\n' in the byte-level alphabet
    vocab["\u0120"] = id++;  // ' '
    for (char c = 33; c < 127; ++c) vocab[std::string(1, c)] = id++;
    nlohmann::json added = nlohmann::json::array();
    for (const char* t : {"<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>"}) {
      added.push_back({{"id", id}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", true}});
      vocab[t] = id++;
    }
    for (char a = 'a'; id < 256; ++a)
      for (char b = 'a'; b <= 'z' && id < 256; ++b) vocab[std::string{a, b}] = id++;
    const nlohmann::json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    const nlohmann::json tok = {{"version", "1.0"},
                                {"added_tokens", added},
                                {"normalizer", nullptr},
                                {"pre_tokenizer", bl},
                                {"post_processor", nullptr},
                                {"decoder", bl},
                                {"model",
                                 {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                                  {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                                  {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                                  {"merges", nlohmann::json::array()}}}};
    std::ofstream(path / "tokenizer.json") << tok.dump();
    std::ofstream(path / "tokenizer_config.json") << R"({"eos_token": "<|im_end|>"})";
  }
  ~TinyModelDir() { std::filesystem::remove_all(path); }
};
