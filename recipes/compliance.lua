-- compliance: checks a repository against a policy of numbered rules.
--
--   nagent run compliance --repo DIR --arg rules=POLICY.md [--out DIR]
--
-- The policy is Markdown: "1. rule text" starts a rule; an indented line
--   check: KIND files=`GLOB` pattern=`LUA PATTERN` [lines=N]
-- attaches a deterministic scanner (several check lines: all must pass):
--   header  every file matching GLOB has PATTERN in its first N lines (default 5)
--   forbid  no line of the files matches PATTERN
--   require at least one line of the files matches PATTERN
--   judge   the lines matching PATTERN are candidates; the model decides whether they break
--           the rule (no candidate: pass)
-- No matching file at all: not applicable. A rule without a check is judged by the model,
-- which investigates with read-only tools and the same scanner (grep_files).
-- Every verdict (pass / fail / not_applicable / needs_human) carries path:line evidence with
-- the quoted line; quotes the model gives are checked against the file, and a verdict whose
-- evidence does not check out becomes needs_human. The reports say who decided each rule.
-- Artifacts: compliance.json and compliance.md.

local args = nagent.args
local policy_path = args.rules or "POLICY.md"  -- (nagent.args.policy is the sandbox policy)
local policy_text, err = nagent.read_file(policy_path)
if not policy_text then error("compliance: cannot read the policy: " .. err) end

-- ---- the policy ------------------------------------------------------------------------

local function parse_check(line)
  local kind, rest = line:match("^%s*check:%s*(%a+)%s*(.*)$")
  if not kind then return nil end
  local check = { kind = kind }
  for key, value in rest:gmatch("(%a+)=`([^`]*)`") do check[key] = value end
  for key, value in rest:gmatch("(%a+)=([^`%s]+)") do check[key] = check[key] or value end
  local known = { header = true, forbid = true, require = true, judge = true }
  if not known[kind] then error("compliance: unknown check '" .. kind .. "' in " .. policy_path) end
  if not check.files or not check.pattern then
    error("compliance: check '" .. kind .. "' needs files=`GLOB` and pattern=`PATTERN` in " .. policy_path)
  end
  if not pcall(string.find, "", check.pattern) then
    error("compliance: invalid Lua pattern `" .. check.pattern .. "` in " .. policy_path)
  end
  check.lines = tonumber(check.lines) or 5
  return check
end

local rules = {}
for line in (policy_text .. "\n"):gmatch("([^\n]*)\n") do
  local number, text = line:match("^(%d+)%.%s+(.+)$")
  if number then
    rules[#rules + 1] = { number = tonumber(number), text = text, checks = {} }
  elseif #rules > 0 and line:match("^%s+check:") then
    table.insert(rules[#rules].checks, parse_check(line))
  elseif #rules > 0 and line:match("^%s+%S") then
    rules[#rules].text = rules[#rules].text .. " " .. line:match("^%s+(.-)%s*$")
  end
end
if #rules == 0 then error("compliance: " .. policy_path .. " has no numbered rules (\"1. ...\")") end

-- ---- deterministic scanners -------------------------------------------------------------

local function trimmed(s)
  s = s:match("^%s*(.-)%s*$")
  return #s > 200 and (s:sub(1, 200) .. "...") or s
end

local function files_matching(glob)
  local files = {}
  for _, path in ipairs(nagent.list_files(".", glob)) do
    if path ~= policy_path then files[#files + 1] = path end
  end
  return files
end

local function lines_of(path)
  local text = nagent.read_file(path) or ""
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

-- Every line of the files that matches pattern: {path=, line=, quote=}.
local function grep(glob, pattern, limit)
  local hits = {}
  for _, path in ipairs(files_matching(glob)) do
    for n, line in ipairs(lines_of(path)) do
      if line:find(pattern) then
        hits[#hits + 1] = { path = path, line = n, quote = trimmed(line) }
        if limit and #hits >= limit then return hits end
      end
    end
  end
  return hits
end

-- Runs one check: verdict ("pass"/"fail"/"not_applicable"/"judge"), evidence, reason.
local function run_check(c)
  local files = files_matching(c.files)
  if #files == 0 then return "not_applicable", {}, "no file matches " .. c.files end
  if c.kind == "header" then
    local missing = {}
    for _, path in ipairs(files) do
      local found = false
      for n, line in ipairs(lines_of(path)) do
        if n > c.lines then break end
        if line:find(c.pattern) then found = true break end
      end
      if not found then
        missing[#missing + 1] = { path = path, line = 1, quote = trimmed(lines_of(path)[1] or "") }
      end
    end
    if #missing > 0 then
      return "fail", missing, #missing .. " of " .. #files .. " files lack the header in their first " .. c.lines ..
                              " lines"
    end
    return "pass", {}, "all " .. #files .. " files have the header"
  end
  local hits = grep(c.files, c.pattern, 50)
  if c.kind == "forbid" then
    if #hits > 0 then return "fail", hits, #hits .. " forbidden line(s) in " .. #files .. " files" end
    return "pass", {}, "no forbidden line in " .. #files .. " files"
  elseif c.kind == "require" then
    if #hits > 0 then return "pass", { hits[1] }, "found in " .. hits[1].path end
    return "fail", {}, "no line of " .. #files .. " files matches"
  end
  if #hits == 0 then return "pass", {}, "no candidate line in " .. #files .. " files" end
  return "judge", hits, #hits .. " candidate line(s) for the model to judge"
end

nagent.define_tool{
  name = "grep_files",
  description = "Find the lines of the repository's files that match a Lua pattern (e.g. " ..
                "\"log%.%a+%(\", \"@app%.%a+\"). Returns path:line: text, at most 50 lines.",
  parameters = {
    type = "object",
    properties = {
      pattern = { type = "string", description = "a Lua pattern" },
      glob = { type = "string", description = "which files, e.g. \"*.py\" or \"src/**/*.py\"; default all" },
    },
    required = { "pattern" },
    additionalProperties = false,
  },
  handler = function(a)
    if not pcall(string.find, "", a.pattern) then return nil, "invalid Lua pattern: " .. a.pattern end
    local out = {}
    for _, h in ipairs(grep(a.glob or "*", a.pattern, 50)) do
      out[#out + 1] = h.path .. ":" .. h.line .. ": " .. h.quote
    end
    return #out > 0 and table.concat(out, "\n") or "no line matches"
  end,
}

-- ---- the model's judgement --------------------------------------------------------------

local verdict_schema = {
  type = "object",
  required = { "verdict", "reason", "evidence" },
  properties = {
    verdict = { enum = { "pass", "fail", "not_applicable", "needs_human" } },
    reason = { type = "string" },
    evidence = {
      type = "array",
      items = {
        type = "object",
        required = { "path", "line", "quote" },
        properties = { path = { type = "string" }, line = { type = "integer", minimum = 1 },
                       quote = { type = "string" } },
      },
    },
  },
}

local system = [[
You are nagent, a meticulous compliance reviewer. You decide whether a repository complies
with one rule of a policy. Base every verdict on evidence: a file path, a line number and the
exact text of that line. Say "needs_human" when the rule needs knowledge the repository does
not hold, and "not_applicable" when the rule concerns something the repository does not have.]]

local judge = nagent.agent{ name = "judge", system = system, max_steps = tonumber(args.max_steps) or 20,
                            tools = { "read_file", "list_dir", "search", "grep_files", "finish" } }

-- A model quote checks out when the cited line contains it.
local function check_evidence(evidence)
  local ok = true
  for _, e in ipairs(evidence) do
    local line = lines_of(e.path)[e.line]
    e.verified = line ~= nil and e.quote ~= "" and line:find(e.quote, 1, true) ~= nil
    ok = ok and e.verified
  end
  return ok
end

local function model_verdict(rule, candidates)
  local prompt = "Policy rule " .. rule.number .. ": " .. rule.text .. "\n\n"
  if candidates then
    local lines = {}
    for _, h in ipairs(candidates) do lines[#lines + 1] = h.path .. ":" .. h.line .. ": " .. h.quote end
    prompt = prompt .. "A scanner found these candidate lines:\n" .. table.concat(lines, "\n") ..
             "\n\nDecide whether they break the rule."
  else
    local investigation = judge:run(prompt .. "Investigate whether the repository complies with this rule. " ..
                                    "Call finish with your findings, each with path:line and the quoted line.")
    prompt = prompt .. "Findings of the investigation:\n" .. (investigation.summary or "(none)") ..
             "\n\nGive the verdict."
  end
  local v, verr = judge:structured(prompt, verdict_schema)
  if not v then return "needs_human", {}, "the model gave no valid verdict: " .. verr end
  if #v.evidence > 0 and not check_evidence(v.evidence) then
    return "needs_human", v.evidence, "the model's evidence does not match the files (" .. v.verdict .. ": " ..
                                      v.reason .. ")"
  end
  if (v.verdict == "fail" or v.verdict == "pass") and #v.evidence == 0 and candidates == nil then
    return "needs_human", {}, "the model gave no evidence (" .. v.verdict .. ": " .. v.reason .. ")"
  end
  return v.verdict, v.evidence, v.reason
end

-- ---- every rule ---------------------------------------------------------------------------

local results = {}
local order = { fail = 1, needs_human = 2, pass = 3, not_applicable = 4 }
for _, rule in ipairs(rules) do
  local r = { number = rule.number, rule = rule.text, evidence = {}, checks = {} }
  if #rule.checks == 0 then
    r.verdict, r.evidence, r.reason = model_verdict(rule, nil)
    r.decided_by = "model"
  else
    -- Several checks: the worst verdict wins; any "judge" goes to the model.
    local verdict, reasons, candidates = nil, {}, {}
    for _, c in ipairs(rule.checks) do
      local v, evidence, reason = run_check(c)
      r.checks[#r.checks + 1] = { kind = c.kind, files = c.files, pattern = c.pattern, result = v }
      reasons[#reasons + 1] = reason
      if v == "judge" then
        for _, e in ipairs(evidence) do candidates[#candidates + 1] = e end
      else
        for _, e in ipairs(evidence) do r.evidence[#r.evidence + 1] = e end
        if verdict == nil or order[v] < order[verdict] then verdict = v end
      end
    end
    r.decided_by = "scanner"
    r.reason = table.concat(reasons, "; ")
    r.verdict = verdict
    if #candidates > 0 and verdict ~= "fail" then
      local v, evidence, reason = model_verdict(rule, candidates)
      r.verdict, r.evidence, r.reason, r.decided_by = v, evidence, reason, "model"
    end
  end
  nagent.log(string.format("rule %d: %s (%s)", r.number, r.verdict, r.decided_by))
  results[#results + 1] = r
end

-- ---- reports -----------------------------------------------------------------------------

local counts = { pass = 0, fail = 0, not_applicable = 0, needs_human = 0 }
for _, r in ipairs(results) do counts[r.verdict] = counts[r.verdict] + 1 end

local md = { "# Compliance report", "",
             string.format("Policy `%s`: %d rules. %d pass, %d fail, %d not applicable, %d need a human.",
                           policy_path, #results, counts.pass, counts.fail, counts.not_applicable, counts.needs_human),
             "", "| rule | verdict | decided by | reason |", "| --- | --- | --- | --- |" }
for _, r in ipairs(results) do
  md[#md + 1] = string.format("| %d | %s | %s | %s |", r.number, r.verdict, r.decided_by,
                              (r.reason or ""):gsub("|", "\\|"))
end
for _, r in ipairs(results) do
  md[#md + 1] = ""
  md[#md + 1] = string.format("## Rule %d: %s", r.number, r.verdict)
  md[#md + 1] = ""
  md[#md + 1] = r.rule
  for _, e in ipairs(r.evidence) do
    local mark = e.verified == false and " (quote not found in the file)" or ""
    md[#md + 1] = string.format("- `%s:%d`: `%s`%s", e.path, e.line, e.quote, mark)
  end
end
local md_text = table.concat(md, "\n") .. "\n"
local md_path = nagent.write_report("compliance.md", md_text)
nagent.write_report("compliance.json", { policy = policy_path, rules = results, counts = counts })
nagent.print(md_text)

local summary = string.format("%d pass, %d fail, %d not applicable, %d need a human: %s", counts.pass,
                              counts.fail, counts.not_applicable, counts.needs_human, md_path)
return { ok = counts.fail == 0 and counts.needs_human == 0, summary = summary }
