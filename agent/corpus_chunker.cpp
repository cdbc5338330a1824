#include "agent/corpus_chunker.h"

#include <algorithm>
#include <cctype>

namespace nagent {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// "## Title" -> level 2, "Title"; 0 when the line is no heading.
int heading_level(const std::string& line, std::string& title) {
  size_t n = 0;
  while (n < line.size() && n < 7 && line[n] == '#') ++n;
  if (n == 0 || n > 6 || n >= line.size() || line[n] != ' ') return 0;
  title = trim(line.substr(n + 1));
  while (!title.empty() && title.back() == '#') title.pop_back();
  title = trim(title);
  return int(n);
}

// Splits one over-long paragraph at sentence ends, else at spaces, else anywhere.
std::vector<std::string> split_long(const std::string& para, size_t limit) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (para.size() - start > limit) {
    size_t cut = std::string::npos;
    for (size_t i = start + limit; i > start + limit / 2; --i) {
      if ((para[i - 1] == '.' || para[i - 1] == '?' || para[i - 1] == '!') && para[i] == ' ') {
        cut = i;
        break;
      }
    }
    if (cut == std::string::npos) {
      const size_t space = para.rfind(' ', start + limit);
      cut = space != std::string::npos && space > start ? space : start + limit;
      // never inside a UTF-8 sequence
      while (cut > start + 1 && (static_cast<unsigned char>(para[cut]) & 0xC0) == 0x80) --cut;
    }
    parts.push_back(trim(para.substr(start, cut - start)));
    start = cut;
  }
  if (start < para.size()) parts.push_back(trim(para.substr(start)));
  return parts;
}

void decode_entity(const std::string& html, size_t& i, std::string& out) {
  static const std::pair<const char*, const char*> named[] = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "},
      {"mdash", "\u2014"}, {"ndash", "\u2013"}, {"hellip", "\u2026"}};
  const size_t end = html.find(';', i);
  if (end == std::string::npos || end - i > 10) {
    out += '&';
    ++i;
    return;
  }
  const std::string name = html.substr(i + 1, end - i - 1);
  for (const auto& [n, v] : named) {
    if (name == n) {
      out += v;
      i = end + 1;
      return;
    }
  }
  if (name.size() > 1 && name[0] == '#') {
    const bool hex = name[1] == 'x' || name[1] == 'X';
    const std::string digits = name.substr(hex ? 2 : 1);
    const bool valid = !digits.empty() && digits.size() <= 6 &&
                       std::all_of(digits.begin(), digits.end(), [&](char d) { return hex ? std::isxdigit(d) : std::isdigit(d); });
    const unsigned long cp = valid ? std::stoul(digits, nullptr, hex ? 16 : 10) : 0;
    if (cp > 0 && cp < 0x110000) {
      if (cp < 0x80) {
        out += char(cp);
      } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
      }
      i = end + 1;
      return;
    }
  }
  out += '&';
  ++i;
}

}  // namespace

DocumentFormat format_for(const std::string& filename) {
  const std::string f = lower(filename);
  if (ends_with(f, ".md") || ends_with(f, ".markdown")) return DocumentFormat::Markdown;
  if (ends_with(f, ".html") || ends_with(f, ".htm")) return DocumentFormat::Html;
  return DocumentFormat::Text;
}

std::string html_to_text(const std::string& html) {
  const std::string lowered = lower(html);
  std::string out;
  size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      const size_t end = html.find('>', i);
      if (end == std::string::npos) break;
      std::string tag = lowered.substr(i + 1, end - i - 1);
      const bool closing = !tag.empty() && tag[0] == '/';
      std::string name = tag.substr(closing ? 1 : 0);
      name = name.substr(0, name.find_first_of(" \t\r\n/"));
      i = end + 1;
      if (!closing && (name == "script" || name == "style" || name == "head")) {
        const size_t close = lowered.find("</" + name, i);
        i = close == std::string::npos ? html.size() : html.find('>', close) + 1;
        continue;
      }
      if (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') {
        out += closing ? "\n\n" : "\n\n" + std::string(size_t(name[1] - '0'), '#') + " ";
      } else if (name == "p" || name == "div" || name == "li" || name == "br" || name == "tr" || name == "section" ||
                 name == "article" || name == "blockquote" || name == "pre" || name == "ul" || name == "ol" ||
                 name == "table") {
        out += "\n\n";
      } else {
        out += ' ';
      }
      continue;
    }
    if (c == '&') {
      decode_entity(html, i, out);
      continue;
    }
    out += c;
    ++i;
  }
  // Headings must be one line: join the heading text's own line breaks.
  std::string result;
  for (size_t pos = 0; pos < out.size();) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? out.size() : nl + 1;
    std::string t = trim(line);
    result += collapse_whitespace(t) + "\n";
  }
  return result;
}

std::vector<DocumentChunk> chunk_document(const std::string& input, DocumentFormat format, size_t max_chunk_bytes) {
  const std::string text = format == DocumentFormat::Html ? html_to_text(input) : input;
  const bool headings = format != DocumentFormat::Text;
  std::vector<DocumentChunk> chunks;
  std::vector<std::string> path;  // heading titles by level
  std::string section, current;
  auto flush = [&] {
    std::string t = trim(current);
    if (!t.empty()) chunks.push_back({section, t});
    current.clear();
  };
  auto add_paragraph = [&](const std::string& para) {
    for (const auto& piece : split_long(para, max_chunk_bytes)) {
      if (!current.empty() && current.size() + piece.size() + 2 > max_chunk_bytes) flush();
      current += (current.empty() ? "" : "\n\n") + piece;
    }
  };
  std::string para;
  bool in_fence = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = nl + 1;
    if (headings && line.rfind("```", 0) == 0) in_fence = !in_fence;
    std::string title;
    const int level = headings && !in_fence ? heading_level(line, title) : 0;
    if (level > 0) {
      if (!trim(para).empty()) add_paragraph(trim(para));
      para.clear();
      flush();
      path.resize(size_t(level - 1));
      path.push_back(title);
      section.clear();
      for (const auto& p : path)
        if (!p.empty()) section += (section.empty() ? "" : " > ") + p;
      continue;
    }
    if (trim(line).empty() && !in_fence) {
      if (!trim(para).empty()) add_paragraph(trim(para));
      para.clear();
    } else {
      para += (para.empty() ? "" : "\n") + line;
    }
  }
  if (!trim(para).empty()) add_paragraph(trim(para));
  flush();
  return chunks;
}

std::string collapse_whitespace(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

}  // namespace nagent
