// tokenize_prompts / generate_prompts: see prompt_request.h.
#include "rlvr/engine/prompt_request.h"

#include <algorithm>
#include <map>
#include <string>

#include "rlvr/core/error.h"

namespace rlvr {

namespace {

std::vector<int64_t> encode_ids(const Tokenizer& tok, const std::string& text) {
  const std::vector<int32_t> ids = tok.encode(text);
  return {ids.begin(), ids.end()};
}

bool starts_with(const std::vector<int64_t>& ids, const std::vector<int64_t>& prefix) {
  return ids.size() > prefix.size() && std::equal(prefix.begin(), prefix.end(), ids.begin());
}

}  // namespace

PromptIds tokenize_prompts(const Tokenizer& tok, const std::vector<PromptParts>& parts,
                           int64_t max_prompt_length) {
  PromptIds out;
  std::map<std::string, std::vector<int64_t>> prefix_ids;  // prefix text -> its ids
  std::map<std::vector<int64_t>, size_t> group_of;         // shared prefix ids -> group
  for (size_t i = 0; i < parts.size(); ++i) {
    std::vector<int64_t> ids = encode_ids(tok, parts[i].full());
    bool cut = max_prompt_length > 0 && static_cast<int64_t>(ids.size()) > max_prompt_length;
    if (cut) ids.erase(ids.begin(), ids.end() - max_prompt_length);  // keep the right end (TRL)
    out.truncated |= cut;
    std::vector<int64_t> shared;
    if (!cut && !parts[i].prefix.empty()) {
      auto it = prefix_ids.find(parts[i].prefix);
      if (it == prefix_ids.end()) it = prefix_ids.emplace(parts[i].prefix, encode_ids(tok, parts[i].prefix)).first;
      if (starts_with(ids, it->second)) shared = it->second;
    }
    auto [g, fresh] = group_of.emplace(shared, out.groups.size());
    if (fresh) out.groups.push_back(PromptGroup{std::move(shared), {}});
    out.groups[g->second].members.push_back(static_cast<int64_t>(i));
    out.full.push_back(std::move(ids));
  }
  return out;
}

PromptIds slice_prompts(const PromptIds& ids, int64_t begin, int64_t end) {
  RLVR_CHECK(0 <= begin && begin <= end && end <= static_cast<int64_t>(ids.full.size()), "slice_prompts: [",
             begin, ", ", end, ") is outside the ", ids.full.size(), " prompts");
  PromptIds out;
  out.full.assign(ids.full.begin() + begin, ids.full.begin() + end);
  out.truncated = ids.truncated;
  for (const PromptGroup& g : ids.groups) {
    PromptGroup part{g.shared_prefix, {}};
    for (int64_t m : g.members)
      if (begin <= m && m < end) part.members.push_back(m - begin);
    if (!part.members.empty()) out.groups.push_back(std::move(part));
  }
  return out;
}

std::vector<Completion> generate_prompts(Engine& engine, const PromptIds& ids, const GenerateRequest& base,
                                         int64_t wave, const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t P = static_cast<int64_t>(ids.full.size()), K = base.n;
  RLVR_CHECK(base.stream_ids.empty() || static_cast<int64_t>(base.stream_ids.size()) == P,
             "generate_prompts: base.stream_ids has ", base.stream_ids.size(), " entries for ", P, " prompts");
  std::vector<Completion> out(P * K);
  int64_t done = 0;
  for (const PromptGroup& g : ids.groups) {
    const int64_t M = static_cast<int64_t>(g.members.size()), step = wave > 0 ? wave : M;
    const auto skip = static_cast<std::ptrdiff_t>(g.shared_prefix.size());
    for (int64_t start = 0; start < M; start += step) {
      const int64_t end = std::min(M, start + step);
      GenerateRequest req = base;
      req.shared_prefix = g.shared_prefix;
      req.prompts.clear();
      req.stream_ids.clear();
      for (int64_t j = start; j < end; ++j) {
        const auto& full = ids.full[g.members[j]];
        req.prompts.emplace_back(full.begin() + skip, full.end());
        req.stream_ids.push_back(base.stream_ids.empty() ? g.members[j] : base.stream_ids[g.members[j]]);
      }
      for (Completion& c : engine.generate(req)) {
        c.prompt_index = g.members[start + c.prompt_index];
        out[c.prompt_index * K + c.completion_index] = std::move(c);
      }
      done += end - start;
      if (progress) progress(done, P);
    }
  }
  return out;
}

}  // namespace rlvr
