// What a GitHub or GitLab event asks of nagent: a job request (job_request.h) or the reason
// it asks nothing. Comment commands ("/nagent fix", "/nagent review ...", the prefix and the
// command -> recipe map configurable) from an allowed author start a job on the issue or
// merge request; pull_request opened / synchronize / reopened (GitLab: open / update /
// reopen) start the pull_request_recipe on the head commit.
#pragma once

#include <optional>
#include <string>

#include "agent/serve/serve_config.h"
#include "engine/chat.h"

namespace nagent::serve {

struct WebhookIntent {
  std::optional<json> job_request;  // set: enqueue this
  std::string ignored;              // otherwise: why nothing was done
};

// event: X-GitHub-Event. Throws ApiError 400 when the payload lacks what the event needs.
WebhookIntent github_intent(const std::string& event, const json& payload, const ServeConfig& config);
// event: X-Gitlab-Event ("Note Hook", "Merge Request Hook").
WebhookIntent gitlab_intent(const std::string& event, const json& payload, const ServeConfig& config);

}  // namespace nagent::serve
