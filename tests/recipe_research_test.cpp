// The research index (chunking, BM25 search, quote checks) and research.lua end to end
// against the scripted model server: citations resolve, a planted false quote is flagged.
#include <catch2/catch.hpp>

#include "agent/research_index.h"
#include "support/recipe_testbed.h"
#include "support/tool_call_text.h"

using namespace nagent;

namespace {

const std::filesystem::path kCorpus = std::filesystem::path(NAGENT_SOURCE_DIR) / "examples/research_corpus/docs";

// The id of the corpus chunk that contains text.
std::string chunk_with(const CorpusIndex& index, const std::string& text) {
  for (const auto& h : index.search(text, 20)) {
    auto c = index.chunk(h.id);
    if (c && collapse_whitespace(c->text).find(text) != std::string::npos) return h.id;
  }
  FAIL("no chunk contains: " << text);
  return "";
}

}  // namespace

TEST_CASE("corpus chunker: sections, paragraphs, size limit, HTML", "[research]") {
  auto chunks = chunk_document("intro\n\n# A\n\none\n\n## B\n\ntwo\n\n```\n# not a heading\n```\n\n# C\nthree\n",
                               DocumentFormat::Markdown);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0].section == "");
  CHECK(chunks[1].section == "A");
  CHECK(chunks[2].section == "A > B");
  CHECK(chunks[2].text.find("# not a heading") != std::string::npos);
  CHECK(chunks[3].section == "C");
  CHECK(chunks[3].text == "three");

  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "Sentence number " + std::to_string(i) + " is here. ";
  auto pieces = chunk_document(long_text, DocumentFormat::Text, 300);
  CHECK(pieces.size() > 5);
  for (const auto& p : pieces) CHECK(p.text.size() <= 300);
  CHECK(pieces[0].text.back() == '.');  // split at a sentence end

  auto html = chunk_document("<html><head><title>T</title><script>var x = '<h1>';</script></head><body>"
                             "<h1>Main</h1><p>Fish &amp; chips &#8212; <b>hot</b>.</p><h2>Sub</h2><p>More</p></body></html>",
                             DocumentFormat::Html);
  REQUIRE(html.size() == 2);
  CHECK(html[0].section == "Main");
  CHECK(html[0].text == "Fish & chips \u2014 hot .");
  CHECK(html[1].section == "Main > Sub");
}

TEST_CASE("corpus index: BM25 search over the example corpus, stable ids, quote checks", "[research]") {
  CorpusIndex index;
  const CorpusStats stats = index.add_directory(kCorpus);
  CHECK(stats.documents == 30);
  CHECK(stats.skipped.empty());
  auto hits = index.search("chlorine gas school", 5);
  REQUIRE_FALSE(hits.empty());
  CHECK(hits[0].doc == "water/uv-disinfection.md");
  CHECK(hits[0].snippet.find("[chlorine]") != std::string::npos);
  // Stemming: "ferries" finds "ferry".
  CHECK(index.search("ferries", 3).at(0).doc == "transit/ferry.md");
  // Sections are searchable and weighted.
  CHECK(index.search("Ridership", 3).at(0).section == "Bus network redesign > Ridership");
  // Model-written queries with FTS syntax characters are plain words, never a syntax error.
  CHECK_NOTHROW(index.search("cost AND (UV OR \"NEAR* :col", 5));
  CHECK(index.search("?!", 5).empty());

  // Ids are stable: a second index of the same corpus gives the same chunk the same id.
  CorpusIndex again;
  again.add_directory(kCorpus);
  const std::string id = chunk_with(index, "The UV system cost 4.2 million dollars");
  CHECK(id == chunk_with(again, "The UV system cost 4.2 million dollars"));
  CHECK(id.rfind("water/uv-disinfection.md#", 0) == 0);

  CHECK(index.quote_problem(id, "The UV system cost 4.2   million\ndollars") == "");
  CHECK_THAT(index.quote_problem(id, "The UV system cost 9 million dollars"), Catch::Contains("not in"));
  CHECK_THAT(index.quote_problem("water/none.md#1", "x"), Catch::Contains("no chunk"));
  CHECK(fts_query("UV \"chlorine gas\" uv") == "\"uv\" OR \"chlorine gas\"");
}

TEST_CASE("research.lua end to end: every citation resolves and a planted false quote is flagged",
          "[research][e2e]") {
  RecipeTestbed f("research", "true", {{"README.md", "a corpus\n"}});
  std::filesystem::copy(kCorpus, f.workspace->root() / "docs", std::filesystem::copy_options::recursive);
  CorpusIndex index;
  index.add_directory(kCorpus);
  const std::string decision = chunk_with(index, "voted 5 to 2 to replace chlorine gas");
  const std::string cost = chunk_with(index, "The UV system cost 4.2 million dollars");

  // The scripted model: searches, reads, and reports with two true quotes and one false one.
  f.server.push({.content = text_call("search_corpus", {{"query", "UV disinfection Millbrook chlorine"}})});
  f.server.push({.content = text_call("read_chunk", {{"id", decision}})});
  f.server.push({.content = text_call("read_chunk", {{"id", cost}})});
  const std::string report =
      "The board switched because of chlorine gas storage near a school [" + decision +
      " \"The board cited the risk of storing chlorine gas next to the new school on Ferry Road.\"]. "
      "The system cost 4.2 million dollars [" + cost + " \"The UV system cost 4.2 million dollars\"]. "
      "The grant covered all of it [" + cost + " \"the state paid the full cost\"].";
  f.server.push({.content = text_call("finish", {{"summary", report}})});

  auto r = f.run_file(std::string(NAGENT_SOURCE_DIR) + "/recipes/research.lua",
                      {{"task", "Why did Millbrook switch to UV, and what did it cost?"}, {"corpus", "docs"}});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.summary, Catch::Contains("1 of 3 quotes"));

  // The tools the recipe defined answered the model.
  const auto requests = f.server.requests();
  REQUIRE(requests.size() == 4);
  CHECK_THAT(requests[1]["messages"].back()["content"].get<std::string>(), Catch::Contains(decision));
  CHECK_THAT(requests[2]["messages"].back()["content"].get<std::string>(), Catch::Contains("5 to 2"));

  const json out = json::parse(read_text(f.reports / "research.json"));
  REQUIRE(out["citations"].size() == 3);
  CHECK(out["flagged"] == 1);
  for (const auto& c : out["citations"]) CHECK(index.chunk(c["id"].get<std::string>()).has_value());
  CHECK(out["citations"][0]["verified"] == true);
  CHECK(out["citations"][1]["verified"] == true);
  CHECK(out["citations"][2]["verified"] == false);
  CHECK(out["citations"][2]["claim"] == "The grant covered all of it");
  const std::string md = read_text(f.reports / "research.md");
  CHECK_THAT(md, Catch::Contains("3 citations, 2 verified, 1 flagged") &&
                     Catch::Contains("FLAGGED: \"The grant covered all of it\""));
}

TEST_CASE("corpus index: a PDF is read through pdftotext where installed, else skipped with the reason",
          "[research]") {
  RecipeTestbed f("research-pdf", "true", {{"docs/a.md", "# A\n\nalpha text\n"}, {"docs/b.pdf", "%PDF-1.4 not really"},
                                            {"docs/c.bin", "\x01\x02"}});
  auto r = f.run(R"lua(
    local s = nagent.corpus_index("docs"):stats()
    return {ok = s.documents >= 1, summary = table.concat(s.skipped, "\n")}
  )lua");
  CHECK(r.ok);
  CHECK_THAT(r.summary, Catch::Contains("c.bin: not a document format the index reads"));
  // b.pdf is no real PDF: pdftotext fails on it, or is missing; either way it is skipped, saying why.
  CHECK_THAT(r.summary, Catch::Contains("b.pdf: pdftotext"));
}
