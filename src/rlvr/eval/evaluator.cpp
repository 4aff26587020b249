// evaluate(): prompts -> token ids grouped by shared prefix -> Engine::generate in waves ->
// per-completion answers and verdicts -> score_problem / summarize_scores. The scoring rules
// themselves live in rlvr/answer/answer.h and report.h.
#include "rlvr/eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "rlvr/answer/answer.h"
#include "rlvr/core/error.h"

namespace rlvr {

namespace {

std::vector<int64_t> widen(const std::vector<int32_t>& ids) { return {ids.begin(), ids.end()}; }

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

// Problems that go to the engine together: same shared prefix ids.
struct Group {
  std::vector<int64_t> prefix;   // (T_prefix) shared by every member
  std::vector<int64_t> members;  // problem indices, in order
};

}  // namespace

PromptIds tokenize_prompt(const Tokenizer& tok, const PromptParts& parts,
                          const std::vector<int32_t>* prefix_ids) {
  PromptIds out;
  std::vector<int32_t> suffix = tok.encode(parts.suffix);
  if (parts.prefix.empty()) {
    out.prompt = widen(suffix);
    return out;
  }
  std::vector<int32_t> prefix = prefix_ids ? *prefix_ids : tok.encode(parts.prefix);
  std::vector<int32_t> joint = tok.encode(parts.full());
  bool same = joint.size() == prefix.size() + suffix.size() &&
              std::equal(prefix.begin(), prefix.end(), joint.begin()) &&
              std::equal(suffix.begin(), suffix.end(), joint.begin() + prefix.size());
  if (same) {
    out.prefix = widen(prefix);
    out.prompt = widen(suffix);
  } else {
    out.prompt = widen(joint);
    out.split = false;
  }
  return out;
}

std::vector<int64_t> eval_eos_ids(const ModelConfig& cfg, const Tokenizer& tok) {
  std::vector<int64_t> ids = cfg.eos_token_ids;
  for (int32_t id : tok.eos_ids())
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return ids;
}

EvalOutput evaluate(Engine& engine, const Tokenizer& tok, const std::vector<Problem>& problems,
                    const std::vector<Problem>& fewshot_pool, const EvalOptions& opt,
                    const std::function<void(int64_t, int64_t)>& progress) {
  check_options(opt, problems.size());
  const auto t0 = std::chrono::steady_clock::now();
  const bool published = opt.protocol == "published";
  const int64_t P = static_cast<int64_t>(problems.size()), K = opt.n_samples;
  PromptBuilder builder(fewshot_pool, opt.prompt);

  // Prompts, tokenized; the few-shot block once per distinct prefix string.
  std::vector<PromptParts> parts(P);
  std::vector<std::vector<int64_t>> prompt_ids(P);
  std::vector<int64_t> prompt_len(P);  // prefix + own tokens
  std::map<std::string, std::vector<int32_t>> prefix_ids;  // prefix text -> its ids
  std::vector<Group> groups;
  std::map<std::vector<int64_t>, size_t> group_of;  // prefix ids -> index in groups
  for (int64_t i = 0; i < P; ++i) {
    parts[i] = builder.build(problems[i]);
    const std::vector<int32_t>* pre = nullptr;
    if (!parts[i].prefix.empty()) {
      auto it = prefix_ids.find(parts[i].prefix);
      if (it == prefix_ids.end()) it = prefix_ids.emplace(parts[i].prefix, tok.encode(parts[i].prefix)).first;
      pre = &it->second;
    }
    PromptIds ids = tokenize_prompt(tok, parts[i], pre);
    auto [g, fresh] = group_of.emplace(ids.prefix, groups.size());
    if (fresh) groups.push_back(Group{ids.prefix, {}});
    groups[g->second].members.push_back(i);
    prompt_len[i] = static_cast<int64_t>(ids.prefix.size() + ids.prompt.size());
    prompt_ids[i] = std::move(ids.prompt);
  }

  GenerateRequest base;
  base.n = K;
  base.max_new_tokens = opt.max_new_tokens;
  base.sampling.temperature = opt.temperature;
  base.sampling.top_p = opt.top_p;
  base.eos_ids = eval_eos_ids(engine.model()->config(), tok);
  if (!published) base.stop_strings = opt.prompt.stop;
  base.decode = [&tok](const std::vector<int64_t>& ids) {
    return tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
  };
  base.max_batch_seqs = opt.max_batch_seqs;
  const int64_t wave = opt.max_batch_seqs > 0 ? std::max<int64_t>(1, opt.max_batch_seqs / K) : P;

  // Completions of problem i: comps[i * K + k].
  std::vector<Completion> comps(P * K);
  int64_t done = 0;
  for (const Group& g : groups) {
    const int64_t M = static_cast<int64_t>(g.members.size());
    for (int64_t start = 0; start < M; start += wave) {
      const int64_t end = std::min(M, start + wave);
      GenerateRequest req = base;
      req.shared_prefix = g.prefix;
      for (int64_t j = start; j < end; ++j) {
        req.prompts.push_back(prompt_ids[g.members[j]]);
        req.stream_ids.push_back(g.members[j]);  // samples follow the problem, not the wave
      }
      req.seed = opt.seed;
      for (Completion& c : engine.generate(req)) {
        const int64_t i = g.members[start + c.prompt_index];
        comps[i * K + c.completion_index] = std::move(c);
      }
      done += end - start;
      if (progress) progress(done, P);
    }
  }

  EvalOutput out;
  std::vector<ProblemScore> scores;
  scores.reserve(P);
  for (int64_t i = 0; i < P; ++i) {
    const Problem& p = problems[i];
    const std::string prompt = parts[i].full();
    std::vector<std::string> texts;
    std::vector<int64_t> tokens;
    for (int64_t k = 0; k < K; ++k) {
      const Completion& c = comps[i * K + k];
      texts.push_back(c.text);
      tokens.push_back(static_cast<int64_t>(c.ids.size()));
      auto strict = extract_strict(c.text);
      auto flexible = published ? extract_published(prompt + c.text) : extract_flexible(c.text);
      out.completions.push_back({{"model", opt.model_label},
                                 {"adapter", opt.adapter_label},
                                 {"protocol", opt.protocol},
                                 {"shots", opt.prompt.shots},
                                 {"problem_index", i},
                                 {"sample_index", k},
                                 {"question", p.question},
                                 {"reference", p.answer},
                                 {"prompt_tokens", prompt_len[i]},
                                 {"completion", c.text},
                                 {"completion_tokens", tokens.back()},
                                 {"finish_reason", finish_reason_name(c.finish)},
                                 {"strict_answer", opt_json(strict)},
                                 {"flexible_answer", opt_json(flexible)},
                                 {"strict_correct", strict && answers_match(*strict, p.answer)},
                                 {"flexible_correct", flexible && answers_match(*flexible, p.answer)},
                                 {"formatted", has_answer_format(c.text)}});
    }
    scores.push_back(score_problem(prompt, texts, tokens, p.answer, opt.protocol));
  }
  out.result.model = opt.model_label;
  out.result.adapter = opt.adapter_label;
  out.result.protocol = opt.protocol;
  out.result.shots = opt.prompt.shots;
  summarize_scores(scores, out.result);
  out.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace rlvr
