// Loading a model's chat template and rendering conversations with transformers' variables.
#include "rlvr/chat/chat_template.h"

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr {

namespace {

using json = ChatTemplate::json;

// The special tokens transformers passes (its special_tokens_map), as strings.
const char* const kSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                      "pad_token", "cls_token", "mask_token"};

std::optional<std::string> token_text(const json& v, const std::string& where, const std::string& key) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  fail(where, ": \"", key, "\" must be a string, an object with \"content\", or null");
}

json read_config(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": invalid JSON (", e.what(), ")");
  }
}

json specials_of(const json& config) {
  json out = json::object();
  for (const char* key : kSpecialTokens)
    if (config.is_object() && config.contains(key)) out[key] = config[key];
  return out;
}

// The template text and a name for errors, from tokenizer_config.json's chat_template.
std::pair<std::string, std::string> pick_template(const json& t, const std::string& path, const std::string& which) {
  if (t.is_string()) {
    RLVR_CHECK(which == "default", path, ": chat_template is a single template; there is no template named '",
               which, "'");
    return {t.get<std::string>(), path + " chat_template"};
  }
  RLVR_CHECK(t.is_array(), path, ": chat_template must be a string or a list of {\"name\", \"template\"}");
  std::string names;
  for (const auto& e : t) {
    RLVR_CHECK(e.is_object() && e.contains("name") && e["name"].is_string() && e.contains("template") &&
                   e["template"].is_string(),
               path, ": each chat_template entry must be {\"name\": string, \"template\": string}");
    const std::string name = e["name"].get<std::string>();
    if (name == which) return {e["template"].get<std::string>(), path + " chat_template '" + name + "'"};
    names += (names.empty() ? "" : ", ") + name;
  }
  fail(path, ": no chat template named '", which, "' (it has: ", names, ")");
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, std::string name, const json& special_tokens)
    : tmpl_(source, std::move(name)) {
  RLVR_CHECK(special_tokens.is_object(), tmpl_.name(), ": the special tokens must be a JSON object");
  for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) {
    if (it.key() == "additional_special_tokens" && it.value().is_array()) {
      jinja::Items list;
      for (const auto& x : it.value())
        if (auto t = token_text(x, tmpl_.name(), it.key())) list.emplace_back(*t);
      specials_.emplace_back(it.key(), jinja::Value::list(std::move(list)));
    } else if (auto t = token_text(it.value(), tmpl_.name(), it.key())) {
      specials_.emplace_back(it.key(), jinja::Value(*t));
    }
  }
}

ChatTemplate ChatTemplate::load(const std::string& dir, const std::string& which) {
  const std::string config_path = join_path(dir, "tokenizer_config.json");
  const std::string jinja_path = join_path(dir, "chat_template.jinja");
  const json config = file_exists(config_path) ? read_config(config_path) : json::object();
  if (config.is_object() && config.contains("chat_template") && !config["chat_template"].is_null()) {
    auto [text, name] = pick_template(config["chat_template"], config_path, which);
    return ChatTemplate(text, name, specials_of(config));
  }
  RLVR_CHECK(file_exists(jinja_path), dir, ": no chat template (neither \"chat_template\" in tokenizer_config.json",
             " nor chat_template.jinja); give one with --template FILE");
  RLVR_CHECK(which == "default", jinja_path, ": a single template; there is no template named '", which, "'");
  return ChatTemplate(read_text_file(jinja_path), jinja_path, specials_of(config));
}

ChatTemplate ChatTemplate::from_file(const std::string& path, const std::string& tokenizer_dir) {
  json specials = json::object();
  const std::string config_path = tokenizer_dir.empty() ? "" : join_path(tokenizer_dir, "tokenizer_config.json");
  if (!config_path.empty() && file_exists(config_path)) specials = specials_of(read_config(config_path));
  return ChatTemplate(read_text_file(path), path, specials);
}

std::string ChatTemplate::render(const Chat& chat) const {
  RLVR_CHECK(chat.extra.is_object(), tmpl_.name(), ": the extra variables must be a JSON object");
  jinja::Entries vars;
  vars.reserve(4 + specials_.size() + chat.extra.size());
  vars.emplace_back("messages", jinja::from_json(chat.messages));
  vars.emplace_back("tools", jinja::from_json(chat.tools));
  vars.emplace_back("documents", jinja::from_json(chat.documents));
  vars.emplace_back("add_generation_prompt", jinja::Value(chat.add_generation_prompt));
  for (const auto& s : specials_) vars.push_back(s);
  for (auto it = chat.extra.begin(); it != chat.extra.end(); ++it) {
    const std::string& key = it.key();
    RLVR_CHECK(key != "messages" && key != "tools" && key != "documents" && key != "add_generation_prompt",
               "the variable '", key, "' is set by the conversation itself, not as an extra variable");
    jinja::Value v = jinja::from_json(it.value());
    bool replaced = false;
    for (auto& kv : vars)
      if (kv.first == key) kv.second = v, replaced = true;  // extra variables override special tokens
    if (!replaced) vars.emplace_back(key, std::move(v));
  }
  return tmpl_.render(vars, opt_);
}

}  // namespace rlvr
