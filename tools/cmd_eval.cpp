// The evaluation command: `rlvr eval` (k-shot sweep of a model and its adapters through
// rlvr::evaluate, writing results.json/.md, report.html and completions.jsonl; correctness by the
// GSM8K answer rules, or by rewards such as `code` with --rewards). `rlvr report`
// is torch-free and lives in cmd_report.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli_common.h"
#include "commands.h"
#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/core/progress.h"
#include "rlvr/data/dataset.h"
#include "rlvr/dist/comm.h"
#include "rlvr/evaluator/evaluator.h"
#include "rlvr/eval/report.h"
#include "rlvr/rewards/reward.h"

namespace rlvr::cli {

namespace {

struct EvalArgs {
  ModelFlags model;
  std::string data, fewshot_data, out, protocol = "honest", ddp_backend = "auto", prompt_style = "gsm8k";
  std::vector<std::string> rewards;             // judges: rewards that decide correctness
  std::string reward_options = "{}";
  std::string system_prompt, chat_template_kwargs = "{}";  // chat style
  bool chat = false;                                       // --chat: --prompt-style chat
  std::vector<int64_t> shots = {8};             // code style: {0} unless --shots is given
  std::optional<int64_t> limit;  // none: every problem
  int64_t n_samples = 1, max_new_tokens = 256, max_batch_seqs = 64, ddp_timeout = 1800;
  double temperature = 0.0, top_p = 1.0;
  bool temperature_given = false;
  uint64_t seed = 0, shots_seed = 42;
};

// Joins the data-parallel job the environment describes (nothing without a launcher); with
// several ranks a CUDA --device becomes this rank's cuda:LOCAL_RANK.
void join_job(EvalArgs& a) {
  RLVR_CHECK(a.ddp_timeout > 0, "--ddp-timeout must be > 0 seconds, got ", a.ddp_timeout);
  dist::ConnectOptions co;
  co.backend = dist::parse_backend(a.ddp_backend);
  co.cuda = torch::Device(a.model.device).is_cuda();
  co.timeout = std::chrono::seconds(a.ddp_timeout);
  dist::join(co);
  a.model.device = dist::rank_device(a.model.device, dist::world().world(), dist::world().local_rank());
}

struct EvalData {
  std::vector<Problem> problems, pool;
};

EvalData load_eval_data(const EvalArgs& a) {
  RLVR_CHECK(file_exists(join_path(a.model.dir, "tokenizer.json")), "--model ", a.model.dir,
             ": no tokenizer.json; copy the model's tokenizer files (tokenizer.json, tokenizer_config.json) into it");
  RLVR_CHECK(a.protocol == "honest" || a.protocol == "published", "--protocol ", a.protocol,
             ": unknown; use honest or published");
  RLVR_CHECK(!a.shots.empty(), "--shots: give at least one count, e.g. --shots 0,2,4,8");
  const bool code_style = parse_prompt_style(a.prompt_style) == PromptStyle::kCode;
  for (int64_t k : a.shots)
    RLVR_CHECK(!code_style || k == 0, "--prompt-style code takes no exemplars; leave out --shots or give 0");
  int64_t max_shots = 0;
  for (int64_t k : a.shots) {
    RLVR_CHECK(k >= 0, "--shots: ", k, " is negative");
    max_shots = std::max(max_shots, k);
  }
  RLVR_CHECK(max_shots == 0 || !a.fewshot_data.empty(), "--shots ", max_shots,
             " needs --fewshot-data (the train split the exemplars come from)");
  RLVR_CHECK(file_exists(a.data), "--data ", a.data, ": no such file");
  RLVR_CHECK(a.fewshot_data.empty() || file_exists(a.fewshot_data), "--fewshot-data ", a.fewshot_data, ": no such file");
  RLVR_CHECK(a.limit.value_or(0) >= 0, "--limit must be >= 0, got ", *a.limit,
             "; leave it out to evaluate every problem");
  DataOptions dopt;
  dopt.limit = a.limit.value_or(-1);
  EvalData d;
  d.problems = load_problems(a.data, dopt);
  RLVR_CHECK(!d.problems.empty(), "--data ", a.data, ": no problems (empty file or --limit 0)");
  if (!a.fewshot_data.empty()) d.pool = load_problems(a.fewshot_data, DataOptions{});
  return d;
}

// A flag's JSON value; invalid JSON is one error naming the flag.
template <class Json>
Json parse_json_flag(const char* flag, const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // a parse error, or a number out of range
    fail(flag, ": invalid JSON (", e.what(), ")");
  }
}

EvalOptions eval_options(const EvalArgs& a) {
  EvalOptions opt;
  opt.protocol = a.protocol;
  opt.n_samples = a.n_samples;
  opt.temperature = a.temperature_given ? a.temperature : (a.n_samples > 1 ? 1.0 : 0.0);
  opt.top_p = a.top_p;
  SamplingParams sampling;
  sampling.temperature = opt.temperature;
  sampling.top_p = opt.top_p;
  check_sampling(sampling);
  RLVR_CHECK(a.n_samples >= 1, "--n-samples must be >= 1, got ", a.n_samples);
  RLVR_CHECK(a.n_samples == 1 || opt.temperature > 0, "--n-samples ", a.n_samples,
             " with --temperature 0 gives identical greedy completions; drop --temperature or set it > 0");
  opt.max_new_tokens = a.max_new_tokens;
  opt.max_batch_seqs = a.max_batch_seqs;
  opt.seed = a.seed;
  opt.prompt = prompt_style_options(parse_prompt_style(a.prompt_style));
  opt.prompt.seed = a.shots_seed;
  opt.prompt.system_prompt = a.system_prompt;
  opt.prompt.chat_template_kwargs = parse_json_flag<ChatTemplate::json>("--chat-template-kwargs", a.chat_template_kwargs);
  RLVR_CHECK(opt.prompt.chat_template_kwargs.is_object(), "--chat-template-kwargs must be a JSON object, e.g. "
             "'{\"enable_thinking\": false}'");
  return opt;
}

// The report's model name: the directory, marked when its decoder weights are held in 4 bits.
std::string model_label(const std::string& dir, const CausalLMImpl& m) {
  const auto q = m.quantized_weights();
  if (q.empty()) return dir;
  return dir + " (4-bit " + quant::quant_type_name(q[0].second->type) + (q[0].second->nested ? ", double quant)" : ")");
}

// The judges of --rewards with their --reward-options ({"name": {...}}); none without --rewards.
std::vector<std::unique_ptr<RewardFunction>> make_judges(const EvalArgs& a) {
  const auto options = parse_json_flag<nlohmann::json>("--reward-options", a.reward_options);
  RLVR_CHECK(options.is_object(), "--reward-options must be a JSON object {\"reward name\": {...}}");
  for (const auto& [name, _] : options.items())
    RLVR_CHECK(std::find(a.rewards.begin(), a.rewards.end(), name) != a.rewards.end(), "--reward-options names '",
               name, "', which is not in --rewards");
  std::vector<std::unique_ptr<RewardFunction>> judges;
  for (const std::string& name : a.rewards)
    judges.push_back(make_reward(name, options.value(name, nlohmann::json::object())));
  return judges;
}

// Each judge's errors and counters, summed over the ranks, on rank 0's stderr.
void print_judge_counts(const std::vector<std::unique_ptr<RewardFunction>>& judges, dist::Comm& comm) {
  const RewardCounts counts = reward_counts(judges, comm);
  if (!comm.is_main()) return;
  for (const auto& [key, n] : counts.counters) std::fprintf(stderr, "%s = %.0f\n", key.c_str(), n);
  for (size_t k = 0; k < judges.size(); ++k)
    if (counts.errors[k] > 0) std::fprintf(stderr, "rewards/%s/errors = %.0f\n", judges[k]->name().c_str(), counts.errors[k]);
}

// The model a variant evaluates: the base model ("") or the base with one adapter, freshly loaded
// (no LoRA left over from another adapter).
LoadedModel load_variant(const ModelFlags& f, const std::string& adapter) {
  ModelFlags mf = f;
  mf.adapters.clear();
  if (!adapter.empty()) mf.adapters = {adapter};
  return load_for_cli(mf);
}

// One evaluation (a model variant at one shot count) on every rank; rank 0 draws the progress bar
// and prints its engine's token counts.
EvalOutput evaluate_one(Engine& engine, const Tokenizer& tok, const EvalData& d, const EvalOptions& opt) {
  const bool is_main = dist::world().is_main();
  const std::string label = (opt.adapter_label.empty() ? std::string("base") : opt.adapter_label) + " " +
                            std::to_string(opt.prompt.shots) + "-shot";
  Progress bar(0, static_cast<int64_t>(d.problems.size()), "problems", Progress::Style::kBar);
  auto progress = [&](int64_t done, int64_t) { bar.report(done, label); };
  if (is_main) bar.report(0, label);
  engine.reset_stats();
  EvalOutput res = evaluate(engine, tok, d.problems, d.pool, opt, progress);
  const EngineStats& st = engine.stats();
  if (is_main)
    std::fprintf(stderr, "  %sprefill %lld tokens in %.1f s, decode %lld tokens in %.1f s (%.1f tokens/s)\n",
                 dist::world().single() ? "" : "rank 0: ", static_cast<long long>(st.prefill_tokens), st.prefill_s,
                 static_cast<long long>(st.decode_tokens), st.decode_s,
                 st.decode_s > 0 ? st.decode_tokens / st.decode_s : 0.0);
  return res;
}

// Every rank evaluates (its share of) each variant; rank 0 alone prints and writes the files.
void run_eval(EvalArgs a) {
  join_job(a);
  dist::Comm& comm = dist::world();
  EvalData d;
  EvalOptions opt;
  std::unique_ptr<std::ofstream> comp_out;
  std::vector<std::unique_ptr<RewardFunction>> judges;
  comm.agree([&] {  // a bad flag or file stops every rank with one line
    d = load_eval_data(a);
    opt = eval_options(a);
    load_chat_template(&opt.prompt, d.problems, a.model.dir);
    judges = make_judges(a);
    for (const auto& j : judges) opt.judges.push_back(j.get());
    check_model_flags(a.model);
    // Every adapter loads onto the base (files, config, shapes) before anything is evaluated.
    for (const std::string& adapter : a.model.adapters) load_variant(a.model, adapter);
    if (a.out.empty() || !comm.is_main()) return;
    make_dirs(a.out);
    comp_out = std::make_unique<std::ofstream>(join_path(a.out, "completions.jsonl"), std::ios::binary);
    RLVR_CHECK(*comp_out, "--out ", a.out, ": cannot write completions.jsonl");
  });
  if (a.protocol == "published" && comm.is_main())
    std::cerr << "protocol published (grpo-spec 1): no stop sequence, flexible = last number of prompt + output; "
                 "for comparison only\n";

  std::vector<std::string> variants = {""};  // "" = base model
  variants.insert(variants.end(), a.model.adapters.begin(), a.model.adapters.end());
  std::vector<EvalRunResult> runs;
  for (const std::string& adapter : variants) {
    LoadedModel lm;
    comm.agree([&] { lm = load_variant(a.model, adapter); });
    Engine engine(lm.model);
    opt.model_label = model_label(a.model.dir, *lm.model);
    opt.adapter_label = adapter;
    for (int64_t k : a.shots) {
      opt.prompt.shots = k;
      EvalOutput res = evaluate_one(engine, *lm.tokenizer, d, opt);
      runs.push_back(res.result);
      if (comp_out)
        for (const auto& c : res.completions) *comp_out << c.dump() << "\n";
    }
  }
  print_judge_counts(judges, comm);
  if (!comm.is_main()) return;
  if (comp_out) {
    comp_out->close();
    RLVR_CHECK(!comp_out->fail(), "--out ", a.out, ": writing completions.jsonl failed");
    write_eval_outputs(a.out, runs);
  }
  std::cout << results_markdown(runs);
}

}  // namespace

void add_eval_commands(CLI::App& app, CLI::App& /*bench*/) {
  auto ea = std::make_shared<EvalArgs>();
  CLI::App* ev = app.add_subcommand("eval", "Evaluate a model (and adapters) on GSM8K-style problems with k-shot prompts");
  add_model_flags(ev, ea->model, true);
  ev->add_option("--data", ea->data, "problems to evaluate (JSONL, e.g. GSM8K test.jsonl)")->required();
  ev->add_option("--fewshot-data", ea->fewshot_data, "exemplar pool (JSONL, the train split); needed when shots > 0");
  ev->add_option("--shots", ea->shots, "comma-separated shot counts, e.g. 0,2,4,8 (default 8; 0 with --prompt-style code)")
      ->delimiter(',');
  ev->add_option("--prompt-style", ea->prompt_style,
                 "gsm8k (k-shot Question/Solution) | code (zero-shot code tasks: the row's prompt and a fenced-answer "
                 "instruction) | chat (the model's chat template: --system-prompt, the shots as turns, the question)");
  ev->add_flag("--chat", ea->chat, "short for --prompt-style chat (Instruct models)");
  ev->add_option("--system-prompt", ea->system_prompt, "chat style: the first (system) turn (default none)");
  ev->add_option("--chat-template-kwargs", ea->chat_template_kwargs,
                 "JSON object of extra chat template variables, e.g. '{\"enable_thinking\": false}'");
  ev->add_option("--rewards", ea->rewards,
                 "comma-separated rewards that decide correctness instead of the GSM8K answer rules (e.g. code): a "
                 "completion is correct when each gives 1.0; prints pass@1 and pass@K with 95% intervals")
      ->delimiter(',');
  ev->add_option("--reward-options", ea->reward_options,
                 "JSON object of options per reward of --rewards, e.g. '{\"code\": {\"timeout_s\": 5}}'");
  ev->add_option("--shots-seed", ea->shots_seed, "seed that picks the exemplars (default 42)");
  ev->add_option("--limit", ea->limit, "evaluate the first N >= 0 problems (default all)");
  ev->add_option("--n-samples", ea->n_samples, "K completions per problem; K > 1 adds pass@K and maj@K");
  ev->add_option("--temperature", ea->temperature, ">= 0; 0 = greedy (default 0; 1 when --n-samples > 1)");
  ev->add_option("--top-p", ea->top_p, "nucleus sampling mass in (0, 1] when sampling (1 = off)");
  ev->add_option("--max-new-tokens", ea->max_new_tokens, "completion tokens at most (default 256)");
  ev->add_option("--protocol", ea->protocol, "honest (default) | published (no stop, last number of prompt+output)");
  ev->add_option("--out", ea->out, "write results.json, results.md, report.html, completions.jsonl here");
  ev->add_option("--max-batch-seqs", ea->max_batch_seqs, "sequences decoded at once (default 64; 0 = all)");
  ev->add_option("--seed", ea->seed, "sampling seed");
  ev->add_option("--ddp-backend", ea->ddp_backend, "ranks started by a launcher: auto (nccl on CUDA, gloo on CPU) | gloo | nccl");
  ev->add_option("--ddp-timeout", ea->ddp_timeout, "ranks started by a launcher: seconds a rendezvous or collective may take (default 1800)");
  ev->callback([ea, ev] {
    ea->temperature_given = ev->count("--temperature") > 0;
    if (ea->chat) ea->prompt_style = "chat";
    if (ev->count("--shots") == 0 && ea->prompt_style == "code") ea->shots = {0};
    run_eval(*ea);
  });

}

}  // namespace rlvr::cli
