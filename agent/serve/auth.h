// Authentication primitives of nagent serve: constant-time comparison (so a wrong token or
// signature takes as long to reject whatever its prefix), HMAC-SHA256 (OpenSSL), and the
// checks built on them: bearer tokens and GitHub's X-Hub-Signature-256.
#pragma once

#include <string>
#include <string_view>

namespace nagent::serve {

// True when a and b are equal; the time taken depends only on their lengths.
bool constant_time_equal(std::string_view a, std::string_view b);
// HMAC-SHA256 of message under key, as 64 lowercase hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// "sha256=<hex>": the form GitHub sends in X-Hub-Signature-256 and nagent signs callbacks with.
std::string signature_header(std::string_view secret, std::string_view body);
// Checks an X-Hub-Signature-256 value against the raw body.
bool signature_valid(std::string_view secret, std::string_view body, std::string_view header);
// Checks an "Authorization: Bearer TOKEN" value against the expected token.
bool bearer_valid(std::string_view expected_token, std::string_view authorization_header);

}  // namespace nagent::serve
