// Chat templates: the 25 real templates of ../shared/data/chat-templates rendered for every
// conversation of tests/fixtures/chat/cases.json equal Python jinja2's renderings byte for byte
// (tests/fixtures/chat/expected.jsonl, made by scripts/chat_template_fixtures.py), templates that
// raise do so in one line; loading templates from a tokenizer folder; `rlvr template`.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "rlvr/chat/chat_template.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
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

}  // namespace
}  // namespace rlvr
