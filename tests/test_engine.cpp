// Engine tests: greedy batched generation equals the slow reference (full recompute, one
// sequence at a time) with ragged prompts and a shared prefix, also when EOS ends rows early and
// the cache is compacted; seeded sampling does not depend on batching; returned logprobs equal a
// full forward's log_softmax; stop strings and EOS, each token decoded once, stop strings on a
// real tokenizer's text (UTF-8 cut across tokens, special tokens skipped) as a whole-text decode
// after every token finds them; the fused sampler equals the tensor-op one.
#include <gtest/gtest.h>

#include "rlvr/core/files.h"
#include "rlvr/engine/engine.h"
#include "rlvr/tokenizer/tokenizer.h"
#include "testlib.h"

using namespace rlvr;

namespace {

CausalLM random_model(uint64_t seed, int64_t vocab_size = 101) {
  ModelConfig c;
  c.hidden_size = 48;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = vocab_size;
  c.tie_word_embeddings = false;
  c.initializer_range = 0.3;
  CausalLM m = make_random_model(c, seed);
  torch::NoGradGuard ng;
  auto gen = at::detail::createCPUGenerator(seed + 1);  // the biases too depend on the seed alone
  for (auto& [name, p] : m->base_state())
    if (name.find("bias") != std::string::npos) p.normal_(0, 0.2, gen);
  m->eval();
  return m;
}

// Slow reference: full recompute of the whole sequence for every new token, one sequence alone.
std::vector<int64_t> reference_greedy(CausalLM& m, std::vector<int64_t> seq, int64_t steps) {
  torch::NoGradGuard ng;
  std::vector<int64_t> out;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t T = static_cast<int64_t>(seq.size());
    auto logits = m->forward(torch::tensor(seq).unsqueeze(0), torch::arange(T).unsqueeze(0));
    int64_t next = logits[0][T - 1].argmax().item<int64_t>();
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

std::string fake_decode(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto id : ids) s.push_back(static_cast<char>('a' + id % 26));
  return s;
}

// fake_decode token by token; counts the calls.
struct FakeStream : TextStream {
  int64_t* pushes;
  int64_t* flushes;
  FakeStream(int64_t* p, int64_t* f) : pushes(p), flushes(f) {}
  std::string push(int64_t id) override {
    ++*pushes;
    return fake_decode({id});
  }
  std::string flush() override {
    ++*flushes;
    return "";
  }
};
int64_t fake_pushes = 0, fake_flushes = 0;
std::unique_ptr<TextStream> fake_stream() { return std::make_unique<FakeStream>(&fake_pushes, &fake_flushes); }

// The stop rule as a whole-text decode after every token: the first token after which a stop
// string occurs ends the completion; its text is cut at the first occurrence.
Completion stop_reference(const Tokenizer& tok, const std::vector<int32_t>& ids,
                          const std::vector<std::string>& stops) {
  Completion c;
  std::vector<int32_t> prefix;
  for (int32_t id : ids) {
    prefix.push_back(id);
    c.ids.push_back(id);
    c.text = tok.decode(prefix, /*skip_special_tokens=*/true);
    size_t cut = std::string::npos;
    for (const auto& s : stops) cut = std::min(cut, c.text.find(s));
    if (cut != std::string::npos) {
      c.text.resize(cut);
      c.finish = FinishReason::kStop;
      return c;
    }
  }
  return c;
}

}  // namespace

TEST(Engine, GreedyBatchedEqualsReferenceOnRandomModel) {
  CausalLM m = random_model(1);
  Engine engine(m);
  GenerateRequest req;
  req.shared_prefix = {7, 8, 9, 10, 11};
  req.prompts = {{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {99}, {50, 51, 52, 53}};
  req.n = 2;
  req.max_new_tokens = 12;
  req.sampling.temperature = 0;
  for (bool share : {true, false}) {
    req.share_prefix = share;
    auto comps = engine.generate(req);
    ASSERT_EQ(comps.size(), 8u);
    for (const auto& c : comps) {
      std::vector<int64_t> full = req.shared_prefix;
      full.insert(full.end(), req.prompts[c.prompt_index].begin(), req.prompts[c.prompt_index].end());
      EXPECT_EQ(c.ids, reference_greedy(m, full, 12)) << "prompt " << c.prompt_index << " share " << share;
      EXPECT_EQ(c.finish, FinishReason::kLength);
    }
  }
  // The cached prefix is reused while the weights do not change, and dropped when they do.
  auto hits = engine.stats().prefix_cache_hits;
  req.share_prefix = true;
  engine.generate(req);
  EXPECT_EQ(engine.stats().prefix_cache_hits, hits + 1);
  engine.invalidate_prefix();
  engine.generate(req);
  EXPECT_EQ(engine.stats().prefix_cache_hits, hits + 1);
}

TEST(Engine, GreedyBatchedEqualsReferenceOnStories260K) {
  CausalLM m = load_model(test::shared_data() + "/models/stories260K/hf-qwen2", torch::kFloat32,
                          torch::kCPU);
  m->eval();
  Engine engine(m);
  GenerateRequest req;
  req.prompts = {{1, 403, 407, 261, 378}, {1, 403}, {1, 261, 376, 298, 315, 421, 395}};
  req.max_new_tokens = 30;
  req.sampling.temperature = 0;
  auto comps = engine.generate(req);
  for (const auto& c : comps)
    EXPECT_EQ(c.ids, reference_greedy(m, req.prompts[c.prompt_index], 30)) << c.prompt_index;
  auto ref = read_json_file(test::shared_data() + "/models/stories260K/reference_greedy.json");
  req.prompts = {ref["prompt_ids"].get<std::vector<int64_t>>()};
  req.max_new_tokens = 60;
  EXPECT_EQ(engine.generate(req)[0].ids, ref["greedy_ids"].get<std::vector<int64_t>>());
}

TEST(Engine, SeededSamplingIndependentOfBatching) {
  CausalLM m = random_model(2);
  Engine engine(m);
  GenerateRequest req;
  req.shared_prefix = {3, 4, 5};
  req.prompts = {{1, 2}, {6, 7, 8, 9}, {10}};
  req.n = 4;
  req.max_new_tokens = 16;
  req.seed = 1234;
  req.sampling.temperature = 1.0;
  req.sampling.top_p = 0.9;
  req.sampling.top_k = 50;
  req.eos_ids = {0, 1, 2};  // some sequences finish early
  auto all = engine.generate(req);
  req.max_batch_seqs = 3;
  auto waves = engine.generate(req);
  ASSERT_EQ(all.size(), waves.size());
  bool differs_within_group = false;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].ids, waves[i].ids) << i;
    EXPECT_EQ(all[i].finish, waves[i].finish) << i;
    if (i % 4 && all[i].ids != all[i - 1].ids) differs_within_group = true;
  }
  EXPECT_TRUE(differs_within_group);  // completions of one prompt are different samples
  // The same completions when the prompts are split over calls with their global stream ids.
  GenerateRequest part = req;
  part.max_batch_seqs = 0;
  part.prompts = {req.prompts[2]};
  part.stream_ids = {2};
  auto third = engine.generate(part);
  for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(third[c].ids, all[8 + c].ids) << c;
  req.seed = 99;
  auto other = engine.generate(req);
  int same = 0;
  for (size_t i = 0; i < all.size(); ++i) same += all[i].ids == other[i].ids;
  EXPECT_LT(same, static_cast<int>(all.size()));
}

TEST(Engine, LogprobsMatchFullForwardAtTemperatureOne) {
  CausalLM m = random_model(3);
  Engine engine(m);
  GenerateRequest req;
  req.shared_prefix = {11, 12};
  req.prompts = {{1, 2, 3}, {4}};
  req.n = 3;
  req.max_new_tokens = 10;
  req.seed = 7;
  auto comps = engine.generate(req);
  torch::NoGradGuard ng;
  double worst = 0;
  for (const auto& c : comps) {
    std::vector<int64_t> seq = req.shared_prefix;
    seq.insert(seq.end(), req.prompts[c.prompt_index].begin(), req.prompts[c.prompt_index].end());
    const int64_t P = static_cast<int64_t>(seq.size());
    seq.insert(seq.end(), c.ids.begin(), c.ids.end());
    const int64_t T = static_cast<int64_t>(seq.size());
    auto logp = torch::log_softmax(
        m->forward(torch::tensor(seq).unsqueeze(0), torch::arange(T).unsqueeze(0))[0], -1);
    for (size_t t = 0; t < c.ids.size(); ++t) {
      double expect = logp[P - 1 + t][c.ids[t]].item<double>();
      worst = std::max(worst, std::abs(expect - c.logprobs[t]));
    }
  }
  EXPECT_LT(worst, 1e-4);
}

TEST(Engine, StopStringsAcrossTokensAndEos) {
  CausalLM m = random_model(4);
  Engine engine(m);
  GenerateRequest req;
  req.prompts = {{5, 6, 7}};
  req.max_new_tokens = 20;
  req.sampling.temperature = 0;
  req.decode = fake_stream;
  auto base = engine.generate(req)[0];
  ASSERT_EQ(base.text, fake_decode(base.ids));
  // A stop string made of the last char of token i and the first of token i+1, where this is
  // its first occurrence in the text.
  size_t at = 1;
  while (at + 2 < base.text.size() && base.text.find(base.text.substr(at, 2)) != at) ++at;
  ASSERT_LT(at + 2, base.text.size()) << "no two-token window occurs first where it stands";
  std::string stop = base.text.substr(at, 2);
  req.stop_strings = {stop};
  auto c = engine.generate(req)[0];
  EXPECT_EQ(c.finish, FinishReason::kStop);
  EXPECT_EQ(c.ids.size(), at + 2);  // through the token that completed the stop string
  EXPECT_EQ(c.text, base.text.substr(0, at));
  // EOS: the 4th generated token is declared EOS; it ends the sequence and is not in the text.
  req.stop_strings.clear();
  req.eos_ids = {base.ids[3]};
  size_t first = std::find(base.ids.begin(), base.ids.end(), base.ids[3]) - base.ids.begin();
  c = engine.generate(req)[0];
  EXPECT_EQ(c.finish, FinishReason::kEos);
  EXPECT_EQ(c.ids.size(), first + 1);
  EXPECT_EQ(c.text, base.text.substr(0, first));
}

TEST(Engine, EachTokenIsDecodedOnce) {
  CausalLM m = random_model(4);
  Engine engine(m);
  GenerateRequest req;
  req.prompts = {{5, 6, 7}, {8}};
  req.n = 2;
  req.max_new_tokens = 300;
  req.seed = 3;
  req.decode = fake_stream;
  req.stop_strings = {"never: not a fake_decode letter", "0"};
  req.eos_ids = {17};
  fake_pushes = fake_flushes = 0;
  auto comps = engine.generate(req);
  int64_t tokens = 0;
  for (const auto& c : comps) {
    tokens += static_cast<int64_t>(c.ids.size()) - (c.finish == FinishReason::kEos ? 1 : 0);
    EXPECT_EQ(c.text, fake_decode(c.ids).substr(0, c.ids.size() - (c.finish == FinishReason::kEos)));
  }
  EXPECT_GT(tokens, 100);
  EXPECT_EQ(fake_pushes, tokens);  // not a decode of the whole completion after every token
  EXPECT_EQ(fake_flushes, 4);
}

namespace {

// Engine ids 0..100 stand for Qwen tokens (table): byte pieces of characters the vocabulary
// splits, whole CJK characters, words, newlines and special tokens.
std::vector<int32_t> qwen_table(const Tokenizer& tok) {
  std::vector<int32_t> t;
  for (int32_t id : tok.encode("\xF0\x9D\x94\x98\xF0\x9D\x94\xAB \xF0\x9F\xA4\x96\xF0\x9F\xA6\x9C\xF0\x9F\xA7\xAC "
                               "\xEA\x99\xAE \xE4\xB8\xAD\xE6\x96\x87 the cat\n\nQuestion: 42<|im_end|><|endoftext|>"))
    if (std::find(t.begin(), t.end(), id) == t.end()) t.push_back(id);
  for (size_t i = 0; t.size() < 101; ++i) t.push_back(t[i]);
  return t;
}

struct TableStream : TextStream {
  const std::vector<int32_t>& table;
  std::unique_ptr<TextStream> inner;
  TableStream(const std::vector<int32_t>& t, std::unique_ptr<TextStream> s) : table(t), inner(std::move(s)) {}
  std::string push(int64_t id) override { return inner->push(table[id]); }
  std::string flush() override { return inner->flush(); }
};

}  // namespace

// Sampled tokens of a random model read as Qwen tokens: characters cut across tokens, special
// tokens, stop strings that end inside a token that also starts the next word.
TEST(Engine, StopStringsOnRealTokenizerTextMatchWholeTextDecoding) {
  const Tokenizer tok = Tokenizer::load(join_path(test::shared_data(), "qwen-tokenizer"));
  const std::vector<int32_t> table = qwen_table(tok);
  const MakeTextStream qwen_stream = stream_decoding(tok, /*skip_special_tokens=*/true);
  CausalLM m = random_model(6);
  Engine engine(m);
  GenerateRequest req;
  req.prompts = {{9, 10, 11}};
  req.max_new_tokens = 48;
  req.seed = 11;
  req.decode = [&] { return std::make_unique<TableStream>(table, qwen_stream()); };
  const auto base = engine.generate(req)[0];
  std::vector<int32_t> ids32;
  for (int64_t id : base.ids) ids32.push_back(table[id]);
  ASSERT_EQ(base.text, tok.decode(ids32, /*skip_special_tokens=*/true));
  // Where each token's text ends, and whether some token leaves a character cut.
  std::vector<size_t> ends;
  bool cut_char = false;
  StreamDecoder sd(tok, true);
  std::string acc;
  for (int32_t id : ids32) {
    std::string piece = sd.push(id);
    const std::string alone = tok.decode({id}, /*skip_special_tokens=*/true);
    cut_char |= !alone.empty() && piece != alone;
    acc += piece;
    ends.push_back(acc.size());
  }
  ASSERT_TRUE(cut_char) << "the sample has no UTF-8 character cut across tokens";
  // Stop strings of 1 to 3 characters at every 5th character and at the first few multi-byte
  // characters (so some always start with one, whatever the sample), none holding U+FFFD.
  std::vector<size_t> chars;  // byte offset of each character
  for (size_t i = 0; i < base.text.size(); ++i)
    if ((base.text[i] & 0xC0) != 0x80) chars.push_back(i);
  chars.push_back(base.text.size());
  std::vector<size_t> starts;  // character indices the stop strings begin at
  for (size_t c = 0; c + 1 < chars.size(); ++c) {
    const bool wide = chars[c + 1] - chars[c] > 1 && base.text.compare(chars[c], 3, "\xEF\xBF\xBD") != 0;
    const size_t wide_seen = static_cast<size_t>(std::count_if(starts.begin(), starts.end(), [&](size_t k) {
      return chars[k + 1] - chars[k] > 1;
    }));
    if (c % 5 == 0 || (wide && wide_seen < 3)) starts.push_back(c);
  }
  int mid_token = 0, multibyte = 0;
  for (size_t c0 : starts) {
    for (size_t n = 1; n <= 3 && c0 + n < chars.size(); ++n) {
      const size_t len = chars[c0 + n] - chars[c0];
      const std::string stop = base.text.substr(chars[c0], len);
      if (stop.find("\xEF\xBF\xBD") != std::string::npos) continue;
      req.stop_strings = {stop, "\n\nQuestion:"};
      auto want = stop_reference(tok, ids32, req.stop_strings);
      auto got = engine.generate(req)[0];
      ASSERT_EQ(got.ids.size(), want.ids.size()) << "stop " << stop;
      ASSERT_EQ(got.finish, want.finish) << "stop " << stop;
      ASSERT_EQ(got.text, want.text) << "stop " << stop;
      const size_t end = want.text.size() + stop.size();
      mid_token += std::find(ends.begin(), ends.end(), end) == ends.end();
      multibyte += len > n;
    }
  }
  EXPECT_GT(mid_token, 0);
  EXPECT_GT(multibyte, 0);
}

TEST(Sampler, FiltersAndGreedy) {
  auto logits = torch::tensor({{1.0f, 3.0f, 2.0f, 0.0f}});
  auto u = torch::tensor({0.999}, torch::kFloat64);
  SamplingParams greedy;
  greedy.temperature = 0;
  EXPECT_EQ(sample_tokens(logits, greedy, {}, u).tokens.item<int64_t>(), 1);
  SamplingParams k1;
  k1.top_k = 1;
  auto r = sample_tokens(logits, k1, {}, u);
  EXPECT_EQ(r.tokens.item<int64_t>(), 1);
  EXPECT_NEAR(r.logprobs.item<double>(), 0.0, 1e-6);  // the filtered distribution is a point mass
  SamplingParams p;
  p.top_p = 0.5;  // softmax = [.087 .644 .237 .032]: only token 1 stays
  EXPECT_EQ(sample_tokens(logits, p, {}, u).tokens.item<int64_t>(), 1);
  SamplingParams mp;
  mp.min_p = 0.3;  // keeps tokens with prob >= .3 * .644 = .193: tokens 1 and 2
  for (double x : {0.01, 0.5, 0.99}) {
    int64_t t = sample_tokens(logits, mp, {}, torch::tensor({x}, torch::kFloat64)).tokens.item<int64_t>();
    EXPECT_TRUE(t == 1 || t == 2) << x;
  }
  SamplingParams rep;
  rep.repetition_penalty = 10.0;
  rep.temperature = 0;
  auto seen = torch::tensor({{false, true, false, false}});
  EXPECT_EQ(sample_tokens(logits, rep, seen, u).tokens.item<int64_t>(), 2);  // 3/10 < 2
  // The draw is deterministic in (seed, prompt, completion, step) and spread over [0, 1).
  EXPECT_EQ(stream_uniform(1, 2, 3, 4), stream_uniform(1, 2, 3, 4));
  EXPECT_NE(stream_uniform(1, 2, 3, 4), stream_uniform(1, 2, 3, 5));
  double mean = 0;
  for (int i = 0; i < 1000; ++i) mean += stream_uniform(9, 0, 0, i) / 1000;
  EXPECT_NEAR(mean, 0.5, 0.05);
}

TEST(Engine, GreedyWithEosEqualsReferenceThroughCompaction) {
  CausalLM m = random_model(5);
  Engine engine(m);
  GenerateRequest req;
  req.shared_prefix = {7, 8, 9};
  req.prompts = {{1, 2, 3}, {4, 5}, {6}, {10, 11, 12, 13}, {14, 15}, {16, 17, 18}};
  req.max_new_tokens = 14;
  req.sampling.temperature = 0;
  std::vector<std::vector<int64_t>> ref;
  for (const auto& p : req.prompts) {
    std::vector<int64_t> full = req.shared_prefix;
    full.insert(full.end(), p.begin(), p.end());
    ref.push_back(reference_greedy(m, full, 14));
  }
  // EOS tokens that end some sequences early, at different steps: rows finish, stay in the
  // cache without logits, and are compacted out in place.
  req.eos_ids = {ref[0][2], ref[3][6], ref[5][9]};
  auto comps = engine.generate(req);
  int early = 0;
  for (const auto& c : comps) {
    std::vector<int64_t> expect;
    for (int64_t t : ref[c.prompt_index]) {
      expect.push_back(t);
      if (std::find(req.eos_ids.begin(), req.eos_ids.end(), t) != req.eos_ids.end()) break;
    }
    EXPECT_EQ(c.ids, expect) << c.prompt_index;
    if (expect.size() < 14u) ++early;
  }
  EXPECT_GE(early, 2);
}

TEST(Sampler, FastPathMatchesReference) {
  torch::manual_seed(3);
  const int64_t M = 48, V = 3001;
  // Peaked and flat rows, float32 and bf16 logits.
  auto base = torch::randn({M, V}) * torch::linspace(0.5, 12, M).unsqueeze(1);
  std::vector<double> u;
  for (int64_t i = 0; i < M; ++i) u.push_back(stream_uniform(1, i, 0, 0));
  auto uniforms = torch::tensor(u, torch::kFloat64);
  auto seen = torch::rand({M, V}) < 0.01;
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto logits = base.to(dtype);
    for (double temperature : {0.0, 0.7, 1.0}) {
      for (double penalty : {1.0, 1.3}) {
        SamplingParams p;
        p.temperature = temperature;
        p.repetition_penalty = penalty;
        auto fast = sample_tokens(logits, p, seen, uniforms);
        auto ref = sample_tokens_reference(logits, p, seen, uniforms);
        EXPECT_TRUE(fast.tokens.equal(ref.tokens)) << dtype << " T " << temperature << " rp " << penalty;
        EXPECT_LT((fast.logprobs - ref.logprobs).abs().max().item<double>(), 1e-4);
      }
    }
  }
}
