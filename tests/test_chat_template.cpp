// Chat templates: the 25 real templates of ../shared/data/chat-templates rendered for every
// conversation of tests/fixtures/chat/cases.json equal Python jinja2's renderings byte for byte
// (tests/fixtures/chat/expected.jsonl, made by scripts/chat_template_fixtures.py), templates that
// raise do so in one line; loading templates from a tokenizer folder, the variables; `rlvr template`.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "rlvr/chat/chat_template.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "testlib.h"

namespace rlvr {
namespace {

using json = nlohmann::ordered_json;

json read_ordered(const std::string& path) { return json::parse(read_text_file(path)); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::string fixtures() { return join_path(RLVR_FIXTURES, "chat"); }

struct Outcome {
  bool ok = false;
  std::string text;  // the rendering, or the error message
};

Outcome render_case(const ChatTemplate& tmpl, const json& c) {
  ChatTemplate::Chat chat;
  chat.messages = c["messages"];
  if (c.contains("tools")) chat.tools = c["tools"];
  chat.add_generation_prompt = c.value("add_generation_prompt", false);
  if (c.contains("vars")) chat.extra = c["vars"];
  try {
    return {true, tmpl.render(chat)};
  } catch (const Error& e) {
    return {false, e.what()};
  }
}

TEST(ChatTemplateFixtures, RealTemplatesRenderLikeJinja2ByteForByte) {
  const json templates = read_ordered(join_path(test::shared_data(), "chat-templates/templates.json"))["templates"];
  const json cases = read_ordered(join_path(fixtures(), "cases.json"));
  std::map<std::string, ChatTemplate> parsed;
  for (const auto& t : templates) {
    ChatTemplate tmpl(t["template"].get<std::string>(), t["model"].get<std::string>(), t["special_tokens"]);
    tmpl.set_now(cases["fixed_now"].get<std::time_t>());
    parsed.emplace(t["model"].get<std::string>(), std::move(tmpl));
  }
  std::map<std::string, json> by_name;
  for (const auto& c : cases["cases"]) by_name[c["name"].get<std::string>()] = c;
  size_t checked = 0, texts = 0, raised = 0;
  for (const std::string& line : lines_of(read_text_file(join_path(fixtures(), "expected.jsonl")))) {
    if (line.empty()) continue;
    const json want = json::parse(line);
    const std::string where = want["template"].get<std::string>() + " / " + want["case"].get<std::string>();
    ASSERT_TRUE(parsed.count(want["template"])) << where;
    const Outcome got = render_case(parsed.at(want["template"]), by_name.at(want["case"]));
    ++checked;
    if (want.contains("text")) {
      ++texts;
      EXPECT_TRUE(got.ok) << where << ": failed: " << got.text;
      if (got.ok) EXPECT_EQ(got.text, want["text"].get<std::string>()) << where;
      continue;
    }
    EXPECT_FALSE(got.ok) << where << ": rendered, but jinja2 failed with " << want["error"];
    EXPECT_EQ(got.text.find('\n'), std::string::npos) << where << ": not one line: " << got.text;
    if (want["raised"].get<bool>()) {
      ++raised;
      EXPECT_NE(got.text.find("raise_exception: " + want["error"].get<std::string>()), std::string::npos)
          << where << ": " << got.text;
    }
  }
  EXPECT_EQ(checked, templates.size() * cases["cases"].size());
  EXPECT_GT(texts, 250u);
  EXPECT_GT(raised, 10u);
}

// A tokenizer folder holding `config` as tokenizer_config.json (and chat_template.jinja when given).
std::string tokenizer_dir(const std::string& name, const json& config, const std::string& jinja = "") {
  const std::string dir = test::scratch_dir(name);
  write_text_file(join_path(dir, "tokenizer_config.json"), config.dump());
  if (!jinja.empty()) write_text_file(join_path(dir, "chat_template.jinja"), jinja);
  return dir;
}

ChatTemplate::Chat user_chat(const std::string& text, bool generation_prompt = true) {
  ChatTemplate::Chat c;
  c.messages = json::array({{{"role", "user"}, {"content", text}}});
  c.add_generation_prompt = generation_prompt;
  return c;
}

TEST(ChatTemplateLoad, FromTheQwenTokenizerConfig) {
  const ChatTemplate t = ChatTemplate::load(join_path(test::shared_data(), "qwen-tokenizer"));
  EXPECT_EQ(t.render(user_chat("2+3?")),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\n2+3?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.render(user_chat("2+3?", false)).find("<|im_start|>assistant"), std::string::npos);
}

// Moved from test_tokenizer.cpp with the ChatML renderer that rlvr had in code: the Qwen2.5
// template gives the 5 reference prompts (text and ids), plain and tool turns, and the base
// config's default system prompt.
TEST(ChatTemplateLoad, QwenTemplateMatchesReferencePrompts) {
  const std::string qwen_dir = join_path(test::shared_data(), "qwen-tokenizer");
  const ChatTemplate t = ChatTemplate::load(qwen_dir);
  const Tokenizer tok = Tokenizer::load(qwen_dir);
  auto rows = read_jsonl_file(join_path(qwen_dir, "reference_encodings.jsonl"));
  auto test_rows = read_jsonl_file(join_path(test::shared_data(), "gsm8k/test.jsonl"));
  for (size_t k = 0; k < 5; ++k) {
    const auto& ref = rows[rows.size() - 5 + k];
    const std::string prompt = t.render(user_chat(test_rows[k]["question"].get<std::string>()));
    EXPECT_EQ(prompt, ref["text"].get<std::string>());
    EXPECT_EQ(tok.encode(prompt), ref["ids"].get<std::vector<int32_t>>());
  }
  auto turns = [](std::vector<std::pair<std::string, std::string>> m) {
    ChatTemplate::Chat c;
    for (const auto& [role, content] : m) c.messages.push_back({{"role", role}, {"content", content}});
    return c;
  };
  EXPECT_EQ(t.render(turns({{"system", "S"}, {"user", "U"}, {"assistant", "A"}})),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\nA<|im_end|>\n");
  EXPECT_EQ(t.render(turns({{"system", "S"}, {"tool", "r1"}, {"tool", "r2"}})),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<tool_response>\nr1\n"
            "</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n");
  const std::string dir = test::scratch_dir("chat_base_config");
  write_text_file(join_path(dir, "tokenizer_config.json"),
                  read_text_file(join_path(qwen_dir, "tokenizer_config_base.json")));
  EXPECT_EQ(ChatTemplate::load(dir).render(user_chat("2+2?")),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n2+2?"
            "<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateLoad, SpecialTokensAsStringsOrAddedTokensAndNamedTemplates) {
  const json config = {
      {"bos_token", {{"content", "<s>"}, {"lstrip", false}}},
      {"eos_token", "</s>"},
      {"pad_token", nullptr},
      {"chat_template", json::array({{{"name", "default"}, {"template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}{{ pad_token is defined }}"}},
                                     {{"name", "tool_use"}, {"template", "tools={{ tools | tojson }}"}}})}};
  const std::string dir = tokenizer_dir("chat_named", config);
  EXPECT_EQ(ChatTemplate::load(dir).render(user_chat("x")), "<s>x</s>False");
  ChatTemplate::Chat c = user_chat("x");
  c.tools = json::array({{{"name", "f"}}});
  EXPECT_EQ(ChatTemplate::load(dir, "tool_use").render(c), "tools=[{\"name\": \"f\"}]");
  EXPECT_EQ(ChatTemplate::load(dir, "default").render(user_chat("x")), "<s>x</s>False");
  try {
    ChatTemplate::load(dir, "rag");
    FAIL() << "no template named rag";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template named 'rag' (it has: default, tool_use)"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateLoad, ChatTemplateJinjaFileAndMissingTemplate) {
  const std::string dir = tokenizer_dir("chat_jinja", {{"eos_token", "<e>"}}, "{{ messages | length }}{{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::load(dir).render(user_chat("x")), "1<e>");
  EXPECT_EQ(ChatTemplate::from_file(join_path(dir, "chat_template.jinja")).render(user_chat("x")), "1");
  const std::string none = tokenizer_dir("chat_none", {{"eos_token", "<e>"}});
  try {
    ChatTemplate::load(none);
    FAIL() << "no template";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
  }
}

TEST(ChatTemplateLoad, VariablesAsTransformersPassesThem) {
  // tools and documents are always defined (None when not given); extra variables win over tokens.
  ChatTemplate t("{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ eos_token }} {{ enable_thinking }}",
                 "vars.jinja", {{"eos_token", "<e>"}});
  ChatTemplate::Chat c = user_chat("x");
  c.extra = {{"enable_thinking", false}};
  EXPECT_EQ(t.render(c), "True True True <e> False");
  c.extra = {{"eos_token", "E"}};
  EXPECT_EQ(t.render(c), "True True True E ");
  c.extra = {{"messages", json::array()}};
  EXPECT_THROW(t.render(c), Error);
}

TEST(ChatTemplateCli, RendersJsonLinesLikeTheLibrary) {
  const std::string qwen = join_path(test::shared_data(), "qwen-tokenizer");
  const std::string in =
      "{\"messages\": [{\"role\": \"user\", \"content\": \"2+3?\"}]}\n\n"
      "{\"messages\": [{\"role\": \"user\", \"content\": \"\\u00e9\"}], \"add_generation_prompt\": false}\n";
  auto r = test::run_cmd(test::rlvr_bin() + " template --tokenizer " + qwen + " --add-generation-prompt", in);
  ASSERT_EQ(r.status, 0) << r.err;
  const ChatTemplate t = ChatTemplate::load(qwen);
  auto line = [](const std::string& text) { return "{\"text\": " + json(text).dump() + "}\n"; };
  EXPECT_EQ(r.out, line(t.render(user_chat("2+3?"))) + line(t.render(user_chat("\xC3\xA9", false))));
}

TEST(ChatTemplateCli, VarsAreJsonWhenTheyParseAndTemplateFilesWin) {
  const std::string dir = tokenizer_dir("chat_cli_vars", {{"bos_token", "<s>"}},
                                        "{{ bos_token }}{{ enable_thinking is false }}|{{ name }}|{{ n + 1 }}");
  const std::string file = join_path(dir, "other.jinja");
  write_text_file(file, "other {{ bos_token }}");
  const std::string in = "{\"messages\": []}\n";
  auto r = test::run_cmd(test::rlvr_bin() + " template --tokenizer " + dir +
                             " --var enable_thinking=false --var name=Ann --var n=41", in);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\": \"<s>True|Ann|42\"}\n");
  r = test::run_cmd(test::rlvr_bin() + " template --tokenizer " + dir + " --template " + file, in);
  EXPECT_EQ(r.out, "{\"text\": \"other <s>\"}\n");
  r = test::run_cmd(test::rlvr_bin() + " template --tokenizer " + dir + " --var novalue", in);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("expected name=value, got 'novalue'"), std::string::npos) << r.err;
}

TEST(ChatTemplateCli, ATemplateThatRaisesEndsWithOneLine) {
  const std::string dir = tokenizer_dir("chat_cli_raise", json::object(),
                                        "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok");
  const std::string in = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n"
                         "{\"messages\": [{\"role\": \"system\", \"content\": \"a\"}]}\n";
  auto r = test::run_cmd(test::rlvr_bin() + " template --tokenizer " + dir, in);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "{\"text\": \"ok\"}\n");  // the lines before the failing one
  EXPECT_EQ(r.err, "rlvr: error: stdin line 2: " + join_path(dir, "chat_template.jinja") +
                       ":1:41: raise_exception: System role not supported\n");
}

}  // namespace
}  // namespace rlvr
