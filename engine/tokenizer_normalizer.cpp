#include "engine/tokenizer_normalizer.h"

#include <stdexcept>

#include <unicode/uchar.h>

namespace nagent::tok {

Normalizer Normalizer::from_json(const nlohmann::json& j) {
  Normalizer n;
  if (!j.is_null()) n.add(j);
  return n;
}

void Normalizer::add(const nlohmann::json& j) {
  const std::string type = j.value("type", "");
  Step s{};
  if (type == "Sequence") {
    for (const auto& sub : j.at("normalizers")) add(sub);
    return;
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    s.kind = Kind::Unicode;
    s.form = type == "NFC" ? unicode::NormalForm::NFC
             : type == "NFD" ? unicode::NormalForm::NFD
             : type == "NFKC" ? unicode::NormalForm::NFKC
                              : unicode::NormalForm::NFKD;
  } else if (type == "Lowercase") {
    s.kind = Kind::Lowercase;
  } else if (type == "Replace") {
    s.kind = Kind::Replace;
    s.pattern = Pattern::from_json(j.at("pattern"));
    s.content = j.at("content").get<std::string>();
  } else if (type == "Prepend") {
    s.kind = Kind::Prepend;
    s.content = j.at("prepend").get<std::string>();
  } else if (type == "Strip") {
    s.kind = Kind::Strip;
    s.strip_left = j.value("strip_left", true);
    s.strip_right = j.value("strip_right", true);
  } else {
    throw std::runtime_error("tokenizer.json: unsupported normalizer type '" + type + "'");
  }
  steps_.push_back(std::move(s));
}

static std::string replace_all(std::string_view text, const Pattern& pattern, const std::string& content) {
  std::string out;
  size_t last = 0;
  pattern.for_each_match(text, [&](size_t start, size_t end) {
    out.append(text.substr(last, start - last));
    out += content;
    last = end;
  });
  out.append(text.substr(last));
  return out;
}

static std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    char32_t cp = unicode::next_code_point(text, i);
    unicode::append_utf8(out, static_cast<char32_t>(u_tolower(static_cast<UChar32>(cp))));
  }
  return out;
}

static std::string strip(std::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  if (left) {
    while (begin < end) {
      size_t i = begin;
      if (!unicode::is_whitespace(unicode::next_code_point(text, i))) break;
      begin = i;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      size_t i = start;
      if (!unicode::is_whitespace(unicode::next_code_point(text, i))) break;
      end = start;
    }
  }
  return std::string(text.substr(begin, end - begin));
}

std::string Normalizer::normalize(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::Unicode: s = unicode::normalize(s, step.form); break;
      case Kind::Lowercase: s = lowercase(s); break;
      case Kind::Replace: s = replace_all(s, step.pattern, step.content); break;
      case Kind::Prepend: if (!s.empty()) s = step.content + s; break;
      case Kind::Strip: s = strip(s, step.strip_left, step.strip_right); break;
    }
  }
  return s;
}

}  // namespace nagent::tok
