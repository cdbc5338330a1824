// Validation of a JSON value against a JSON Schema, for structured model output: the
// subset recipes use (type, properties, required, additionalProperties, items, enum,
// minimum, maximum, minLength, minItems, maxItems), nested to any depth.
#pragma once

#include <string>

#include "engine/chat.h"

namespace nagent {

// "" when value matches schema, else the first problem with its JSON path, e.g.
// "$.findings[2].severity: must be one of \"low\", \"medium\", \"high\"".
std::string schema_problem(const json& schema, const json& value);

// The first JSON object or array in a model's reply text (code fences and prose around
// it are ignored); throws std::invalid_argument saying why when there is none.
json parse_json_reply(const std::string& text);

}  // namespace nagent
