// ApiError: a request the server refuses, with the HTTP status and the JSON body it gets:
//   {"error": {"code": "invalid_request", "message": "one line", "fields": {"repo": "is required"}}}
#pragma once

#include <stdexcept>
#include <string>

#include "engine/chat.h"

namespace nagent::serve {

struct ApiError : std::runtime_error {
  int status;
  std::string code;
  json fields;  // field name -> what is wrong with it (validation errors only)
  ApiError(int status, std::string code, const std::string& message, json fields = json::object())
      : std::runtime_error(message), status(status), code(std::move(code)), fields(std::move(fields)) {}
  json body() const {
    json e = {{"code", code}, {"message", what()}};
    if (!fields.empty()) e["fields"] = fields;
    return {{"error", e}};
  }
};

}  // namespace nagent::serve
