// evaluate(): prompts -> token ids and engine waves (prompt_request.h) -> per-completion answers
// and verdicts -> score_problem / summarize_scores. The scoring rules themselves live in
// answer/answer.h and eval/report.h.
#include "rlvr/evaluator/evaluator.h"

#include <algorithm>
#include <optional>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/loader/loaded_model.h"
#include "rlvr/answer/answer.h"

namespace rlvr {

namespace {

nlohmann::json opt_json(const std::optional<std::string>& s) {
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

void check_options(const EvalOptions& opt, size_t n_problems) {
  RLVR_CHECK(opt.protocol == "honest" || opt.protocol == "published", "eval protocol '",
             opt.protocol, "' is unknown; use honest or published");
  RLVR_CHECK(opt.n_samples >= 1, "eval n_samples must be >= 1, got ", opt.n_samples);
  RLVR_CHECK(opt.n_samples == 1 || opt.temperature > 0, "eval n_samples = ", opt.n_samples,
             " with temperature 0 gives K identical greedy completions; set temperature > 0");
  RLVR_CHECK(opt.max_new_tokens >= 1, "eval max_new_tokens must be >= 1, got ", opt.max_new_tokens);
  RLVR_CHECK(n_problems > 0, "eval: no problems to evaluate (empty data file or --limit 0)");
}

}  // namespace

namespace {

// The engine request every wave shares: sampling, stops and EOS (prompts come from the builder).
GenerateRequest base_request(Engine& engine, const Tokenizer& tok, const EvalOptions& opt) {
  GenerateRequest base;
  base.n = opt.n_samples;
  base.max_new_tokens = opt.max_new_tokens;
  base.sampling.temperature = opt.temperature;
  base.sampling.top_p = opt.top_p;
  base.seed = opt.seed;
  base.eos_ids = merge_eos_ids(engine.model()->config().eos_token_ids, tok.eos_ids());
  if (opt.protocol != "published") base.stop_strings = opt.prompt.stop;
  base.decode = stream_decoding(tok);
  base.max_batch_seqs = opt.max_batch_seqs;
  return base;
}

// One completions.jsonl row: the completion with its extracted answers and verdicts.
nlohmann::json completion_row(const EvalOptions& opt, int64_t i, int64_t k, const Problem& p,
                              int64_t prompt_tokens, const std::string& prompt, const Completion& c) {
  auto strict = extract_strict(c.text);
  auto flexible = opt.protocol == "published" ? extract_published(prompt + c.text) : extract_flexible(c.text);
  return {{"model", opt.model_label},
          {"adapter", opt.adapter_label},
          {"protocol", opt.protocol},
          {"shots", opt.prompt.shots},
          {"problem_index", i},
          {"sample_index", k},
          {"question", p.question},
          {"reference", p.answer},
          {"prompt_tokens", prompt_tokens},
          {"completion", c.text},
          {"completion_tokens", static_cast<int64_t>(c.ids.size())},
          {"finish_reason", finish_reason_name(c.finish)},
          {"strict_answer", opt_json(strict)},
          {"flexible_answer", opt_json(flexible)},
          {"strict_correct", strict && answers_match(*strict, p.answer)},
          {"flexible_correct", flexible && answers_match(*flexible, p.answer)},
          {"formatted", has_answer_format(c.text)}};
}

// Scores problem i's K completions (comps[i * K + k]) into rows and one ProblemScore.
ProblemScore score_one(const EvalOptions& opt, int64_t i, const Problem& p, const std::string& prompt,
                       int64_t prompt_tokens, const std::vector<Completion>& comps, EvalOutput& out) {
  const int64_t K = opt.n_samples;
  std::vector<std::string> texts;
  std::vector<int64_t> tokens;
  for (int64_t k = 0; k < K; ++k) {
    const Completion& c = comps[i * K + k];
    texts.push_back(c.text);
    tokens.push_back(static_cast<int64_t>(c.ids.size()));
    out.completions.push_back(completion_row(opt, i, k, p, prompt_tokens, prompt, c));
  }
  return score_problem(prompt, texts, tokens, p.answer, opt.protocol);
}

}  // namespace

EvalOutput evaluate(Engine& engine, const Tokenizer& tok, const std::vector<Problem>& problems,
                    const std::vector<Problem>& fewshot_pool, const EvalOptions& opt,
                    const std::function<void(int64_t, int64_t)>& progress) {
  check_options(opt, problems.size());
  const Stopwatch clock;
  const int64_t P = static_cast<int64_t>(problems.size()), K = opt.n_samples;
  PromptBuilder builder(fewshot_pool, opt.prompt);
  std::vector<PromptParts> parts;
  for (const Problem& p : problems) parts.push_back(builder.build(p));
  EvalOutput out;
  out.prompt_ids = tokenize_prompts(tok, parts, opt.max_prompt_length);
  // Waves of max_batch_seqs sequences; samples follow the problem, not the wave.
  const int64_t wave = opt.max_batch_seqs > 0 ? std::max<int64_t>(1, opt.max_batch_seqs / K) : P;
  const auto comps = generate_prompts(engine, out.prompt_ids, base_request(engine, tok, opt), wave, progress);
  std::vector<ProblemScore> scores;
  for (int64_t i = 0; i < P; ++i) {
    const auto prompt_tokens = static_cast<int64_t>(out.prompt_ids.full[i].size());
    scores.push_back(score_one(opt, i, problems[i], parts[i].full(), prompt_tokens, comps, out));
  }
  out.result.model = opt.model_label;
  out.result.adapter = opt.adapter_label;
  out.result.protocol = opt.protocol;
  out.result.shots = opt.prompt.shots;
  summarize_scores(scores, out.result);
  out.result.seconds = clock.seconds();
  return out;
}

}  // namespace rlvr
