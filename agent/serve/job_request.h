// Validation of a job submission (POST /v1/jobs, or what a webhook maps an event to) into
// the job's spec: the settings stored with the job and handed to run_session.
//
//   {recipe, repo, ref?, task, test_cmd?, policy?, max_steps?, callback_url?, idempotency_key?}
//
// Shape errors (missing or mistyped fields, unknown fields) throw ApiError 400 listing every
// bad field; well-formed requests the server cannot serve (unknown recipe or policy, a
// repository outside the allow-list) throw 422.
#pragma once

#include "agent/serve/serve_config.h"
#include "engine/chat.h"

namespace nagent::serve {

// The spec: the request's fields, checked, with recipe resolved to its file, repo made
// canonical (local) or kept as the URL, and policy and max_steps filled in.
json validate_job_request(const json& request, const ServeConfig& config);

// Where a repo value points: a local directory under repo_roots, or a git URL on one of
// repo_hosts. Throws ApiError 422 otherwise. Returns the canonical path or the URL.
std::string allowed_repo(const std::string& repo, const ServeConfig& config);

}  // namespace nagent::serve
