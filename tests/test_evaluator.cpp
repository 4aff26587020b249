// Evaluator tests: `rlvr eval` sweeps write every output with sane contents; results do not
// depend on reruns, waves or the engine's prefix cache; prefix/suffix tokenization equals joint
// tokenization on real GSM8K prompts with the real Qwen tokenizer; a hand-wired Qwen-vocabulary
// model shows the stop string cut from honest completions and kept under the published protocol;
// ranks that split the problems (in process and as `rlvr eval` ranks) give what one process gives;
// bad adapters end in one line before anything is evaluated.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "rlvr/core/error.h"
#include "rlvr/core/files.h"
#include "rlvr/evaluator/evaluator.h"
#include "dist_ranks.h"
#include "field_reward.h"
#include "testlib.h"

using namespace rlvr;
using nlohmann::json;

namespace {

std::string gsm8k(const std::string& split) { return join_path(join_path(test::shared_data(), "gsm8k"), split + ".jsonl"); }
std::string qwen_dir() { return join_path(test::shared_data(), "qwen-tokenizer"); }

std::vector<Problem> load_n(const std::string& path, int64_t n) {
  DataOptions o;
  o.limit = n;
  return load_problems(path, o);
}

// A tiny random model over the byte-level tokenizer (ids 0..258, eos 258) in `dir`.
CausalLM byte_model(const std::string& dir) {
  ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 259;
  c.initializer_range = 0.5;  // peaked logits: greedy choices are not near-ties
  c.eos_token_ids = {258};
  CausalLM m = make_random_model(c, 7);
  save_model(m, dir, torch::kFloat32);
  write_byte_level_tokenizer(dir);
  m->eval();
  return m;
}

// The text the chain model writes after a prompt that ends in " ".
const char* kChain = "\n####42\n\nQuestion:";

// A Qwen-vocabulary model whose next token depends only on the current one: every layer adds
// zero (o_proj = down_proj = 0), the embedding of chain token j is the unit vector e_j and the
// lm_head row of token j+1 is 10 e_j. After the prompt's last token " " it writes kChain, then
// token 0 ("!") forever.
CausalLM chain_model(const Tokenizer& tok) {
  ModelConfig c;
  c.hidden_size = 16;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.vocab_size = 151936;
  c.eos_token_ids = {151643};
  c.initializer_range = 1.0;  // large q/k/v/gate/up: a LoRA on o_proj/down_proj visibly changes outputs
  CausalLM m = make_random_model(c, 1);
  std::vector<int32_t> seq = tok.encode("Solution: ");
  seq = {seq.back()};
  for (int32_t id : tok.encode(kChain)) seq.push_back(id);
  EXPECT_EQ(std::set<int32_t>(seq.begin(), seq.end()).size(), seq.size()) << "chain tokens must be distinct";
  EXPECT_LE(seq.size(), 17u);
  torch::NoGradGuard ng;
  for (auto& [name, p] : m->base_state()) {
    if (name.find("o_proj.weight") != std::string::npos || name.find("down_proj.weight") != std::string::npos) p.zero_();
    if (name.find("embed_tokens.weight") != std::string::npos) {
      p.zero_();
      for (size_t j = 0; j + 1 < seq.size(); ++j) p[seq[j]][j] = 1.0;
    }
    if (name.find("lm_head.weight") != std::string::npos) {
      p.zero_();
      for (size_t j = 0; j + 1 < seq.size(); ++j) p[seq[j + 1]][j] = 10.0;
    }
  }
  m->eval();
  return m;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

bool ci_contains(const json& block) {
  const double acc = block.at("accuracy").get<double>();
  const auto ci = block.at("ci95");
  return ci[0].get<double>() <= acc + 1e-12 && acc <= ci[1].get<double>() + 1e-12 &&
         ci[0].get<double>() < ci[1].get<double>();
}

}  // namespace

TEST(Evaluator, CliShotSweepWritesAllOutputs) {
  const std::string dir = test::scratch_dir("evaluator_cli");
  const std::string model = join_path(dir, "model"), out = join_path(dir, "out");
  byte_model(model);
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --data " + gsm8k("test") +
                         " --fewshot-data " + gsm8k("train") +
                         " --shots 0,2 --limit 12 --max-new-tokens 12 --max-batch-seqs 5 --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("problems/s"), std::string::npos) << r.err;
  for (const char* f : {"results.json", "results.md", "report.html", "completions.jsonl"})
    EXPECT_TRUE(file_exists(join_path(out, f))) << f;
  EXPECT_EQ(r.out, read_text_file(join_path(out, "results.md")));

  json res = read_json_file(join_path(out, "results.json"));
  ASSERT_EQ(res.at("runs").size(), 2u);
  std::set<int64_t> shots;
  for (const auto& run : res["runs"]) {
    EXPECT_EQ(run.at("n").get<int64_t>(), 12);
    EXPECT_EQ(run.at("protocol"), "honest");
    EXPECT_EQ(run.at("adapter"), "");
    EXPECT_TRUE(ci_contains(run.at("strict"))) << run.dump();
    EXPECT_TRUE(ci_contains(run.at("flexible"))) << run.dump();
    const double tokens = run.at("mean_completion_tokens").get<double>();
    EXPECT_GT(tokens, 0.0);
    EXPECT_LE(tokens, 12.0);
    shots.insert(run.at("shots").get<int64_t>());
  }
  EXPECT_EQ(shots, (std::set<int64_t>{0, 2}));

  auto lines = read_lines(join_path(out, "completions.jsonl"));
  ASSERT_EQ(lines.size(), 24u);
  auto test_problems = load_n(gsm8k("test"), 12);
  std::map<int64_t, int64_t> per_shot;
  std::map<std::pair<int64_t, int64_t>, int64_t> prompt_tokens;  // (shots, problem) -> tokens
  for (const auto& line : lines) {
    json c = json::parse(line);
    const int64_t i = c.at("problem_index").get<int64_t>();
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 12);
    EXPECT_EQ(c.at("question"), test_problems[i].question);
    EXPECT_EQ(c.at("reference"), test_problems[i].answer);
    EXPECT_GE(c.at("completion_tokens").get<int64_t>(), 1);  // every problem was generated
    EXPECT_LE(c.at("completion_tokens").get<int64_t>(), 12);
    prompt_tokens[std::make_pair(c.at("shots").get<int64_t>(), i)] = c.at("prompt_tokens").get<int64_t>();
    ++per_shot[c.at("shots").get<int64_t>()];
  }
  EXPECT_EQ(per_shot[0], 12);
  EXPECT_EQ(per_shot[2], 12);
  for (int64_t i = 0; i < 12; ++i) {
    // Byte-level: the 0-shot prompt is "Question: {q}\nSolution: " byte for byte; 2 exemplars add more.
    const int64_t zero_shot = prompt_tokens[std::make_pair(int64_t{0}, i)];
    const int64_t two_shot = prompt_tokens[std::make_pair(int64_t{2}, i)];
    EXPECT_EQ(zero_shot, static_cast<int64_t>(test_problems[i].question.size() + 21));
    EXPECT_GT(two_shot, zero_shot + 100);
  }
  const std::string html = read_text_file(join_path(out, "report.html"));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(r.out.find("| honest |"), std::string::npos) << r.out;
}

TEST(Evaluator, CliNeedsTokenizerInModelDir) {
  const std::string dir = test::scratch_dir("evaluator_notok");
  ModelConfig c;
  c.hidden_size = 16;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.vocab_size = 300;
  CausalLM m = make_random_model(c, 0);
  save_model(m, dir, torch::kFloat32);
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + dir + " --data " + gsm8k("test") + " --shots 0 --limit 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
}

TEST(Evaluator, DeterministicAcrossRunsWavesAndPrefixCache) {
  const std::string dir = test::scratch_dir("evaluator_det");
  CausalLM m = byte_model(dir);
  Tokenizer tok = Tokenizer::load(dir);
  auto problems = load_n(gsm8k("test"), 12);
  auto pool = load_n(gsm8k("train"), 200);
  EvalOptions opt;
  opt.prompt.shots = 2;
  opt.max_new_tokens = 10;
  Engine engine(m);
  EvalOutput a = evaluate(engine, tok, problems, pool, opt);
  EvalOutput b = evaluate(engine, tok, problems, pool, opt);  // prefix KV from the cache
  EXPECT_GE(engine.stats().prefix_cache_hits, 1);
  opt.max_batch_seqs = 5;  // waves of 5 problems
  Engine fresh(m);
  std::vector<int64_t> seen;
  EvalOutput c = evaluate(fresh, tok, problems, pool, opt, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 12);
    seen.push_back(done);
  });
  EXPECT_EQ(seen, (std::vector<int64_t>{5, 10, 12}));
  ASSERT_EQ(a.completions.size(), 12u);
  std::set<std::string> distinct;
  for (size_t i = 0; i < a.completions.size(); ++i) {
    EXPECT_EQ(a.completions[i], b.completions[i]);
    EXPECT_EQ(a.completions[i], c.completions[i]);
    EXPECT_EQ(a.completions[i].at("problem_index").get<size_t>(), i);
    distinct.insert(a.completions[i].at("completion").get<std::string>());
  }
  EXPECT_GT(distinct.size(), 1u) << "completions should depend on the problem";
  EXPECT_EQ(results_json({a.result})["runs"][0].at("strict"), results_json({c.result})["runs"][0].at("strict"));
  EXPECT_DOUBLE_EQ(a.result.mean_completion_tokens, c.result.mean_completion_tokens);

  opt.n_samples = 3;
  EXPECT_THROW(evaluate(engine, tok, problems, pool, opt), Error);  // K > 1 needs temperature
  opt.temperature = 1.0;
  EvalOutput s = evaluate(engine, tok, problems, pool, opt);
  EXPECT_EQ(s.completions.size(), 36u);
  EXPECT_EQ(s.result.n_samples, 3);
  EXPECT_FALSE(std::isnan(s.result.pass_at_k));
  // Sampled completions follow the problem, not the wave it was decoded in.
  opt.max_batch_seqs = 0;
  EvalOutput s_all = evaluate(engine, tok, problems, pool, opt);
  for (size_t i = 0; i < s.completions.size(); ++i) EXPECT_EQ(s.completions[i], s_all.completions[i]) << i;
  opt.protocol = "dishonest";
  EXPECT_THROW(evaluate(engine, tok, problems, pool, opt), Error);
}

namespace {

// One prompt through the prompt builder (engine/prompt_request.h), seen as the shared prefix the
// engine gets and the prompt ids after it.
struct OnePrompt {
  std::vector<int64_t> prefix, prompt;
  bool split = true;  // the few-shot block became the shared prefix (or there is none)
};
OnePrompt tokenize_prompt(const Tokenizer& tok, const PromptParts& parts) {
  PromptIds ids = tokenize_prompts(tok, {parts});
  const std::vector<int64_t>& pre = ids.groups.at(0).shared_prefix;
  return {pre, {ids.full[0].begin() + static_cast<std::ptrdiff_t>(pre.size()), ids.full[0].end()},
          !pre.empty() || parts.prefix.empty()};
}

}  // namespace

TEST(Evaluator, PrefixSuffixTokenizationEqualsJointOnRealPrompts) {
  Tokenizer tok = Tokenizer::load(qwen_dir());
  auto problems = load_n(gsm8k("test"), 100);
  auto pool = load_n(gsm8k("train"), 500);
  for (int64_t shots : {0, 2, 8}) {
    PromptOptions po;
    po.shots = shots;
    PromptBuilder b(pool, po);
    for (const auto& p : problems) {
      PromptParts parts = b.build(p);
      OnePrompt ids = tokenize_prompt(tok, parts);
      EXPECT_TRUE(ids.split) << shots << "-shot: " << p.question;
      std::vector<int64_t> all = ids.prefix;
      all.insert(all.end(), ids.prompt.begin(), ids.prompt.end());
      auto joint = tok.encode(parts.full());
      EXPECT_EQ(all, std::vector<int64_t>(joint.begin(), joint.end()));
      EXPECT_EQ(ids.prefix.empty(), shots == 0);
    }
  }
  // A boundary inside a word: the split differs, so the joint ids are used.
  OnePrompt ids = tokenize_prompt(tok, PromptParts{"The ans", "wer is"});
  EXPECT_FALSE(ids.split);
  EXPECT_TRUE(ids.prefix.empty());
  auto joint = tok.encode("The answer is");
  EXPECT_EQ(ids.prompt, std::vector<int64_t>(joint.begin(), joint.end()));
}

TEST(Evaluator, StopStringCutInHonestKeptInPublished) {
  Tokenizer tok = Tokenizer::load(qwen_dir());
  CausalLM m = chain_model(tok);
  auto problems = load_n(gsm8k("test"), 3);
  problems[0].answer = "42";
  problems[1].answer = "42";  // problems[2] keeps its own answer (not 42)
  ASSERT_NE(problems[2].answer, "42");
  Engine engine(m);
  EvalOptions opt;
  opt.prompt.shots = 0;
  opt.max_new_tokens = 20;
  EvalOutput honest = evaluate(engine, tok, problems, {}, opt);
  EXPECT_EQ(honest.result.protocol, "honest");
  for (const auto& c : honest.completions) {
    EXPECT_EQ(c.at("completion"), "\n####42");
    EXPECT_EQ(c.at("finish_reason"), "stop");
    EXPECT_EQ(c.at("strict_answer"), "42");
  }
  EXPECT_EQ(honest.result.strict_correct, 2);
  EXPECT_EQ(honest.result.flexible_correct, 2);
  EXPECT_EQ(honest.result.format_rate, 0.0);
  // The stop-completing tokens count: "\n", "####", "4", "2", "\n\n", "Question", ":".
  EXPECT_EQ(honest.result.mean_completion_tokens, static_cast<double>(tok.encode(kChain).size()));

  opt.protocol = "published";
  EvalOutput pub = evaluate(engine, tok, problems, {}, opt);
  EXPECT_EQ(pub.result.protocol, "published");
  for (const auto& c : pub.completions) {
    const std::string text = c.at("completion");
    EXPECT_EQ(text.rfind(kChain, 0), 0u) << text;  // runs on past the stop string
    EXPECT_EQ(c.at("finish_reason"), "length");
    EXPECT_EQ(c.at("completion_tokens"), 20);
    EXPECT_EQ(c.at("flexible_answer"), "42");  // last number of prompt + output
    EXPECT_EQ(c.at("protocol"), "published");
  }
  EXPECT_EQ(pub.result.flexible_correct, 2);
  const std::string md = results_markdown({honest.result, pub.result});
  EXPECT_NE(md.find("| honest |"), std::string::npos) << md;
  EXPECT_NE(md.find("| PUBLISHED |"), std::string::npos) << md;
}

TEST(Evaluator, CliPublishedProtocolWithQwenTokenizer) {
  const std::string dir = test::scratch_dir("evaluator_qwen_cli");
  const std::string model = join_path(dir, "model"), out = join_path(dir, "out");
  Tokenizer tok = Tokenizer::load(qwen_dir());
  CausalLM m = chain_model(tok);
  save_model(m, model, torch::kFloat32);
  rlvr::copy_file(join_path(qwen_dir(), "tokenizer.json"), join_path(model, "tokenizer.json"));
  rlvr::copy_file(join_path(qwen_dir(), "tokenizer_config.json"), join_path(model, "tokenizer_config.json"));
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --data " + gsm8k("test") +
                         " --shots 0 --limit 4 --max-new-tokens 12 --protocol published --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("published"), std::string::npos) << r.err;
  json res = read_json_file(join_path(out, "results.json"));
  ASSERT_EQ(res.at("runs").size(), 1u);
  EXPECT_EQ(res["runs"][0].at("protocol"), "published");
  EXPECT_NE(r.out.find("| PUBLISHED |"), std::string::npos) << r.out;
  auto lines = read_lines(join_path(out, "completions.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(json::parse(lines[0]).at("completion").get<std::string>().rfind(kChain, 0), 0u);
}

TEST(Evaluator, CliAdaptersSideBySideWithBase) {
  const std::string dir = test::scratch_dir("evaluator_adapters");
  const std::string model = join_path(dir, "model"), out = join_path(dir, "out");
  const std::string loud = join_path(dir, "adapter_loud"), zero = join_path(dir, "adapter_zero");
  Tokenizer tok = Tokenizer::load(qwen_dir());
  CausalLM m = chain_model(tok);
  save_model(m, model, torch::kFloat32);
  rlvr::copy_file(join_path(qwen_dir(), "tokenizer.json"), join_path(model, "tokenizer.json"));
  LoraConfig lora;
  lora.r = 2;
  m->add_lora(lora, 3);
  save_adapter(m, zero, model);  // zero-initialised B: the base model's outputs
  {
    torch::NoGradGuard ng;
    for (auto& item : m->named_parameters())
      if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0.0, 5.0);
  }
  save_adapter(m, loud, model);
  // Half the problems answer 42 (what the chain model writes), half do not.
  const std::string data = join_path(dir, "data.jsonl");
  {
    std::ofstream f(data);
    auto problems = load_n(gsm8k("test"), 4);
    for (size_t i = 0; i < problems.size(); ++i)
      f << json{{"question", problems[i].question}, {"answer", i % 2 ? "so #### 7" : "so #### 42"}}.dump() << "\n";
  }
  // The loud adapter comes first: the zero one must not inherit its weights.
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --adapter " + loud + " --adapter " +
                         zero + " --data " + data + " --fewshot-data " + gsm8k("train") +
                         " --shots 0,2 --max-new-tokens 10 --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  json res = read_json_file(join_path(out, "results.json"));
  ASSERT_EQ(res.at("runs").size(), 6u);
  std::map<std::string, std::vector<std::string>> texts;  // adapter -> completions in order
  for (const auto& line : read_lines(join_path(out, "completions.jsonl"))) {
    json c = json::parse(line);
    texts[c.at("adapter").get<std::string>()].push_back(c.at("completion").get<std::string>());
  }
  ASSERT_EQ(texts.size(), 3u);
  ASSERT_EQ(texts[""].size(), 8u);
  for (const auto& t : texts[""]) EXPECT_EQ(t, "\n####42");
  EXPECT_EQ(texts[zero], texts[""]);
  EXPECT_NE(texts[loud], texts[""]);
  for (const auto& run : res["runs"]) {
    if (run.at("adapter") == loud) continue;
    EXPECT_EQ(run.at("strict").at("correct"), 2) << run.dump();
  }
  EXPECT_NE(r.out.find("| base |"), std::string::npos) << r.out;
}

// Every --adapter is checked (folder, files, shapes against the base) before the base model is
// evaluated: one line and nothing evaluated (no token counts on stderr, no table on stdout).
TEST(Evaluator, CliChecksEveryAdapterBeforeEvaluating) {
  const std::string dir = test::scratch_dir("evaluator_bad_adapter");
  const std::string model = join_path(dir, "model"), good = join_path(dir, "good");
  CausalLM m = byte_model(model);
  LoraConfig lora;
  lora.r = 2;
  m->add_lora(lora, 3);
  save_adapter(m, good, model);
  const std::string other = join_path(dir, "other"), no_weights = join_path(dir, "no_weights");
  ModelConfig c = m->config();
  c.hidden_size = 16;  // another model's adapter: every lora_A has 16 columns, not 32
  CausalLM small = make_random_model(c, 1);
  small->add_lora(lora, 3);
  save_adapter(small, other, model);
  make_dirs(no_weights);
  rlvr::copy_file(join_path(good, "adapter_config.json"), join_path(no_weights, "adapter_config.json"));
  const std::string eval = test::rlvr_bin() + " eval --model " + model + " --data " + gsm8k("test") +
                           " --shots 0 --limit 2 --max-new-tokens 2 --adapter " + good + " --adapter ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {join_path(dir, "missing"), "--adapter " + join_path(dir, "missing") + ": no such folder"},
      {no_weights, join_path(no_weights, "adapter_model.safetensors")},
      {other, "but the model expects"}};
  for (const auto& [adapter, what] : cases) {
    auto r = test::run_cmd(eval + adapter);
    EXPECT_NE(r.status, 0) << adapter;
    EXPECT_EQ(r.out, "") << adapter;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << what << " not in:\n" << r.err;
  }
}

TEST(Evaluator, RanksSplitProblemsAndReturnWhatOneProcessReturns) {
  const std::string dir = test::scratch_dir("evaluator_ranks");
  byte_model(dir);
  const auto codes = test::run_ranks(2, [&](dist::Comm& comm) {
    torch::set_num_threads(1);
    CausalLM m = load_model(dir, torch::kFloat32, torch::kCPU);
    m->eval();
    Tokenizer tok = Tokenizer::load(dir);
    Engine engine(m);
    const auto pool = load_n(gsm8k("train"), 50);
    EvalOptions opt;
    opt.prompt.shots = 2;
    opt.max_new_tokens = 8;
    opt.max_batch_seqs = 4;
    for (int64_t n_problems : {5, 1}) {  // 1: rank 1 has no problem but joins the gather
      for (int64_t K : {1, 2}) {
        opt.n_samples = K;
        opt.temperature = K > 1 ? 1.0 : 0.0;
        opt.seed = 3;
        const auto problems = load_n(gsm8k("test"), n_problems);
        dist::Comm one;  // a single process
        const EvalOutput ref = evaluate(engine, tok, problems, pool, opt, {}, one);
        std::vector<std::pair<int64_t, int64_t>> seen;
        EvalOutput got = evaluate(engine, tok, problems, pool, opt,
                                  [&](int64_t done, int64_t total) { seen.emplace_back(done, total); }, comm);
        RANK_CHECK(got.completions == ref.completions);
        RANK_CHECK(static_cast<int64_t>(got.completions.size()) == n_problems * K);
        RANK_CHECK(got.prompt_ids.full == ref.prompt_ids.full);
        got.result.seconds = ref.result.seconds;
        RANK_CHECK(results_json({got.result}) == results_json({ref.result}));
        // Progress on rank 0 only, its share scaled to all problems.
        RANK_CHECK(comm.rank() == 0 ? !seen.empty() && seen.back() == std::make_pair(n_problems, n_problems)
                                    : seen.empty());
      }
    }
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

namespace {

// The Markdown table without its last column (seconds).
std::string without_seconds(const std::string& md) {
  std::string out;
  std::istringstream in(md);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > 2 && line.front() == '|' && line.back() == '|') line.erase(line.rfind('|', line.size() - 2));
    out += line + "\n";
  }
  return out;
}

json results_without_seconds(const std::string& out) {
  json res = read_json_file(join_path(out, "results.json"));
  for (auto& run : res.at("runs")) run.erase("seconds");
  return res;
}

}  // namespace

TEST(Evaluator, CliTwoRanksPrintAndWriteWhatOneProcessDoes) {
  const std::string dir = test::scratch_dir("evaluator_cli_ranks");
  const std::string model = join_path(dir, "model");
  byte_model(model);
  const std::string eval = test::rlvr_bin() + " eval --model " + model + " --data " + gsm8k("test") +
                           " --fewshot-data " + gsm8k("train") + " --shots 0,2 --limit 5 --max-new-tokens 8" +
                           " --max-batch-seqs 4";
  const std::vector<std::pair<std::string, std::string>> cases = {{"greedy", ""},
                                                                   {"sampled", " --n-samples 2 --seed 5"}};
  for (const auto& c : cases) {
    const std::string name = c.first, sampling = c.second;
    const std::string one_out = join_path(dir, "one_" + name), two_out = join_path(dir, "two_" + name);
    const auto one = test::run_cmd(eval + sampling + " --out " + one_out);
    ASSERT_EQ(one.status, 0) << one.err;
    const std::string job = "WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                            std::to_string(rlvr::free_tcp_port()) + " OMP_NUM_THREADS=1 ";
    auto rank = [&](int r) {
      return "RANK=" + std::to_string(r) + " LOCAL_RANK=" + std::to_string(r) + " " + job + eval + sampling +
             " --ddp-timeout 60 --out " + two_out;
    };
    const std::string r1 = join_path(dir, "rank1_" + name);
    const auto two = test::run_cmd(rank(1) + " >" + r1 + ".out 2>" + r1 + ".err & p=$!; " + rank(0) +
                                   "; a=$?; wait $p; b=$?; [ $a = 0 ] && [ $b = 0 ]");
    ASSERT_EQ(two.status, 0) << two.err << read_text_file(r1 + ".err");
    EXPECT_EQ(without_seconds(two.out), without_seconds(one.out)) << name;
    EXPECT_NE(two.out.find("| honest |"), std::string::npos) << two.out;
    EXPECT_EQ(read_text_file(join_path(two_out, "completions.jsonl")),
              read_text_file(join_path(one_out, "completions.jsonl"))) << name;
    EXPECT_EQ(results_without_seconds(two_out), results_without_seconds(one_out)) << name;
    EXPECT_EQ(read_text_file(r1 + ".out"), "");  // rank 1 is quiet
    EXPECT_EQ(read_text_file(r1 + ".err"), "");
    if (name != "sampled") continue;
    // The same through the built-in launcher: `rlvr eval --nproc-per-node 2`.
    const std::string launched_out = join_path(dir, "launched_" + name);
    const auto launched = test::run_cmd("OMP_NUM_THREADS=1 " + eval + sampling + " --nproc-per-node 2 --out " + launched_out);
    ASSERT_EQ(launched.status, 0) << launched.err;
    EXPECT_EQ(without_seconds(launched.out), without_seconds(one.out));
    EXPECT_EQ(read_text_file(join_path(launched_out, "completions.jsonl")),
              read_text_file(join_path(one_out, "completions.jsonl")));
  }
}

// A reward decides correctness when given as a judge: it sees every field of each problem's row,
// each completion's row records its reward and verdict, and the run reports pass@1 and pass@K
// from the verdicts (the judge here marks the odd problems solved).
TEST(Evaluator, JudgesSeeRowFieldsAndDecideCorrectness) {
  const std::string dir = test::scratch_dir("evaluator_judges");
  CausalLM m = byte_model(dir);
  const Tokenizer tok = Tokenizer::load(dir);
  write_text_file(join_path(dir, "code.jsonl"), test::code_rows(6));
  const auto problems = load_problems(join_path(dir, "code.jsonl"), DataOptions{});
  test::FieldReward judge;
  EvalOptions opt;
  opt.prompt = prompt_style_options(PromptStyle::kCode);
  opt.n_samples = 2;
  opt.temperature = 1.0;
  opt.max_new_tokens = 3;
  opt.judges = {&judge};
  Engine engine(m);
  const EvalOutput out = evaluate(engine, tok, problems, {}, opt);
  ASSERT_EQ(judge.seen.size(), 12u);
  for (size_t j = 0; j < 12; ++j) EXPECT_EQ(judge.seen[j], problem_fields(problems[j / 2])) << j;
  ASSERT_EQ(out.completions.size(), 12u);
  for (const json& row : out.completions) {
    const bool solved = row.at("problem_index").get<int64_t>() % 2 == 1;
    EXPECT_EQ(row.at("correct"), solved) << row.dump();
    EXPECT_EQ(row.at("rewards").at("fields"), solved ? 1.0 : 0.0) << row.dump();
  }
  EXPECT_EQ(out.result.judge, "fields");
  EXPECT_DOUBLE_EQ(out.result.pass_at_1, 0.5);
  EXPECT_DOUBLE_EQ(out.result.pass_at_k, 0.5);
  EXPECT_EQ(out.result.strict_correct, 3);
  EXPECT_LT(out.result.pass_at_1_ci.lo, 0.5);
  EXPECT_GT(out.result.pass_at_1_ci.hi, 0.5);
}

// `rlvr eval --rewards` on the project's code tasks with the code prompt style (zero shots by
// default): the judged table with pass@1 and pass@K and their intervals.
TEST(Evaluator, CliScoresCodeTasksWithAReward) {
  const std::string dir = test::scratch_dir("evaluator_cli_judged");
  const std::string model = join_path(dir, "model"), out = join_path(dir, "out");
  byte_model(model);
  const std::string tasks = std::string(RLVR_SOURCE_DIR) + "/data/code-tasks/train.jsonl";
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --data " + tasks +
                         " --prompt-style code --limit 5 --n-samples 2 --max-new-tokens 4 --rewards any --reward-options " +
                         "'{\"any\": {\"type\": \"regex\", \"pattern\": \"^\"}}' --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| judge | model | adapter | shots | n | pass@1 [95% CI] | K | pass@K [95% CI] |"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("| any | " + model + " | base | 0 | 5 | 100.0% ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| 2 | 100.0% ["), std::string::npos) << r.out;
  const json res = read_json_file(join_path(out, "results.json"));
  EXPECT_EQ(res.at("runs")[0].at("judge"), "any");
  const json row = json::parse(read_lines(join_path(out, "completions.jsonl"))[0]);
  EXPECT_EQ(row.at("correct"), true);
  auto bad = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --data " + tasks +
                           " --prompt-style code --rewards any --reward-options '{\"other\": {}}'");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("--reward-options names 'other', which is not in --rewards"), std::string::npos) << bad.err;
}

// With two ranks each judge scores only its rank's share, the judged result equals one process's,
// and reward_counts sums each counter over the ranks (the training metrics use the same sum).
TEST(Evaluator, JudgesScoreTheirRanksShareAndCountersSumOverRanks) {
  const std::string dir = test::scratch_dir("evaluator_judges_ranks");
  byte_model(dir);
  write_text_file(join_path(dir, "code.jsonl"), test::code_rows(5));
  const auto codes = test::run_ranks(2, [&](dist::Comm& comm) {
    torch::set_num_threads(1);
    CausalLM m = load_model(dir, torch::kFloat32, torch::kCPU);
    m->eval();
    Tokenizer tok = Tokenizer::load(dir);
    Engine engine(m);
    const auto problems = load_problems(join_path(dir, "code.jsonl"), DataOptions{});
    EvalOptions opt;
    opt.prompt = prompt_style_options(PromptStyle::kCode);
    opt.max_new_tokens = 3;
    test::FieldReward alone;
    opt.judges = {&alone};
    dist::Comm one;
    const EvalOutput ref = evaluate(engine, tok, problems, {}, opt, {}, one);
    std::vector<std::unique_ptr<RewardFunction>> judges;
    judges.push_back(std::make_unique<test::FieldReward>());
    opt.judges = {judges[0].get()};
    EvalOutput got = evaluate(engine, tok, problems, {}, opt, {}, comm);
    RANK_CHECK(got.completions == ref.completions);
    got.result.seconds = ref.result.seconds;
    RANK_CHECK(results_json({got.result}) == results_json({ref.result}));
    const int64_t share = comm.rank() == 0 ? 3 : 2;  // the first P % world ranks take one more
    RANK_CHECK(static_cast<int64_t>(static_cast<test::FieldReward&>(*judges[0]).seen.size()) == share);
    const RewardCounts counts = reward_counts(judges, comm);
    RANK_CHECK(counts.counters.at("rewards/fields/samples") == 5);
    RANK_CHECK(counts.counters.at("rewards/fields/batches") == 2);
    RANK_CHECK(counts.errors == std::vector<double>{0.0});
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

// `rlvr eval --chat` (acceptance 3 of issue 19): the chat style renders each GSM8K problem with the
// model's chat template (the byte-level tokenizer's ChatML: --system-prompt, two exemplar turns, the question, the
// generation prompt) and prints the table; completions stop at <|im_end|>.
TEST(Evaluator, CliChatStyleRendersWithTheModelsTemplate) {
  const std::string dir = test::scratch_dir("evaluator_cli_chat");
  const std::string model = join_path(dir, "model"), out = join_path(dir, "out");
  byte_model(model);
  auto r = test::run_cmd(test::rlvr_bin() + " eval --model " + model + " --data " + gsm8k("test") + " --fewshot-data " +
                         gsm8k("train") + " --chat --system-prompt 'Be exact.' --shots 2 --limit 3 --max-new-tokens 6 --out " +
                         out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| " + model + " | base | 2 | 3 |"), std::string::npos) << r.out;
  PromptOptions po = prompt_style_options(PromptStyle::kChat);
  po.shots = 2;
  po.system_prompt = "Be exact.";
  load_chat_template(&po, {}, model);
  const PromptBuilder b(load_n(gsm8k("train"), -1), po);
  const auto problems = load_n(gsm8k("test"), 3);
  const auto rows = read_lines(join_path(out, "completions.jsonl"));
  ASSERT_EQ(rows.size(), 3u);
  const Tokenizer tok = Tokenizer::load(model);
  for (size_t i = 0; i < rows.size(); ++i) {
    const json row = json::parse(rows[i]);
    const std::string prompt = b.build(problems[i]).full();
    EXPECT_EQ(row.at("prompt_tokens").get<size_t>(), tok.encode(prompt).size());
    EXPECT_EQ(prompt.rfind("<|im_start|>system\nBe exact.<|im_end|>\n<|im_start|>user\n", 0), 0u) << prompt;
    EXPECT_EQ(prompt.substr(prompt.size() - 33), "<|im_end|>\n<|im_start|>assistant\n") << prompt;
    EXPECT_EQ(row.at("completion").get<std::string>().find("<|im_end|>"), std::string::npos);
  }
}
