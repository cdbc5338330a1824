// Splitting a document into retrievable chunks for the research index: Markdown by its
// headings, HTML by its heading elements (tags stripped, entities decoded), plain text by
// blank-line paragraphs; every chunk keeps the heading path it sits under ("Intro > Scope")
// and stays under a size limit, split at paragraph, then sentence, then word boundaries.
// Chunking is deterministic, so a chunk's ordinal (its id "doc#N") is stable for a given text.
#pragma once

#include <string>
#include <vector>

namespace nagent {

enum class DocumentFormat { Markdown, Html, Text };

struct DocumentChunk {
  std::string section;  // heading path, "" before the first heading
  std::string text;
};

// The format a file's name suggests (.md/.markdown, .html/.htm, anything else: text).
DocumentFormat format_for(const std::string& filename);

// HTML to plain text with headings kept as Markdown-style "# " lines.
std::string html_to_text(const std::string& html);

std::vector<DocumentChunk> chunk_document(const std::string& text, DocumentFormat format,
                                          size_t max_chunk_bytes = 1200);

// Text with every whitespace run collapsed to one space and the ends trimmed, for
// comparing a quote with its source.
std::string collapse_whitespace(const std::string& text);

}  // namespace nagent
