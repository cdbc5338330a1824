#include "agent/serve/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace nagent::serve {

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), mac, &len);
  static const char* digits = "0123456789abcdef";
  std::string hex(size_t(len) * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    hex[2 * i] = digits[mac[i] >> 4];
    hex[2 * i + 1] = digits[mac[i] & 15];
  }
  return hex;
}

std::string signature_header(std::string_view secret, std::string_view body) {
  return "sha256=" + hmac_sha256_hex(secret, body);
}

bool signature_valid(std::string_view secret, std::string_view body, std::string_view header) {
  return !secret.empty() && constant_time_equal(signature_header(secret, body), header);
}

bool bearer_valid(std::string_view expected_token, std::string_view authorization_header) {
  constexpr std::string_view prefix = "Bearer ";
  if (expected_token.empty() || authorization_header.substr(0, prefix.size()) != prefix) return false;
  return constant_time_equal(authorization_header.substr(prefix.size()), expected_token);
}

}  // namespace nagent::serve
