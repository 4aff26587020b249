// A model's chat template (a Jinja program) with the variables transformers' apply_chat_template
// gives it: messages, tools, documents, add_generation_prompt, the special tokens of
// tokenizer_config.json, and extra variables (TRL's chat_template_kwargs, `rlvr template --var`).
#pragma once
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "rlvr/chat/template.h"

namespace rlvr {

class ChatTemplate {
 public:
  using json = nlohmann::ordered_json;

  // From a tokenizer folder: tokenizer_config.json's "chat_template" (a string, or a list of
  // {"name", "template"} from which `which` is taken, "default" unless named), else the folder's
  // chat_template.jinja. Special tokens from tokenizer_config.json.
  static ChatTemplate load(const std::string& dir, const std::string& which = "default");
  // The template in `path`; special tokens from `tokenizer_dir`'s tokenizer_config.json when
  // that folder is given and has one.
  static ChatTemplate from_file(const std::string& path, const std::string& tokenizer_dir = "");
  // `special_tokens`: {"bos_token": "<s>", ...}; a token may also be {"content": ...} (an
  // AddedToken, as tokenizer_config.json writes them) or null (not set).
  ChatTemplate(const std::string& source, std::string name, const json& special_tokens = json::object());

  struct Chat {
    json messages = json::array();
    json tools = nullptr;      // a list of tool schemas, or null
    json documents = nullptr;  // a list of {"title", "text"}, or null
    bool add_generation_prompt = false;
    json extra = json::object();  // more variables, e.g. {"enable_thinking": false}
  };
  // The rendered text. A template that raises, or fails, throws rlvr::Error naming the template
  // and line:column with the template's message.
  std::string render(const Chat& chat) const;

  const std::string& name() const { return tmpl_.name(); }
  // Fixes the clock strftime_now() reads, for reproducible renders (default: the current time).
  void set_now(std::time_t t) { opt_.now = t; }
  jinja::RenderOptions& options() { return opt_; }

 private:
  jinja::Template tmpl_;
  jinja::Entries specials_;
  jinja::RenderOptions opt_;
};

// `rlvr template`'s loop: each non-blank line of `in` is {"messages": [...], "tools": [...]?,
// "documents": [...]?, "add_generation_prompt": bool?, "chat_template_kwargs": {...}?} and
// becomes {"text": ...}\n; `defaults` gives add_generation_prompt and the extra variables a line
// does not set. Output goes to `sink` in ~1 MiB chunks; a bad line or a template error throws
// rlvr::Error "<source> line N: ..." after the lines before it were passed on.
void render_chat_jsonl(const ChatTemplate& tmpl, std::string_view in, const ChatTemplate::Chat& defaults,
                       const std::function<void(std::string_view)>& sink, const std::string& source = "stdin");

}  // namespace rlvr
