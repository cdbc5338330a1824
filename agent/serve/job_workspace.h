// Each job's own copy of its repository: a git clone under work_dir/<job id>/repo, checked
// out at the job's ref, so concurrent jobs never see each other's files and the caller's
// repository is never written. A resumed job reuses its copy (with the edits made so far).
#pragma once

#include <string>

#include "engine/chat.h"

namespace nagent::serve {

// Returns the copy's path; throws std::runtime_error with git's message when the clone or
// checkout fails.
std::string prepare_job_workspace(const std::string& job_id, const json& spec, const std::string& work_dir);
// The copy's changes against the checked-out commit as a unified diff (new files included).
std::string job_workspace_patch(const std::string& workspace);

}  // namespace nagent::serve
