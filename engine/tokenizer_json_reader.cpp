#include "engine/tokenizer_json_reader.h"

#include <stdexcept>

namespace nagent::tok {

using json = nlohmann::json;

namespace {

std::pair<std::string, std::string> split_merge(const std::string& line, size_t rank) {
  size_t space = line.find(' ');
  if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
    throw std::runtime_error("merge " + std::to_string(rank) + " '" + line + "' is not two tokens");
  return {line.substr(0, space), line.substr(space + 1)};
}

// SAX events build a tree, except inside model.vocab and model.merges.
class Reader : public json::json_sax_t {
 public:
  explicit Reader(TokenizerFile& out) : out_(out) {}

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(v); }
  bool number_integer(number_integer_t v) override {
    if (in_vocab()) return vocab_id(v);
    return value(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (in_vocab()) return vocab_id(static_cast<int64_t>(v));
    return value(v);
  }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t& v) override {
    if (in_merges()) {
      if (depth_ == 3) out_.merges.push_back(split_merge(v, out_.merges.size()));
      else pair_.push_back(std::move(v));
      return true;
    }
    return value(std::move(v));
  }
  bool binary(binary_t&) override { throw std::runtime_error("unexpected binary value"); }
  bool key(string_t& k) override {
    if (depth_ == 1) top_key_ = k;
    if (depth_ == 2) model_key_ = k;
    if (in_vocab()) {
      vocab_key_ = std::move(k);
      return true;
    }
    key_ = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override {
    ++depth_;
    if (in_vocab() || in_merges()) {
      if (depth_ > 3) throw std::runtime_error("model.vocab / model.merges entries must be plain values");
      return true;
    }
    return open(json::object());
  }
  bool end_object() override {
    const bool streamed = in_vocab();
    --depth_;
    if (!streamed) stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    if (in_merges()) {
      if (depth_ == 4) pair_.clear();
      else if (depth_ > 4) throw std::runtime_error("model.merges entries must be \"a b\" or [\"a\", \"b\"]");
      return true;
    }
    if (in_vocab()) throw std::runtime_error("model.vocab must map tokens to ids");
    return open(json::array());
  }
  bool end_array() override {
    if (in_merges()) {
      if (depth_ == 4) {
        if (pair_.size() != 2) throw std::runtime_error("merge " + std::to_string(out_.merges.size()) + " is not a pair");
        out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      }
      --depth_;
      return true;
    }
    --depth_;
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    throw std::runtime_error(std::string("not valid JSON: ") + e.what());
  }

 private:
  // model.vocab / model.merges: depth 3 is the container itself, deeper are entries.
  bool in_vocab() const { return depth_ >= 3 && top_key_ == "model" && model_key_ == "vocab"; }
  bool in_merges() const { return depth_ >= 3 && top_key_ == "model" && model_key_ == "merges"; }

  bool vocab_id(int64_t id) {
    if (depth_ != 3 || id < 0 || id > INT32_MAX) throw std::runtime_error("model.vocab: bad id for '" + vocab_key_ + "'");
    out_.vocab.emplace_back(std::move(vocab_key_), static_cast<int32_t>(id));
    return true;
  }
  bool value(json v) {
    if (in_vocab() || in_merges())
      throw std::runtime_error(std::string(in_vocab() ? "model.vocab" : "model.merges") + ": unexpected value " + v.dump());
    if (stack_.empty()) {
      out_.config = std::move(v);
      return true;
    }
    json& parent = *stack_.back();
    if (parent.is_object()) parent[key_] = std::move(v);
    else parent.push_back(std::move(v));
    return true;
  }
  bool open(json container) {
    if (stack_.empty()) {
      out_.config = std::move(container);
      stack_.push_back(&out_.config);
      return true;
    }
    json& parent = *stack_.back();
    json* child;
    if (parent.is_object()) {
      parent[key_] = std::move(container);
      child = &parent[key_];
    } else {
      parent.push_back(std::move(container));
      child = &parent.back();
    }
    stack_.push_back(child);
    return true;
  }

  TokenizerFile& out_;
  std::vector<json*> stack_;
  std::string key_, vocab_key_, top_key_, model_key_;
  std::vector<std::string> pair_;
  int depth_ = 0;
};

}  // namespace

TokenizerFile read_tokenizer_json(std::string_view text) {
  TokenizerFile out;
  Reader reader(out);
  json::sax_parse(text.begin(), text.end(), &reader);
  return out;
}

TokenizerFile split_tokenizer_json(const json& j) {
  TokenizerFile out;
  out.config = j;
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) return out;
  json& model = out.config["model"];
  if (model.contains("vocab")) {
    if (!model["vocab"].is_object()) throw std::runtime_error("model.vocab must map tokens to ids");
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
        throw std::runtime_error("model.vocab: bad id for '" + it.key() + "'");
      out.vocab.emplace_back(it.key(), it.value().get<int32_t>());
    }
    model.erase("vocab");
  }
  if (model.contains("merges")) {
    for (const auto& m : model["merges"]) {
      if (m.is_string()) out.merges.push_back(split_merge(m.get<std::string>(), out.merges.size()));
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        out.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      else throw std::runtime_error("merge " + std::to_string(out.merges.size()) + " must be \"a b\" or [a, b]");
    }
    model.erase("merges");
  }
  return out;
}

}  // namespace nagent::tok
