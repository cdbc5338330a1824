// `nagent prompt`: renders an OpenAI chat-completions request body (the JSON nagent's client
// sends to a server) with the native Nemotron 3 chat template: exactly the text the embedded
// engine feeds the model for that request. For seeing what a model sees, and for making
// training data whose prompts are byte-identical to the ones the runtime renders.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cli/arguments.h"
#include "agent/cli/command.h"
#include "engine/chat_template.h"

namespace nagent::cli {
namespace {

constexpr const char* kUsage =
    "usage: nagent prompt [--request FILE] [--no-generation-prompt]\n"
    "  Reads a chat-completions request body ({messages, tools?, chat_template_kwargs?}) from FILE\n"
    "  or stdin and prints the Nemotron 3 prompt the embedded engine renders for it.\n"
    "  --no-generation-prompt   leave out the opening of the assistant's reply\n";

int prompt_main(const std::vector<std::string>& argv) {
  Arguments args;
  try {
    args = parse_arguments(argv, {"--request"}, {"--no-generation-prompt", "--help", "-h"});
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string("prompt: ") + e.what() + "\n" + kUsage);
  }
  if (args.has("--help") || args.has("-h")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  std::string text;
  if (auto file = args.get("--request")) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) return fail(kExitUsage, "prompt: cannot read " + *file);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const json body = json::parse(text, nullptr, false);
  if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array())
    return fail(kExitUsage, "prompt: the request must be a JSON object with a \"messages\" array");

  ChatRequest request;
  try {
    for (const json& m : body["messages"]) request.messages.push_back(message_from_json(m));
    if (body.contains("tools")) request.tools = body["tools"];
    if (body.contains("chat_template_kwargs")) {
      request.extra_template_kwargs = body["chat_template_kwargs"];
      if (request.extra_template_kwargs.contains("enable_thinking") &&
          request.extra_template_kwargs["enable_thinking"].is_boolean())
        request.enable_thinking = request.extra_template_kwargs["enable_thinking"].get<bool>();
    }
    const std::string prompt = render_nemotron3_prompt(request, !args.has("--no-generation-prompt"));
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  } catch (const std::exception& e) {
    return fail(kExitUsage, std::string("prompt: ") + e.what());
  }
  return kExitOk;
}

const bool registered =
    register_command({"prompt", "render a chat request as the prompt text the embedded engine sees", &prompt_main});

}  // namespace
}  // namespace nagent::cli
