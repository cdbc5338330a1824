// IncrementalPrompt: the Nemotron 3 prompt of a conversation that grows at the end, without
// re-rendering its past. The text up to the last assistant turn is kept (a closed turn reads
// the same whatever follows); each render adds the turns since and the open tail. The
// request's stable_prefix_messages (set by the agent: messages unchanged since its previous
// request) says whether the kept text still holds; a compaction, a new last user message
// (the template then collapses earlier reasoning), other tools or options, or a request of
// another conversation (told apart by the kept messages' sizes) start over.
#pragma once

#include <string>
#include <vector>

#include "engine/chat_template.h"

namespace nagent {

class IncrementalPrompt {
 public:
  // Byte-identical to render_nemotron3_prompt(request).
  const std::string& render(const ChatRequest& request);
  // Of the last render: the characters that came from the kept text.
  size_t reused_chars() const { return reused_; }

 private:
  std::string kept_;                 // the system turn and messages [0, kept_sizes_.size())
  std::vector<size_t> kept_sizes_;   // each kept message's size, to recognise the conversation
  long last_user_ = -2;
  std::string tools_;                // the tools' JSON the kept text was rendered with
  std::string system_;               // the system message the kept header was rendered with
  ChatTemplateOptions options_;
  std::string prompt_;
  size_t reused_ = 0;

  bool holds(const ChatRequest& request, long last_user, const ChatTemplateOptions& options) const;
};

}  // namespace nagent
