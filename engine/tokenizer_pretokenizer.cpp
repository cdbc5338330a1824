#include "engine/tokenizer_pretokenizer.h"

#include <algorithm>
#include <stdexcept>

namespace nagent::tok {

namespace {
// GPT-2's word pattern, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior behavior_from(const std::string& name) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw std::runtime_error("tokenizer.json: unknown Split behavior '" + name + "'");
}

Pattern regex_pattern(const char* re) { return Pattern::from_json({{"Regex", re}}); }
}  // namespace

PreTokenizer PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  if (!j.is_null()) p.add(j, true);
  return p;
}

void PreTokenizer::add(const nlohmann::json& j, bool last) {
  const std::string type = j.value("type", "");
  if (byte_level_) throw std::runtime_error("tokenizer.json: pre-tokenizer '" + type + "' after ByteLevel is not supported");
  Step s{};
  if (type == "Sequence") {
    const auto& subs = j.at("pretokenizers");
    for (size_t i = 0; i < subs.size(); ++i) add(subs[i], last && i + 1 == subs.size());
    return;
  } else if (type == "Split") {
    s.kind = Kind::Split;
    s.pattern = Pattern::from_json(j.at("pattern"));
    s.behavior = behavior_from(j.at("behavior").get<std::string>());
    s.invert = j.value("invert", false);
  } else if (type == "ByteLevel") {
    if (!last) throw std::runtime_error("tokenizer.json: ByteLevel must be the last pre-tokenizer");
    if (j.value("add_prefix_space", false)) steps_.push_back({Kind::ByteLevelPrefix, {}, {}, false, {}, {}, {}});
    if (j.value("use_regex", true)) {
      s.kind = Kind::Split;
      s.pattern = regex_pattern(kGpt2Pattern);
      steps_.push_back(std::move(s));
    }
    byte_level_ = true;
    return;
  } else if (type == "Metaspace") {
    s.kind = Kind::Metaspace;
    s.replacement = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    s.prepend = scheme == "always" ? Prepend::Always : scheme == "first" ? Prepend::First : Prepend::Never;
    if (scheme != "always" && scheme != "first" && scheme != "never")
      throw std::runtime_error("tokenizer.json: unknown Metaspace prepend_scheme '" + scheme + "'");
    s.split = j.value("split", true);
  } else if (type == "Digits") {
    s.kind = Kind::Split;
    s.pattern = regex_pattern(R"(\p{N})");
    s.behavior = j.value("individual_digits", false) ? SplitBehavior::Isolated : SplitBehavior::Contiguous;
  } else if (type == "Whitespace") {
    s.kind = Kind::Split;
    s.pattern = regex_pattern(R"(\w+|[^\w\s]+)");
    s.behavior = SplitBehavior::Removed;
    s.invert = true;
  } else if (type == "WhitespaceSplit") {
    s.kind = Kind::Split;
    s.pattern = regex_pattern(R"(\s+)");
    s.behavior = SplitBehavior::Removed;
  } else {
    throw std::runtime_error("tokenizer.json: unsupported pre-tokenizer type '" + type + "'");
  }
  steps_.push_back(std::move(s));
}

// Hugging Face NormalizedString::split: the matches and the text between them become
// spans, merged or dropped according to the behavior; empty spans are dropped.
void PreTokenizer::split(const Step& step, std::vector<Piece>& pieces) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 4);
  struct Span { size_t start, end; bool match; };
  std::vector<Span> spans;
  for (const Piece& piece : pieces) {
    std::string_view text = piece.text;
    spans.clear();
    size_t prev = 0;
    step.pattern.for_each_match(text, [&](size_t start, size_t end) {
      if (prev != start) spans.push_back({prev, start, step.invert});
      spans.push_back({start, end, !step.invert});
      prev = end;
    });
    if (prev != text.size()) spans.push_back({prev, text.size(), step.invert});

    std::vector<Span> kept;  // (start, end, remove)
    bool previous_match = false;
    switch (step.behavior) {
      case SplitBehavior::Isolated:
        for (const Span& s : spans) kept.push_back({s.start, s.end, false});
        break;
      case SplitBehavior::Removed:
        kept = spans;
        break;
      case SplitBehavior::Contiguous:
        for (const Span& s : spans) {
          if (s.match == previous_match && !kept.empty()) kept.back().end = s.end;
          else kept.push_back({s.start, s.end, false});
          previous_match = s.match;
        }
        break;
      case SplitBehavior::MergedWithPrevious:
        for (const Span& s : spans) {
          if (s.match && !previous_match && !kept.empty()) kept.back().end = s.end;
          else kept.push_back({s.start, s.end, false});
          previous_match = s.match;
        }
        break;
      case SplitBehavior::MergedWithNext:
        for (size_t k = spans.size(); k-- > 0;) {
          const Span& s = spans[k];
          if (s.match && !previous_match && !kept.empty()) kept.back().start = s.start;
          else kept.push_back({s.start, s.end, false});
          previous_match = s.match;
        }
        std::reverse(kept.begin(), kept.end());
        break;
    }
    for (const Span& s : kept) {
      if (s.match || s.end == s.start) continue;  // removed, or empty
      out.push_back({text.substr(s.start, s.end - s.start), piece.at_start && s.start == 0});
    }
  }
  pieces.swap(out);
}

void PreTokenizer::pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const {
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::Split:
        split(step, pieces);
        break;
      case Kind::ByteLevelPrefix:
        for (Piece& p : pieces) {
          if (p.text.empty() || p.text[0] != ' ') p.text = arena.emplace_back(" " + std::string(p.text));
        }
        break;
      case Kind::Metaspace: {
        for (Piece& p : pieces) {
          std::string s;
          s.reserve(p.text.size() + 8);
          for (char c : p.text) {
            if (c == ' ') s += step.replacement;
            else s += c;
          }
          bool starts = s.compare(0, step.replacement.size(), step.replacement) == 0;
          if (!starts && (step.prepend == Prepend::Always || (step.prepend == Prepend::First && p.at_start)))
            s = step.replacement + s;
          p.text = arena.emplace_back(std::move(s));
        }
        if (step.split) {
          Step by_replacement{};
          by_replacement.kind = Kind::Split;
          by_replacement.pattern = Pattern::from_json({{"String", step.replacement}});
          by_replacement.behavior = SplitBehavior::MergedWithNext;
          split(by_replacement, pieces);
        }
        break;
      }
    }
  }
}

}  // namespace nagent::tok
