// `rlvr score`, `rlvr data synth` and `rlvr data show`: thin adapters over rlvr/data and the
// reward registry. Input and output are JSON lines; errors become rlvr::Error for main().
#include <iostream>
#include <sstream>

#include "commands.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/data/dataset.h"
#include "rlvr/data/prompt.h"
#include "rlvr/data/synth.h"
#include "rlvr/rewards/reward.h"

namespace rlvr::cli {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

struct ScoreArgs {
  std::string rewards = "gsm8k_format,gsm8k_correct";
  std::string weights;
  std::string options = "{}";
};

std::vector<std::unique_ptr<RewardFunction>> score_rewards(const ScoreArgs& a) {
  nlohmann::json all_opts;
  try {
    all_opts = nlohmann::json::parse(a.options);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
    fail("--options: invalid JSON (", e.what(), ")");
  }
  RLVR_CHECK(all_opts.is_object(), "--options must be a JSON object {\"reward name\": {...}}");
  std::vector<std::unique_ptr<RewardFunction>> funcs;
  for (const auto& n : split_commas(a.rewards))
    funcs.push_back(make_reward(n, all_opts.contains(n) ? all_opts[n] : nlohmann::json()));
  RLVR_CHECK(!funcs.empty(), "--rewards: give at least one reward name");
  return funcs;
}

std::vector<double> score_weights(const ScoreArgs& a) {
  std::vector<double> weights;
  for (const auto& w : split_commas(a.weights)) {
    try {
      weights.push_back(std::stod(w));
    } catch (const std::exception&) {
      fail("--weights: '", w, "' is not a number");
    }
  }
  return weights;
}

// One input line -> a sample; every field of the line also reaches the rewards as `fields`.
RewardSample score_sample(const std::string& line, int64_t lineno) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
    fail("stdin:", lineno, ": invalid JSON (", e.what(), ")");
  }
  RLVR_CHECK(j.is_object() && j.contains("completion") && j["completion"].is_string(),
             "stdin:", lineno, ": expected {\"completion\": \"...\", \"answer\": \"...\"}");
  RewardSample s;
  s.completion = j["completion"].get<std::string>();
  if (j.contains("prompt") && j["prompt"].is_string()) s.prompt = j["prompt"].get<std::string>();
  if (j.contains("answer")) s.answer = j["answer"].is_string() ? j["answer"].get<std::string>()
                                                                : j["answer"].dump();
  s.fields = std::move(j);
  return s;
}

void run_score(const ScoreArgs& a) {
  std::vector<std::unique_ptr<RewardFunction>> funcs = score_rewards(a);
  const std::vector<double> weights = score_weights(a);
  std::vector<RewardSample> batch;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      batch.push_back(score_sample(line, lineno));
  }
  RewardResult res = score_all(funcs, weights, batch);  // one batch: external rewards see all
  for (size_t i = 0; i < batch.size(); ++i) {
    nlohmann::ordered_json out = {{"rewards", nlohmann::ordered_json::object()}};  // --rewards order
    for (size_t k = 0; k < funcs.size(); ++k) out["rewards"][funcs[k]->name()] = res.per_func[k][i];
    out["total"] = res.total[i];
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  for (const auto& f : funcs) {  // the counters that training logs as metrics, when not zero
    auto counters = f->counters();
    counters.insert(counters.begin(), {"errors", f->errors()});
    for (const auto& [key, n] : counters)
      if (n > 0) std::cerr << "rlvr score: rewards/" << f->name() << "/" << key << " = " << n << "\n";
  }
}

struct SynthArgs {
  int64_t n = 100;
  uint64_t seed = 0;
  std::string steps = "1..2";
  int64_t max_number = 9;
  std::string ops = "+-";
  std::string split = "train";
  int64_t test_percent = 20;
  std::string split_by = "skeleton";
};

void run_synth(const SynthArgs& a) {
  SynthOptions o;
  size_t dots = a.steps.find("..");
  try {
    if (dots == std::string::npos) {
      o.min_steps = o.max_steps = std::stoll(a.steps);
    } else {
      o.min_steps = std::stoll(a.steps.substr(0, dots));
      o.max_steps = std::stoll(a.steps.substr(dots + 2));
    }
  } catch (const std::exception&) {
    fail("--steps: '", a.steps, "' is not A..B (e.g. 1..3) or a single number");
  }
  o.max_number = a.max_number;
  o.ops = a.ops;
  o.test_percent = a.test_percent;
  RLVR_CHECK(a.split_by == "skeleton" || a.split_by == "text", "--split-by: '", a.split_by,
             "' is not one of skeleton, text");
  o.split_by_text = a.split_by == "text";
  for (const auto& p : synth_problems(a.n, a.seed, o, parse_split(a.split)))
    std::cout << gsm8k_json_line(p) << "\n";
}

struct ShowArgs {
  std::string data, fewshot_data, format = "auto", part = "full", tokenizer, prompt_style = "gsm8k";
  std::string system_prompt, chat_template_kwargs = "{}";  // chat style
  int64_t shots = 8, index = 0;  // code style: 0 unless --shots is given
  uint64_t seed = 42;
  bool per_problem = false, chat = false;
};

// The prompt options of --prompt-style and the flags; a chat prompt's template comes from
// --tokenizer's folder.
PromptOptions show_prompt_options(const ShowArgs& a, const std::vector<Problem>& problems) {
  PromptOptions popt = prompt_style_options(parse_prompt_style(a.prompt_style));
  RLVR_CHECK(a.prompt_style != "code" || a.shots == 0, "--prompt-style code takes no exemplars; leave out --shots or give 0");
  popt.shots = a.shots;
  popt.seed = a.seed;
  popt.per_problem_shots = a.per_problem;
  popt.system_prompt = a.system_prompt;
  try {
    popt.chat_template_kwargs = ChatTemplate::json::parse(a.chat_template_kwargs);
  } catch (const nlohmann::json::exception& e) {
    fail("--chat-template-kwargs: invalid JSON (", e.what(), ")");
  }
  RLVR_CHECK(popt.chat_template_kwargs.is_object(), "--chat-template-kwargs must be a JSON object");
  if (needs_chat_template(popt, problems)) {
    RLVR_CHECK(!a.tokenizer.empty(), "a chat prompt renders with the model's chat template: give --tokenizer, the "
               "model folder holding tokenizer_config.json");
    load_chat_template(&popt, problems, is_directory(a.tokenizer) ? a.tokenizer : parent_dir(a.tokenizer));
  }
  return popt;
}

void run_show(const ShowArgs& a) {
  DataOptions dopt;
  dopt.format = parse_data_format(a.format);
  std::vector<Problem> problems = load_problems(a.data, dopt);
  RLVR_CHECK(a.index >= 0 && a.index < static_cast<int64_t>(problems.size()), "--index ", a.index,
             " out of range: ", a.data, " has ", problems.size(), " problems");
  std::string pool_path = a.fewshot_data.empty() ? a.data : a.fewshot_data;
  PromptBuilder builder(a.shots > 0 ? load_problems(pool_path, dopt) : std::vector<Problem>{},
                        show_prompt_options(a, problems));
  PromptParts parts = builder.build(problems[a.index]);
  if (a.part == "prefix") std::cout << parts.prefix;
  else if (a.part == "suffix") std::cout << parts.suffix;
  else if (a.part == "full") std::cout << parts.full();
  else fail("--part must be full, prefix or suffix, got '", a.part, "'");
  std::cout.flush();
  std::cerr << "prompt: " << parts.full().size() << " bytes (prefix " << parts.prefix.size()
            << ", suffix " << parts.suffix.size() << "); reference answer: "
            << problems[a.index].answer << "\n";
  if (!a.tokenizer.empty()) {
    Tokenizer tok = Tokenizer::load(a.tokenizer);
    std::cerr << "tokens (" << tok.path() << "): " << tok.encode(parts.full()).size() << " (prefix "
              << tok.encode(parts.prefix).size() << ", suffix " << tok.encode(parts.suffix).size() << ")\n";
  }
}

}  // namespace

void add_data_commands(CLI::App& app, CLI::App& /*bench*/) {
  auto score_args = std::make_shared<ScoreArgs>();
  CLI::App* score = app.add_subcommand(
      "score", "Score completions: reads {\"completion\",\"answer\"[,\"prompt\"], any other "
               "field} JSON lines on stdin (every field reaches the rewards), writes "
               "{\"rewards\": {...}, \"total\": x} per line (null = not applicable)");
  score->add_option("--rewards", score_args->rewards,
                    "Comma-separated reward names (" + [] {
                      std::string s;
                      for (const auto& n : known_rewards()) s += (s.empty() ? "" : ", ") + n;
                      return s;
                    }() + ")");
  score->add_option("--weights", score_args->weights, "Comma-separated weights (default: all 1)");
  score->add_option("--options", score_args->options,
                    "JSON object of per-reward options, e.g. '{\"regex\": {\"pattern\": \"\\\\d+\"}}'");
  score->callback([score_args] { run_score(*score_args); });

  CLI::App* data = app.add_subcommand("data", "Datasets and prompts (synth, show)");
  data->require_subcommand(1);

  auto synth_args = std::make_shared<SynthArgs>();
  CLI::App* synth = data->add_subcommand(
      "synth", "Write synthetic multi-step arithmetic word problems as GSM8K JSONL on stdout");
  synth->add_option("--n", synth_args->n, "Number of problems");
  synth->add_option("--seed", synth_args->seed, "Random seed");
  synth->add_option("--steps", synth_args->steps, "Steps per problem, A..B or N");
  synth->add_option("--max-number", synth_args->max_number, "Largest number in a question");
  synth->add_option("--ops", synth_args->ops, "Operations among + - * (* doubles or triples)");
  synth->add_option("--split", synth_args->split, "train or test (disjoint by construction)");
  synth->add_option("--test-percent", synth_args->test_percent,
                    "Share of arithmetic skeletons reserved for the test split");
  synth->add_option("--split-by", synth_args->split_by,
                    "skeleton: test arithmetic never seen in train; text: test questions never seen "
                    "in train (their arithmetic may be)");
  synth->callback([synth_args] { run_synth(*synth_args); });

  auto show_args = std::make_shared<ShowArgs>();
  CLI::App* show = data->add_subcommand(
      "show", "Print the exact prompt for one problem (stdout: the prompt bytes only)");
  show->add_option("--data", show_args->data, "JSONL file with the problem")->required();
  show->add_option("--fewshot-data", show_args->fewshot_data,
                   "JSONL file the exemplars come from (default: --data)");
  show->add_option("--shots", show_args->shots, "Number of exemplars (k)");
  show->add_option("--index", show_args->index, "0-based problem index in --data");
  show->add_option("--seed", show_args->seed, "Exemplar seed");
  show->add_option("--format", show_args->format, "auto, gsm8k or jsonl");
  show->add_option("--part", show_args->part, "full, prefix or suffix");
  show->add_option("--tokenizer", show_args->tokenizer,
                   "tokenizer.json or model directory: also print the prompt's token count; chat prompts take "
                   "the chat template of its folder");
  show->add_flag("--per-problem-shots", show_args->per_problem,
                 "Pick exemplars per problem instead of one shared set");
  show->add_option("--prompt-style", show_args->prompt_style,
                   "gsm8k (k-shot Question/Solution) | code (zero-shot code tasks; --shots defaults to 0) | chat "
                   "(the chat template of --tokenizer's folder over --system-prompt, the shots as turns, the question)");
  show->add_flag("--chat", show_args->chat, "short for --prompt-style chat");
  show->add_option("--system-prompt", show_args->system_prompt, "chat style: the first (system) turn (default none)");
  show->add_option("--chat-template-kwargs", show_args->chat_template_kwargs,
                   "JSON object of extra chat template variables, e.g. '{\"enable_thinking\": false}'");
  show->callback([show_args, show] {
    if (show_args->chat) show_args->prompt_style = "chat";
    if (show->count("--shots") == 0 && show_args->prompt_style == "code") show_args->shots = 0;
    run_show(*show_args);
  });
}

}  // namespace rlvr::cli
