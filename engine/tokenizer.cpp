#include "engine/tokenizer.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/tokenizer_added.h"
#include "engine/tokenizer_bpe.h"
#include "engine/tokenizer_decoder.h"
#include "engine/tokenizer_json_reader.h"
#include "engine/tokenizer_normalizer.h"
#include "engine/tokenizer_pretokenizer.h"
#include "engine/unicode.h"

namespace nagent {

using nlohmann::json;

struct Tokenizer::Impl {
  tok::AddedVocabulary added;
  tok::Normalizer normalizer;
  tok::PreTokenizer pre_tokenizer;
  tok::BpeModel model;
  tok::Decoder decoder;
  // Post-processor for one sequence: ids around it when add_special_tokens is set.
  std::vector<int32_t> prefix_ids, suffix_ids;
  std::optional<int32_t> bos, eos;
  std::string chat_template;
  size_t vocab_size = 0;

  void add_post_processor(const json& j);
  std::string token_of(int32_t id) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special, bool raw) const;
};

namespace {
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

json read_json(const std::string& path) {
  try {
    return json::parse(read_text(path));
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  }
}

// tokenizer_config.json writes special tokens as "text" or {"content": "text", ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}
}  // namespace

void Tokenizer::Impl::add_post_processor(const json& j) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  if (type == "ByteLevel") return;  // only trims offsets, which we do not report
  if (type == "Sequence") {
    for (const auto& p : j.at("processors")) add_post_processor(p);
    return;
  }
  if (type == "TemplateProcessing") {
    const json& specials = j.value("special_tokens", json::object());
    bool after = false;
    for (const auto& item : j.at("single")) {
      if (item.contains("Sequence")) {
        after = true;
      } else if (item.contains("SpecialToken")) {
        std::string name = item["SpecialToken"].at("id").get<std::string>();
        if (!specials.contains(name))
          throw std::runtime_error("TemplateProcessing names special token '" + name + "' it does not define");
        for (const auto& id : specials[name].at("ids")) (after ? suffix_ids : prefix_ids).push_back(id.get<int32_t>());
      }
    }
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    prefix_ids.push_back(j.at("cls").at(1).get<int32_t>());
    suffix_ids.insert(suffix_ids.begin(), j.at("sep").at(1).get<int32_t>());
    return;
  }
  throw std::runtime_error("unsupported post_processor type '" + type + "'");
}

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(const json& tj, const json& config) {
  return from_parts(tok::split_tokenizer_json(tj), config);
}

Tokenizer Tokenizer::from_parts(tok::TokenizerFile file, const json& config) {
  const json& tj = file.config;
  if (!tj.is_object() || !tj.contains("model")) throw std::runtime_error("not a tokenizer.json: no \"model\"");
  Tokenizer t;
  Impl& m = *t.impl_;
  m.added = tok::AddedVocabulary::from_json(tj.value("added_tokens", json::array()));
  m.normalizer = tok::Normalizer::from_json(tj.value("normalizer", json()));
  m.pre_tokenizer = tok::PreTokenizer::from_json(tj.value("pre_tokenizer", json()));
  m.model = tok::BpeModel::from_parts(tj["model"], file.vocab, file.merges, m.pre_tokenizer.byte_level());
  m.decoder = tok::Decoder::from_json(tj.value("decoder", json()));
  m.add_post_processor(tj.value("post_processor", json()));
  m.vocab_size = m.model.id_to_token().size();
  for (const auto& a : m.added.tokens()) m.vocab_size = std::max(m.vocab_size, static_cast<size_t>(a.id) + 1);

  if (auto bos = config_token(config, "bos_token")) m.bos = t.token_to_id(*bos);
  if (auto eos = config_token(config, "eos_token")) m.eos = t.token_to_id(*eos);
  if (config.is_object() && config.contains("chat_template")) {
    const json& ct = config["chat_template"];
    if (ct.is_string()) {
      m.chat_template = ct.get<std::string>();
    } else if (ct.is_array()) {  // [{name, template}, ...]: the "default" one
      for (const auto& e : ct)
        if (e.value("name", "") == "default") m.chat_template = e.value("template", "");
    }
  }
  return t;
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  try {
    return from_parts(tok::read_tokenizer_json(read_text(path)), nullptr);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  const std::string config_path = dir + "/tokenizer_config.json";
  json config;
  if (std::ifstream(config_path).good()) config = read_json(config_path);
  try {
    return from_parts(tok::read_tokenizer_json(read_text(path)), config);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool add_special_tokens) const {
  const Impl& m = *impl_;
  std::string repaired;
  std::string_view text = input;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special_tokens) ids.insert(ids.end(), m.prefix_ids.begin(), m.prefix_ids.end());

  std::vector<tok::Segment> raw_segments, segments;
  m.added.split(text, false, raw_segments);
  std::vector<tok::Piece> pieces;
  tok::PieceArena arena;
  for (const tok::Segment& raw : raw_segments) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    std::string_view normalized = raw.text;
    if (!m.normalizer.empty()) normalized = arena.emplace_back(m.normalizer.normalize(raw.text));
    segments.clear();
    m.added.split(normalized, true, segments);
    for (const tok::Segment& seg : segments) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      pieces.assign(1, tok::Piece{seg.text, raw.offset == 0 && seg.offset == 0});
      m.pre_tokenizer.pre_tokenize(pieces, arena);
      for (const tok::Piece& p : pieces) m.model.tokenize(p.text, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), m.suffix_ids.begin(), m.suffix_ids.end());
  return ids;
}

std::string Tokenizer::Impl::token_of(int32_t id) const {
  if (const tok::AddedToken* a = added.find(id)) return a->content;
  const auto& vocab = model.id_to_token();
  if (id < 0 || static_cast<size_t>(id) >= vocab.size() || vocab[id].empty())
    throw std::runtime_error("token id " + std::to_string(id) + " is not in the vocabulary");
  return vocab[id];
}

std::string Tokenizer::Impl::decode(const std::vector<int32_t>& ids, bool skip_special, bool raw) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special) {
      const tok::AddedToken* a = added.find(id);
      if (a && a->special) continue;
    }
    tokens.push_back(token_of(id));
  }
  return decoder.decode(std::move(tokens), raw);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens, false);
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens, true);
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  try {
    return impl_->token_of(id);
  } catch (const std::runtime_error&) {
    return std::nullopt;
  }
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const tok::AddedToken* a = impl_->added.find(token)) return a->id;
  int32_t id = impl_->model.written_token_to_id(token);
  if (id < 0) return std::nullopt;
  return id;
}

bool Tokenizer::is_special(int32_t id) const {
  const tok::AddedToken* a = impl_->added.find(id);
  return a && a->special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  window_.push_back(id);
  // Decoding the whole window keeps context-dependent decoders (Metaspace's first-token
  // rule, ByteFallback's byte runs) right; the window restarts at each clean boundary.
  std::string bytes = tokenizer_.decode_bytes(window_, skip_special_);
  window_consumed_ = std::min(window_consumed_, bytes.size());
  pending_.append(bytes, window_consumed_, std::string::npos);
  window_consumed_ = bytes.size();
  size_t hold = unicode::incomplete_utf8_tail(pending_);
  std::string out = unicode::to_valid_utf8(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  if (pending_.empty()) {
    // Keep the last id as context so the next decode does not treat its successor as the
    // first token (Metaspace drops the leading space of the first token only).
    window_.erase(window_.begin(), window_.end() - 1);
    window_consumed_ = tokenizer_.decode_bytes(window_, skip_special_).size();
  }
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = unicode::to_valid_utf8(pending_);
  pending_.clear();
  window_.clear();
  window_consumed_ = 0;
  return out;
}

}  // namespace nagent
