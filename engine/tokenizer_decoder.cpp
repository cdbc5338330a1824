#include "engine/tokenizer_decoder.h"

#include <stdexcept>

#include "engine/unicode.h"

namespace nagent::tok {

Decoder Decoder::from_json(const nlohmann::json& j) {
  Decoder d;
  if (!j.is_null()) {
    d.null_ = false;
    d.add(j);
  }
  return d;
}

void Decoder::add(const nlohmann::json& j) {
  const std::string type = j.value("type", "");
  Step s{};
  if (type == "Sequence") {
    for (const auto& sub : j.at("decoders")) add(sub);
    return;
  } else if (type == "ByteLevel") {
    s.kind = Kind::ByteLevel;
  } else if (type == "Replace") {
    s.kind = Kind::Replace;
    s.pattern = Pattern::from_json(j.at("pattern"));
    s.content = j.at("content").get<std::string>();
  } else if (type == "ByteFallback") {
    s.kind = Kind::ByteFallback;
  } else if (type == "Fuse") {
    s.kind = Kind::Fuse;
  } else if (type == "Strip") {
    s.kind = Kind::Strip;
    s.content = j.at("content").get<std::string>();
    s.start = j.value("start", 0);
    s.stop = j.value("stop", 0);
  } else if (type == "Metaspace") {
    s.kind = Kind::Metaspace;
    s.content = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    s.strip_first = scheme.empty() ? j.value("add_prefix_space", true) : scheme != "never";
  } else {
    throw std::runtime_error("tokenizer.json: unsupported decoder type '" + type + "'");
  }
  steps_.push_back(std::move(s));
}

namespace {
std::string byte_level(const std::vector<std::string>& tokens, bool raw_bytes) {
  std::string bytes;
  std::string token_bytes;
  for (const std::string& t : tokens) {
    token_bytes.clear();
    bool mapped = true;
    for (size_t i = 0; i < t.size() && mapped;) {
      int b = unicode::valid_sequence_length(t, i) ? unicode::unicode_to_byte(unicode::next_code_point(t, i)) : -1;
      if (b < 0) mapped = false;
      else token_bytes += static_cast<char>(b);
    }
    bytes += mapped ? token_bytes : t;  // a token outside the mapping stands for itself
  }
  return raw_bytes ? bytes : unicode::to_valid_utf8(bytes);
}

int byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::vector<std::string> byte_fallback(std::vector<std::string> tokens, bool raw_bytes) {
  std::vector<std::string> out;
  std::string pending;
  auto flush = [&] {
    if (pending.empty()) return;
    if (raw_bytes || unicode::is_valid_utf8(pending)) out.push_back(pending);
    else for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
    pending.clear();
  };
  for (std::string& t : tokens) {
    int b = byte_token_value(t);
    if (b >= 0) {
      pending += static_cast<char>(b);
    } else {
      flush();
      out.push_back(std::move(t));
    }
  }
  flush();
  return out;
}

void strip(std::string& t, const std::string& ch, size_t start, size_t stop) {
  size_t begin = 0, end = t.size();
  for (size_t n = 0; n < start && end - begin >= ch.size() && t.compare(begin, ch.size(), ch) == 0; ++n) begin += ch.size();
  for (size_t n = 0; n < stop && end - begin >= ch.size() && t.compare(end - ch.size(), ch.size(), ch) == 0; ++n) end -= ch.size();
  t = t.substr(begin, end - begin);
}
}  // namespace

std::string Decoder::decode(std::vector<std::string> tokens, bool raw_bytes) const {
  if (null_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::ByteLevel: tokens = {byte_level(tokens, raw_bytes)}; break;
      case Kind::ByteFallback: tokens = byte_fallback(std::move(tokens), raw_bytes); break;
      case Kind::Fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens = {std::move(all)};
        break;
      }
      case Kind::Replace:
        for (auto& t : tokens) {
          // Raw bytes from an earlier ByteLevel/ByteFallback step may not be UTF-8, which a
          // regex must never see (no decoder chain in use puts Replace after those).
          if (raw_bytes && !unicode::is_valid_utf8(t)) t = unicode::to_valid_utf8(t);
          std::string out;
          size_t last = 0;
          step.pattern.for_each_match(t, [&](size_t start, size_t end) {
            out.append(t, last, start - last);
            out += step.content;
            last = end;
          });
          out.append(t, last);
          t = std::move(out);
        }
        break;
      case Kind::Strip:
        for (auto& t : tokens) strip(t, step.content, step.start, step.stop);
        break;
      case Kind::Metaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          std::string out;
          const std::string& t = tokens[i];
          for (size_t p = 0; p < t.size();) {
            if (t.compare(p, step.content.size(), step.content) == 0) {
              if (!(i == 0 && step.strip_first)) out += ' ';
              p += step.content.size();
            } else {
              out += t[p++];
            }
          }
          tokens[i] = std::move(out);
        }
        break;
    }
  }
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

}  // namespace nagent::tok
