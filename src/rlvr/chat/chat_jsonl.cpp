// `rlvr template`'s JSON-lines loop: conversations in, {"text": ...} lines out.
#include "rlvr/chat/chat_template.h"
#include "rlvr/core/error.h"

namespace rlvr {

namespace {

using json = ChatTemplate::json;

ChatTemplate::Chat chat_of(const json& j, const ChatTemplate::Chat& defaults) {
  RLVR_CHECK(j.is_object() && j.contains("messages") && j["messages"].is_array(),
             "expected {\"messages\": [...], ...}");
  ChatTemplate::Chat chat = defaults;
  chat.messages = j["messages"];
  for (const char* key : {"tools", "documents"}) {
    if (!j.contains(key)) continue;
    RLVR_CHECK(j[key].is_array() || j[key].is_null(), "\"", key, "\" must be a list or null");
    (key[0] == 't' ? chat.tools : chat.documents) = j[key];
  }
  if (j.contains("add_generation_prompt")) {
    RLVR_CHECK(j["add_generation_prompt"].is_boolean(), "\"add_generation_prompt\" must be true or false");
    chat.add_generation_prompt = j["add_generation_prompt"].get<bool>();
  }
  if (j.contains("chat_template_kwargs")) {
    const json& kw = j["chat_template_kwargs"];
    RLVR_CHECK(kw.is_object(), "\"chat_template_kwargs\" must be an object");
    for (auto it = kw.begin(); it != kw.end(); ++it) chat.extra[it.key()] = it.value();
  }
  return chat;
}

}  // namespace

void render_chat_jsonl(const ChatTemplate& tmpl, std::string_view in, const ChatTemplate::Chat& defaults,
                       const std::function<void(std::string_view)>& sink, const std::string& source) {
  std::string out;
  size_t lineno = 0;
  for (size_t pos = 0; pos < in.size();) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string_view::npos) nl = in.size();
    const std::string_view line = in.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      const json j = json::parse(line);
      const std::string text = tmpl.render(chat_of(j, defaults));
      out += "{\"text\": ";
      out += json(text).dump();
      out += "}\n";
    } catch (const std::exception& e) {  // rlvr::Error, or nlohmann's parse error
      sink(out);
      fail(source, " line ", lineno, ": ", e.what());
    }
    if (out.size() > (size_t{1} << 20)) {
      sink(out);
      out.clear();
    }
  }
  sink(out);
}

}  // namespace rlvr
