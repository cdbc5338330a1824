// Python value formatting as a Jinja chat template running under transformers produces it:
// str() of JSON values (True/False/None, float repr, list/dict repr), json.dumps with
// ensure_ascii=False and the default ", " / ": " separators (transformers' tojson), and
// str.strip() (Jinja's trim). The native chat template renderer needs these to be byte-exact.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nagent::py {

std::string str(const nlohmann::ordered_json& value);        // Python str(value)
std::string repr(const nlohmann::ordered_json& value);       // Python repr(value)
std::string json_dumps(const nlohmann::ordered_json& value);  // json.dumps(value, ensure_ascii=False)
std::string float_repr(double value);                        // repr(float)
std::string strip(std::string_view text);                    // str.strip()

}  // namespace nagent::py
