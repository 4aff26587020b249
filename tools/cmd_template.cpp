// `rlvr template`: a thin adapter over rlvr::ChatTemplate (the model's Jinja chat template).
// JSON lines in ({"messages": [...], ...}), {"text": ...} lines out; --bench measures it.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "rlvr/chat/chat_template.h"
#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"

namespace rlvr::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct TemplateArgs {
  std::string tokenizer, file, name = "default", date;
  std::vector<std::string> vars;
  bool add_generation_prompt = false;
};

// "name=value": the value as JSON when it parses as JSON, else as a string.
void add_var(ojson& extra, const std::string& spec) {
  const size_t eq = spec.find('=');
  const std::string name = spec.substr(0, eq), value = spec.substr(eq + 1);
  const ojson parsed = ojson::parse(value, nullptr, /*allow_exceptions=*/false);
  extra[name] = parsed.is_discarded() ? ojson(value) : parsed;
}

// Noon (local time) of a YYYY-MM-DD date: the clock strftime_now reads.
std::time_t noon_of(const std::string& date) {
  std::tm tm{};
  char rest = 0;
  RLVR_CHECK(std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &rest) == 3 &&
                 tm.tm_mon >= 1 && tm.tm_mon <= 12 && tm.tm_mday >= 1 && tm.tm_mday <= 31,
             "--date: expected YYYY-MM-DD, got '", date, "'");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

ChatTemplate load(const TemplateArgs& a) {
  ChatTemplate t = a.file.empty() ? ChatTemplate::load(a.tokenizer, a.name) : ChatTemplate::from_file(a.file, a.tokenizer);
  if (!a.date.empty()) t.set_now(noon_of(a.date));
  return t;
}

ChatTemplate::Chat defaults_of(const TemplateArgs& a) {
  ChatTemplate::Chat d;
  d.add_generation_prompt = a.add_generation_prompt;
  for (const std::string& v : a.vars) add_var(d.extra, v);
  return d;
}

std::string read_stdin() {
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
  return data;
}

void run_template(const TemplateArgs& a) {
  const ChatTemplate tmpl = load(a);
  const std::string in = read_stdin();
  render_chat_jsonl(tmpl, in, defaults_of(a), [](std::string_view chunk) {
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
  });
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// GSM8K-style questions as single-turn chats (with the generation prompt), rendered `reps` times: the render alone and the
// `rlvr template` loop (JSON in and out); MB/s of rendered text.
void run_bench(const TemplateArgs& a, const std::string& data, int reps) {
  RLVR_CHECK(reps >= 1, "--reps must be at least 1");
  const ChatTemplate tmpl = load(a);
  std::vector<ChatTemplate::Chat> chats;
  std::string jsonl;
  for (const auto& row : read_jsonl_file(data)) {
    if (!row.is_object() || !row.contains("question") || !row["question"].is_string()) continue;
    ChatTemplate::Chat c;
    c.messages = ojson::array({{{"role", "user"}, {"content", row["question"].get<std::string>()}}});
    c.add_generation_prompt = true;
    c.extra = defaults_of(a).extra;
    jsonl += ojson{{"messages", c.messages}, {"add_generation_prompt", true}}.dump() + "\n";
    chats.push_back(std::move(c));
  }
  RLVR_CHECK(!chats.empty(), data, ": no string field \"question\" found");
  size_t bytes = 0, out_bytes = 0;
  std::vector<double> render_s, jsonl_s;
  for (int r = 0; r < reps; ++r) {
    const Stopwatch clock;
    bytes = 0;
    for (const auto& c : chats) bytes += tmpl.render(c).size();
    render_s.push_back(clock.seconds());
  }
  for (int r = 0; r < reps; ++r) {
    const Stopwatch clock;
    out_bytes = 0;
    render_chat_jsonl(tmpl, jsonl, defaults_of(a), [&](std::string_view c) { out_bytes += c.size(); });
    jsonl_s.push_back(clock.seconds());
  }
  const double mb = bytes / 1e6, r = median(render_s), j = median(jsonl_s);
  std::printf("template  %s\n", tmpl.name().c_str());
  std::printf("data      %s: %zu single-turn chats, %.2f MB rendered; median of %d runs, 1 thread\n", data.c_str(),
              chats.size(), mb, reps);
  std::printf("%-34s %9s %9s %12s\n", "pass", "seconds", "MB/s", "chats/s");
  std::printf("%-34s %9.4f %9.2f %12.0f\n", "render", r, mb / r, chats.size() / r);
  std::printf("%-34s %9.4f %9.2f %12.0f\n", "JSONL in/out + render (rlvr template)", j, mb / j, chats.size() / j);
  std::printf("%s\n", ojson{{"mb_per_s", mb / r}, {"jsonl_mb_per_s", mb / j}, {"chats", chats.size()},
                            {"bytes", bytes}, {"jsonl_bytes", out_bytes}, {"reps", reps}}.dump().c_str());
}

void add_template_options(CLI::App* c, TemplateArgs& a) {
  c->add_option("--tokenizer", a.tokenizer,
                "model or tokenizer folder: its tokenizer_config.json (chat_template, special tokens) "
                "or chat_template.jinja")->required();
  c->add_option("--template", a.file, "a Jinja template file to use instead of the folder's");
  c->add_option("--template-name", a.name, "which of a named list of templates in tokenizer_config.json");
  c->add_option("--var", a.vars, "an extra variable name=value (JSON when it parses, else a string), repeatable")
      ->check([](const std::string& s) {
        const size_t eq = s.find('=');
        return eq == std::string::npos || eq == 0 ? std::string("expected name=value, got '" + s + "'") : std::string();
      });
  c->add_flag("--add-generation-prompt", a.add_generation_prompt,
              "end with the assistant's turn opening (a line's \"add_generation_prompt\" wins)");
  c->add_option("--date", a.date, "the date strftime_now() sees, YYYY-MM-DD (default: today)");
}

}  // namespace

void add_template_commands(CLI::App& app, CLI::App& /*bench*/) {
  auto args = std::make_shared<TemplateArgs>();
  auto bench_data = std::make_shared<std::string>();
  auto reps = std::make_shared<int>(5);
  CLI::App* t = app.add_subcommand(
      "template", "Render JSON lines {\"messages\": [...], \"tools\": [...]?, \"add_generation_prompt\": bool?} "
                  "from stdin with the model's chat template to {\"text\": ...} lines");
  add_template_options(t, *args);
  // The benchmark is a mode of this command, not a `rlvr bench` entry: the list of benchmarks
  // is part of the CLI tests' expected messages.
  t->add_option("--bench", *bench_data,
                "instead of stdin: render this JSONL file's \"question\" fields as single-turn chats "
                "(generation prompt on) --reps times and print the speed (MB/s)");
  t->add_option("--reps", *reps, "with --bench: repetitions per measurement; the median is reported");
  t->callback([args, bench_data, reps] {
    if (bench_data->empty()) return run_template(*args);
    run_bench(*args, *bench_data, *reps);
  });
}

}  // namespace rlvr::cli
