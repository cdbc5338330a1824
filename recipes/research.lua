-- research: answer a question from a local corpus, with every claim cited and its quote checked.
--
--   nagent run research --repo CORPUS_REPO [--arg corpus=docs] --task "QUESTION" [--out DIR]
--
-- 1. The documents under `corpus` (a folder of the workspace; default: all of it) are indexed:
--    SQLite FTS5 with BM25 ranking, chunked by section, chunk ids "path#N".
-- 2. An agent searches the index, reads chunks, follows leads (neighbouring chunks, new
--    queries), and writes a Markdown report in which each claim cites [path#N "exact quote"].
-- 3. A verifier (this recipe, not the model) checks that every quote occurs verbatim in the
--    chunk it cites, and flags each claim that fails.
-- Artifacts: research.md (the report, then the verification table) and research.json.

local args = nagent.args
local question = args.task
if question == nil or question == "" then error("research needs a question: --task \"...\"") end
local corpus = args.corpus or "."
local max_steps = tonumber(args.max_steps) or 30

local index = nagent.corpus_index(corpus)
local stats = index:stats()
nagent.log(string.format("indexed %d documents, %d chunks", stats.documents, stats.chunks))
if stats.chunks == 0 then
  return { ok = false, summary = "the corpus " .. corpus .. " has no documents the index can read" }
end

nagent.define_tool{
  name = "search_corpus",
  description = "Full-text search (BM25) over the document corpus. Returns the best chunks: their id " ..
                "(path#N), section and a snippet with matching words in [brackets]. Use several short " ..
                "queries with different words. Example: {\"query\": \"chlorine gas school\", \"limit\": 5}",
  parameters = {
    type = "object",
    properties = {
      query = { type = "string", description = "words or \"a phrase\"" },
      limit = { type = "integer", minimum = 1, maximum = 20, description = "default 6" },
    },
    required = { "query" },
    additionalProperties = false,
  },
  handler = function(a)
    local hits = index:search(a.query, a.limit or 6)
    if #hits == 0 then return "no chunk matches: try other words" end
    local lines = {}
    for _, h in ipairs(hits) do
      lines[#lines + 1] = h.id .. (h.section ~= "" and ("  [" .. h.section .. "]") or "") .. "\n  " .. h.snippet
    end
    return table.concat(lines, "\n")
  end,
}

nagent.define_tool{
  name = "read_chunk",
  description = "Read one chunk of the corpus in full, by its id from search_corpus (e.g. " ..
                "\"water/plant.md#2\"). Neighbouring chunks of the same document are #N-1 and #N+1.",
  parameters = {
    type = "object",
    properties = { id = { type = "string" } },
    required = { "id" },
    additionalProperties = false,
  },
  handler = function(a)
    local c, err = index:chunk(a.id)
    if not c then return nil, err end
    local doc, n = a.id:match("^(.*)#(%d+)$")
    local next_id = doc .. "#" .. (tonumber(n) + 1)
    local more = index:chunk(next_id) and ("\n\n(next chunk: " .. next_id .. ")") or ""
    return a.id .. (c.section ~= "" and ("  [" .. c.section .. "]") or "") .. "\n\n" .. c.text .. more
  end,
}

local system = [[
You are nagent, a careful researcher. You answer a question using only the documents of a
local corpus, which you reach through the tools search_corpus and read_chunk.

1. Search with several short queries; read the chunks that look relevant in full; follow leads
   (neighbouring chunks, names and numbers you find) until you can answer.
2. Write the answer as a short Markdown report. Every claim that is not common knowledge ends
   with a citation in exactly this form: [path#N "exact words copied from that chunk"].
   Copy the quote character for character from read_chunk's output (no paraphrase, no "...").
3. If the corpus does not answer part of the question, say so plainly instead of guessing.
4. Call finish with the whole report as its summary.]]

local researcher = nagent.agent{
  name = "researcher",
  system = system,
  tools = { "search_corpus", "read_chunk", "finish" },
  max_steps = max_steps,
}
local result = researcher:run("Question: " .. question)
nagent.log("researcher: " .. result.outcome .. " after " .. result.steps .. " steps")
local report = result.summary or ""

-- The verifier: every [id "quote"] must resolve to a chunk that contains the quote verbatim.
local citations = {}
local position = 1
while true do
  local s, e, id, quote = report:find('%[([^%]%s"]+#%d+)%s+"(.-)"%]', position)
  if not s then break end
  -- The claim: the text of the sentence before the citation.
  local before = report:sub(1, s - 1)
  local claim = (before:match("([^%.%?!\n]*)$") or ""):match("^%s*(.-)%s*$")
  local problem = index:quote_problem(id, quote)
  citations[#citations + 1] = { id = id, quote = quote, claim = claim, verified = problem == nil,
                                problem = problem }
  position = e + 1
end

local failed = 0
local rows = { "| # | chunk | verified | problem |", "| --- | --- | --- | --- |" }
for i, c in ipairs(citations) do
  if not c.verified then failed = failed + 1 end
  rows[#rows + 1] = string.format("| %d | `%s` | %s | %s |", i, c.id, c.verified and "yes" or "**NO**",
                                  c.verified and "" or c.problem)
end

local flagged = {}
for _, c in ipairs(citations) do
  if not c.verified then
    flagged[#flagged + 1] = "- FLAGGED: \"" .. c.claim .. "\" cites `" .. c.id .. "` with a quote that " ..
                            "is not in it: \"" .. c.quote .. "\""
  end
end

local md = "# Research: " .. question .. "\n\n" .. report .. "\n\n## Verification\n\n" ..
           string.format("%d citations, %d verified, %d flagged.\n\n", #citations, #citations - failed, failed) ..
           table.concat(rows, "\n") .. "\n" .. (#flagged > 0 and ("\n" .. table.concat(flagged, "\n") .. "\n") or "")
local md_path = nagent.write_report("research.md", md)
nagent.write_report("research.json", {
  question = question,
  report = report,
  agent = { outcome = result.outcome, steps = result.steps },
  corpus = { documents = stats.documents, chunks = stats.chunks, skipped = stats.skipped },
  citations = citations,
  flagged = failed,
})
nagent.print(md)

if not result.ok then
  return { ok = false, summary = "the researcher stopped (" .. result.outcome .. "): " .. md_path }
end
if #citations == 0 then
  return { ok = false, summary = "the report cites nothing: " .. md_path }
end
if failed > 0 then
  return { ok = false, summary = string.format("%d of %d quotes are not in their cited chunks: %s", failed,
                                               #citations, md_path) }
end
return { ok = true, summary = string.format("%d citations, all verified: %s", #citations, md_path) }
