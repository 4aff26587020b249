// evaluate(): prompts -> token ids -> this rank's share in engine waves (prompt_request.h) ->
// per-completion rows with answers and verdicts (the judges' rewards, when given, scored on the
// rank's share), all-gathered -> score_problem or score_verdicts / summarize_scores over every
// problem. The scoring rules themselves live in answer/answer.h and eval/report.h.
#include "rlvr/evaluator/evaluator.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"
#include "rlvr/loader/loaded_model.h"
#include "rlvr/answer/answer.h"

namespace rlvr {

RewardSample reward_sample(const Problem& p, const std::string& prompt, const std::string& completion) {
  RewardSample s;
  s.prompt = prompt;
  s.completion = completion;
  s.answer = p.answer;
  s.fields = problem_fields(p);
  return s;
}

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

// Adds each judge's reward ("rewards") and the verdict ("correct": every judge gave 1.0) to the
// rows of this rank's share, row j being a completion of problem first + j / K.
void judge_rows(const EvalOptions& opt, const std::vector<Problem>& problems, const std::vector<PromptParts>& parts,
                int64_t first, std::vector<nlohmann::json>& rows) {
  if (opt.judges.empty() || rows.empty()) return;
  std::vector<RewardSample> batch;
  for (size_t j = 0; j < rows.size(); ++j) {
    const int64_t i = first + static_cast<int64_t>(j) / opt.n_samples;
    batch.push_back(reward_sample(problems[i], parts[i].full(), rows[j].at("completion").get<std::string>()));
  }
  for (nlohmann::json& row : rows) row["correct"] = true;
  for (RewardFunction* judge : opt.judges) {
    const std::vector<double> values = judge->score(batch);
    for (size_t j = 0; j < rows.size(); ++j) {
      rows[j]["rewards"][judge->name()] = std::isnan(values[j]) ? nlohmann::json(nullptr) : nlohmann::json(values[j]);
      if (!(values[j] >= 1.0)) rows[j]["correct"] = false;  // NaN (not applicable) is not correct
    }
  }
}

// Problem i's ProblemScore from its K rows (rows[i * K + k]): the judges' verdicts, or the answer rules.
ProblemScore score_rows(const EvalOptions& opt, int64_t i, const Problem& p, const std::string& prompt,
                        const std::vector<nlohmann::json>& rows) {
  std::vector<std::string> texts;
  std::vector<int64_t> tokens;
  std::vector<bool> correct;
  for (int64_t k = 0; k < opt.n_samples; ++k) {
    const nlohmann::json& row = rows[i * opt.n_samples + k];
    texts.push_back(row.at("completion").get<std::string>());
    tokens.push_back(row.at("completion_tokens").get<int64_t>());
    if (!opt.judges.empty()) correct.push_back(row.at("correct").get<bool>());
  }
  if (!opt.judges.empty()) return score_verdicts(correct, tokens);
  return score_problem(prompt, texts, tokens, p.answer, opt.protocol);
}

// "code" or "code,style": the judges' names, as EvalRunResult::judge.
std::string judge_label(const EvalOptions& opt) {
  std::string out;
  for (const RewardFunction* j : opt.judges) out += (out.empty() ? "" : ",") + j->name();
  return out;
}

// This rank's contiguous share [begin, end) of n problems: the first n % world ranks take one more.
struct Share {
  int64_t begin = 0, end = 0;
};
Share rank_share(int64_t n, int rank, int world) {
  const int64_t base = n / world, extra = n % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

// The share's prompts through the engine, prompt i on random stream i; progress (when given) gets
// the share's count scaled to all P prompts.
std::vector<Completion> generate_share(Engine& engine, const PromptIds& ids, GenerateRequest base, Share s,
                                       int64_t wave, const std::function<void(int64_t, int64_t)>& progress) {
  const auto P = static_cast<int64_t>(ids.full.size());
  for (int64_t i = s.begin; i < s.end; ++i) base.stream_ids.push_back(i);
  std::function<void(int64_t, int64_t)> scaled;
  if (progress) scaled = [&](int64_t done, int64_t n) { progress(done * P / n, P); };
  return generate_prompts(engine, slice_prompts(ids, s.begin, s.end), base, wave, scaled);
}

// Every rank's rows, in rank order (= problem order: the shares are contiguous and in rank order).
std::vector<nlohmann::json> gather_rows(dist::Comm& comm, std::vector<nlohmann::json> rows) {
  if (comm.single()) return rows;
  std::vector<nlohmann::json> all;
  for (const std::string& bytes : comm.all_gather_bytes(nlohmann::json(std::move(rows)).dump()))
    for (nlohmann::json& row : nlohmann::json::parse(bytes)) all.push_back(std::move(row));
  return all;
}

}  // namespace

EvalOutput evaluate(Engine& engine, const Tokenizer& tok, const std::vector<Problem>& problems,
                    const std::vector<Problem>& fewshot_pool, const EvalOptions& opt,
                    const std::function<void(int64_t, int64_t)>& progress, dist::Comm& comm) {
  check_options(opt, problems.size());
  const Stopwatch clock;
  const int64_t P = static_cast<int64_t>(problems.size()), K = opt.n_samples;
  PromptBuilder builder(fewshot_pool, opt.prompt);
  std::vector<PromptParts> parts;
  for (const Problem& p : problems) parts.push_back(builder.build(p));
  EvalOutput out;
  out.prompt_ids = tokenize_prompts(tok, parts, opt.max_prompt_length);
  // Waves of max_batch_seqs sequences; samples follow the problem, not the wave or the rank.
  const int64_t wave = opt.max_batch_seqs > 0 ? std::max<int64_t>(1, opt.max_batch_seqs / K) : P;
  const Share share = rank_share(P, comm.rank(), comm.world());
  const auto comps = generate_share(engine, out.prompt_ids, base_request(engine, tok, opt), share, wave,
                                    comm.is_main() ? progress : nullptr);
  std::vector<nlohmann::json> rows;
  for (int64_t i = share.begin; i < share.end; ++i)
    for (int64_t k = 0; k < K; ++k)
      rows.push_back(completion_row(opt, i, k, problems[i], static_cast<int64_t>(out.prompt_ids.full[i].size()),
                                    parts[i].full(), comps[(i - share.begin) * K + k]));
  judge_rows(opt, problems, parts, share.begin, rows);
  out.completions = gather_rows(comm, std::move(rows));
  std::vector<ProblemScore> scores;
  for (int64_t i = 0; i < P; ++i) scores.push_back(score_rows(opt, i, problems[i], parts[i].full(), out.completions));
  out.result.model = opt.model_label;
  out.result.adapter = opt.adapter_label;
  out.result.protocol = opt.protocol;
  out.result.shots = opt.prompt.shots;
  out.result.judge = judge_label(opt);
  summarize_scores(scores, out.result);
  out.result.seconds = comm.all_reduce(clock.seconds(), dist::ReduceOp::kMax);
  return out;
}

RewardCounts reward_counts(const std::vector<std::unique_ptr<RewardFunction>>& funcs, dist::Comm& comm) {
  nlohmann::json mine = nlohmann::json::array();
  for (const auto& f : funcs) {
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& [name, n] : f->counters()) counters[name] = n;
    mine.push_back({{"errors", f->errors()}, {"counters", counters}});
  }
  RewardCounts out;
  out.errors.assign(funcs.size(), 0.0);
  for (const std::string& part : comm.all_gather_bytes(mine.dump())) {
    const nlohmann::json rank = nlohmann::json::parse(part);
    for (size_t k = 0; k < funcs.size(); ++k) {
      out.errors[k] += rank[k].at("errors").get<double>();
      for (const auto& [name, n] : rank[k].at("counters").items())
        out.counters["rewards/" + funcs[k]->name() + "/" + name] += n.get<double>();
    }
  }
  return out;
}

}  // namespace rlvr
