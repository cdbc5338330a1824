// `nagent tokenize`: text on stdin to token ids (one JSON array) on stdout, or with
// --decode a JSON array of ids on stdin back to text. For checking prompts and for
// comparing against other tokenizer implementations.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/command.h"
#include "engine/tokenizer.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage =
    "usage: nagent tokenize (--tokenizer FILE | --model DIR) [--decode] [--add-special-tokens]\n"
    "                       [--skip-special-tokens]\n"
    "  Encodes stdin (UTF-8 text; invalid bytes count as U+FFFD) and prints the ids as one JSON\n"
    "  array. With --decode, reads a JSON array of ids and prints the text.\n"
    "  --tokenizer FILE        a Hugging Face tokenizer.json\n"
    "  --model DIR             a model directory (tokenizer.json + tokenizer_config.json)\n"
    "  --add-special-tokens    apply the post-processor (e.g. prepend BOS) when encoding\n"
    "  --skip-special-tokens   leave special tokens out when decoding\n";

int tokenize_main(const std::vector<std::string>& args) {
  std::string tokenizer_file, model_dir;
  bool decode = false, add_special = false, skip_special = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (a == "--tokenizer") {
      if (!value(tokenizer_file)) return fail(kExitUsage, "--tokenizer needs a file");
    } else if (a == "--model") {
      if (!value(model_dir)) return fail(kExitUsage, "--model needs a directory");
    } else if (a == "--decode") {
      decode = true;
    } else if (a == "--add-special-tokens") {
      add_special = true;
    } else if (a == "--skip-special-tokens") {
      skip_special = true;
    } else {
      return fail(kExitUsage, "tokenize: unknown argument '" + a + "'\n" + kUsage);
    }
  }
  if (tokenizer_file.empty() == model_dir.empty())
    return fail(kExitUsage, std::string("tokenize: give exactly one of --tokenizer FILE or --model DIR\n") + kUsage);

  Tokenizer tokenizer = tokenizer_file.empty() ? Tokenizer::from_model_dir(model_dir) : Tokenizer::from_file(tokenizer_file);
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!decode) {
    std::vector<int32_t> ids = tokenizer.encode(input, add_special);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      out += std::to_string(ids[i]);
    }
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    return kExitOk;
  }
  nlohmann::json parsed = nlohmann::json::parse(input, nullptr, false);
  if (!parsed.is_array()) return fail(kExitUsage, "tokenize --decode: stdin must be a JSON array of token ids");
  std::vector<int32_t> ids;
  for (const auto& v : parsed) {
    if (!v.is_number_integer()) return fail(kExitUsage, "tokenize --decode: '" + v.dump() + "' is not a token id");
    ids.push_back(v.get<int32_t>());
  }
  std::string text = tokenizer.decode(ids, skip_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

const bool registered = register_command({"tokenize", "text to token ids and back with a tokenizer.json", &tokenize_main});

}  // namespace
}  // namespace nagent::cli
