// Fuzz target: the Jinja interpreter of chat templates (src/rlvr/chat/) on arbitrary template
// text, rendered with a fixed conversation (system, user, assistant with a tool call, tool) and
// tools. Bad syntax, a raise_exception and every runtime failure must end in rlvr::Error; the
// limits (steps, output size, nesting) keep every input finite.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_input.h"
#include "rlvr/chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rlvr::ChatTemplate::Chat chat = [] {
    rlvr::ChatTemplate::Chat c;
    c.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Z\u00fcrich? <|im_end|> {{ x }}\n"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "call12345", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Z\u00fcrich"}}}]},
      {"role": "tool", "tool_call_id": "call12345", "content": "21 C"}])");
    c.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
    c.add_generation_prompt = true;
    c.extra = {{"enable_thinking", false}};
    return c;
  }();
  const std::string source(reinterpret_cast<const char*>(data), size);
  rlvr::fuzz::refusal_ok([&] {
    rlvr::ChatTemplate tmpl(source, "fuzz.jinja", {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
    tmpl.set_now(1721995200);
    rlvr::jinja::Limits& limits = tmpl.options().limits;
    limits.max_steps = 20000;
    limits.max_output = 1 << 20;
    tmpl.render(chat);
  });
  return 0;
}
