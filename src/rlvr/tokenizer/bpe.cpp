// BPE merges by rank (Sennrich et al. 2016, as in GPT-2 and HF tokenizers): repeatedly merge the
// adjacent pair with the lowest merge rank, leftmost first. Short words use a linear scan on a
// stack array, long words a heap over a linked list; both give the reference path's result.
#include "rlvr/tokenizer/bpe.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <queue>

#include "rlvr/core/error.h"
#include "rlvr/tokenizer/utf8.h"

namespace rlvr {

static uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key) { return key * 0x9E3779B97F4A7C15ull; }

static size_t table_size(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  return cap;
}

// A vocab string as raw bytes: undo the byte-level alphabet, or keep the UTF-8 as is when some
// character is outside it (what HF's ByteLevel decoder does).
static void to_bytes(const std::string& s, std::string& out) {
  out.clear();
  if (!utf8::byte_level_decode(s, out)) out = s;
}
static std::string to_bytes(const std::string& s) {
  std::string out;
  to_bytes(s, out);
  return out;
}

BpeModel::BpeModel(std::vector<std::pair<std::string, int64_t>>&& vocab,
                   std::vector<std::pair<std::string, std::string>>&& merges, const Options& opt,
                   const std::string& where)
    : ignore_merges_(opt.ignore_merges), cache_(new Shard[kShards]) {
  int64_t max_id = -1;
  for (const auto& [tok, id] : vocab) {
    RLVR_CHECK(id >= 0 && id < (int64_t{1} << 30), where, ": model.vocab id ", id, " of '", tok,
               "' is out of range");
    max_id = std::max(max_id, id);
  }
  std::vector<std::string> by_id(static_cast<size_t>(max_id + 1));
  present_.assign(by_id.size(), 0);
  for (auto& [tok, id] : vocab) {
    RLVR_CHECK(!present_[id], where, ": model.vocab id ", id, " is used twice (second: '", tok,
               "')");
    present_[id] = 1;
    by_id[id] = to_bytes(tok);
  }
  vocab.clear();
  off_.resize(by_id.size() + 1);
  size_t total = 0;
  for (const auto& b : by_id) total += b.size();
  bytes_.reserve(total);
  for (size_t i = 0; i < by_id.size(); ++i) {
    off_[i] = static_cast<uint32_t>(bytes_.size());
    bytes_ += by_id[i];
  }
  off_[by_id.size()] = static_cast<uint32_t>(bytes_.size());

  str_table_.assign(table_size(by_id.size()), StrSlot{0, -1});
  size_t mask = str_table_.size() - 1;
  for (int32_t id = 0; id < id_count(); ++id) {
    if (!present_[id]) continue;
    std::string_view b = token_bytes(id);
    uint64_t h = hash_bytes(b);
    size_t i = h & mask;
    while (str_table_[i].id >= 0 && token_bytes(str_table_[i].id) != b) i = (i + 1) & mask;
    if (str_table_[i].id < 0)  // the first id with these bytes wins
      str_table_[i] = StrSlot{static_cast<uint32_t>(h >> 32), id};
  }
  for (int b = 0; b < 256; ++b) {
    char c = static_cast<char>(b);
    auto id = find(std::string_view(&c, 1));
    byte_id_[b] = id ? *id : -1;
  }
  if (opt.unk_token) {
    auto id = find(to_bytes(*opt.unk_token));
    RLVR_CHECK(id.has_value(), where, ": model.unk_token '", *opt.unk_token, "' is not in model.vocab");
    unk_id_ = *id;
  }

  pair_keys_.assign(table_size(merges.size()), ~0ull);
  pair_vals_.resize(pair_keys_.size());
  std::string lb, rb, mb;  // reused buffers
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [l, r] = merges[i];
    to_bytes(l, lb);
    to_bytes(r, rb);
    mb.assign(lb).append(rb);
    auto a = find(lb), b = find(rb), m = find(mb);
    RLVR_CHECK(a && b && m, where, ": model.merges[", i, "] '", l, " ", r, "': token '",
               !a ? l : !b ? r : l + r, "' is not in model.vocab");
    insert_pair(*a, *b, PairValue{static_cast<int32_t>(i), *m});
  }
  merge_count_ = merges.size();
}

BpeModel::~BpeModel() = default;

std::optional<int32_t> BpeModel::find(std::string_view bytes) const {
  size_t mask = str_table_.size() - 1;
  uint64_t h = hash_bytes(bytes);
  auto tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const StrSlot& e = str_table_[i];
    if (e.id < 0) return std::nullopt;
    if (e.tag == tag && token_bytes(e.id) == bytes) return e.id;
  }
}

void BpeModel::insert_pair(int32_t a, int32_t b, PairValue v) {
  uint64_t key = (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
  size_t mask = pair_keys_.size() - 1;
  size_t h = hash_pair(key) >> 20 & mask;
  while (pair_keys_[h] != ~0ull && pair_keys_[h] != key) h = (h + 1) & mask;
  pair_keys_[h] = key;  // a repeated merge keeps the later rank, as a dict/HashMap build does
  pair_vals_[h] = v;
}

const BpeModel::PairValue* BpeModel::find_pair(int32_t a, int32_t b) const {
  uint64_t key = (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
  size_t mask = pair_keys_.size() - 1;
  for (size_t h = hash_pair(key) >> 20 & mask;; h = (h + 1) & mask) {
    uint64_t k = pair_keys_[h];
    if (k == key) return &pair_vals_[h];
    if (k == ~0ull) return nullptr;
  }
}

void BpeModel::initial_ids(std::string_view word, std::vector<int32_t>& ids) const {
  for (unsigned char c : word) {
    int32_t id = byte_id_[c] >= 0 ? byte_id_[c] : unk_id_;
    if (id >= 0) ids.push_back(id);  // a byte with no token and no unk is dropped
  }
}

void BpeModel::merge_small(int32_t* ids, size_t& n) const {
  while (n > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    size_t best = 0;
    for (size_t i = 0; i + 1 < n; ++i) {
      const PairValue* v = find_pair(ids[i], ids[i + 1]);
      if (v && v->rank < best_rank) best_rank = v->rank, best_id = v->id, best = i;
    }
    if (best_id < 0) return;
    ids[best] = best_id;
    std::copy(ids + best + 2, ids + n, ids + best + 1);
    --n;
  }
}

void BpeModel::merge_heap(std::vector<int32_t>& ids) const {
  struct Cand {
    int32_t rank, pos, left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  int32_t n = static_cast<int32_t>(ids.size());
  std::vector<int32_t> next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) next[i] = i + 1 < n ? i + 1 : -1, prev[i] = i - 1;
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t p) {
    if (p < 0 || next[p] < 0) return;
    if (const PairValue* v = find_pair(ids[p], ids[next[p]])) heap.push({v->rank, p, ids[p], ids[next[p]]});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int32_t r = next[c.pos];
    if (ids[c.pos] != c.left || r < 0 || ids[r] != c.right) continue;  // stale
    ids[c.pos] = find_pair(c.left, c.right)->id;
    ids[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[k++] = ids[i];
  ids.resize(k);
}

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    if (auto id = find(word)) return out.push_back(*id);
  }
  if (word.size() <= kMaxCachedWord) {
    int32_t buf[kMaxCachedWord];
    size_t n = 0;
    for (unsigned char c : word) {
      int32_t id = byte_id_[c] >= 0 ? byte_id_[c] : unk_id_;
      if (id >= 0) buf[n++] = id;
    }
    if (merge_count_ > 0) merge_small(buf, n);
    out.insert(out.end(), buf, buf + n);
    return;
  }
  std::vector<int32_t> ids;
  initial_ids(word, ids);
  if (merge_count_ > 0) merge_heap(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

bool BpeModel::cache_find(Shard& s, uint64_t h, std::string_view word,
                          std::vector<int32_t>& out) const {
  if (s.slots.empty()) return false;
  size_t mask = s.slots.size() - 1;
  for (size_t i = h & mask; s.slots[i].hash != 0; i = (i + 1) & mask) {
    const Slot& e = s.slots[i];
    if (e.hash != h || e.len != word.size() ||
        std::memcmp(s.arena.data() + e.off, word.data(), word.size()) != 0)
      continue;
    size_t at = out.size();
    out.resize(at + e.n);
    std::memcpy(out.data() + at, s.arena.data() + e.off + e.len, e.n * sizeof(int32_t));
    return true;
  }
  return false;
}

void BpeModel::cache_insert(Shard& s, uint64_t h, std::string_view word, const int32_t* ids,
                            size_t n) const {
  if (s.slots.empty() || s.count >= kShardCapacity) {
    s.slots.assign(2 * kShardCapacity, Slot{});
    s.arena.clear();
    s.count = 0;
  }
  size_t mask = s.slots.size() - 1, i = h & mask;
  while (s.slots[i].hash != 0) {
    if (s.slots[i].hash == h && s.slots[i].len == word.size() &&
        std::memcmp(s.arena.data() + s.slots[i].off, word.data(), word.size()) == 0)
      return;  // another thread inserted it meanwhile
    i = (i + 1) & mask;
  }
  s.slots[i] = Slot{h, static_cast<uint32_t>(s.arena.size()), static_cast<uint16_t>(word.size()),
                    static_cast<uint16_t>(n)};
  s.arena.append(word);
  s.arena.append(reinterpret_cast<const char*>(ids), n * sizeof(int32_t));
  ++s.count;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1 && byte_id_[static_cast<unsigned char>(word[0])] >= 0)
    return out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
  if (word.size() > kMaxCachedWord || merge_count_ == 0) return encode_uncached(word, out);
  uint64_t h = hash_bytes(word) | 1;  // never 0 (the empty-slot mark)
  Shard& shard = cache_[(h >> 32) % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (cache_find(shard, h, word, out)) return;
  }
  size_t start = out.size();
  encode_uncached(word, out);
  std::lock_guard<std::mutex> lock(shard.mu);
  cache_insert(shard, h, word, out.data() + start, out.size() - start);
}

void BpeModel::encode_word_reference(std::string_view word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    if (auto id = find(word)) return out.push_back(*id);
  }
  std::vector<int32_t> ids;
  initial_ids(word, ids);
  for (;;) {  // find the lowest-ranked adjacent pair, merge its leftmost occurrence
    int32_t best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const PairValue* v = find_pair(ids[i], ids[i + 1]);
      if (v && v->rank < best_rank) best_rank = v->rank, best = i;
    }
    if (best_rank == INT32_MAX) break;
    ids[best] = find_pair(ids[best], ids[best + 1])->id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::clear_cache() const {
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(cache_[i].mu);
    cache_[i].slots.clear();
    cache_[i].arena.clear();
    cache_[i].count = 0;
  }
}

}  // namespace rlvr
