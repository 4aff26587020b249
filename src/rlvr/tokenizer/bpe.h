// Byte-level BPE model: token bytes per id, merge ranks keyed by pair ids in an open-addressing
// table, and word -> ids with a bounded, sharded, thread-safe cache. Works on raw bytes: the
// GPT-2 byte alphabet is undone at load time. No pre-tokenization or added tokens here.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rlvr {

class BpeModel {
 public:
  struct Options {
    bool ignore_merges = false;  // a word that is a whole vocab token maps to it directly (Llama-3)
    std::optional<std::string> unk_token;  // byte-level spelling; used for bytes missing from vocab
  };
  // vocab: (byte-level token string, id); merges: (left, right) byte-level strings, rank = index.
  // `where` names the file for errors (unknown merge parts, duplicate ids).
  BpeModel(std::vector<std::pair<std::string, int64_t>>&& vocab,
           std::vector<std::pair<std::string, std::string>>&& merges, const Options& opt,
           const std::string& where);
  ~BpeModel();

  // Appends the ids of one pre-tokenized word (raw bytes). Cached, thread-safe.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  // Same result by the slow obvious path: no cache, one linear scan per merge.
  void encode_word_reference(std::string_view word, std::vector<int32_t>& out) const;
  void clear_cache() const;

  int32_t id_count() const { return static_cast<int32_t>(present_.size()); }  // max id + 1
  bool has_id(int32_t id) const { return id >= 0 && id < id_count() && present_[id]; }
  std::string_view token_bytes(int32_t id) const {
    return std::string_view(bytes_).substr(off_[id], off_[id + 1] - off_[id]);
  }
  std::optional<int32_t> find(std::string_view bytes) const;
  size_t merge_count() const { return merge_count_; }

 private:
  struct PairValue {
    int32_t rank;
    int32_t id;
  };
  const PairValue* find_pair(int32_t a, int32_t b) const;
  void insert_pair(int32_t a, int32_t b, PairValue v);
  void merge_small(int32_t* ids, size_t& n) const;
  void merge_heap(std::vector<int32_t>& ids) const;
  void initial_ids(std::string_view word, std::vector<int32_t>& ids) const;
  void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;

  std::string bytes_;                  // all token bytes, id order
  std::vector<uint32_t> off_;          // (id_count + 1) offsets into bytes_
  std::vector<uint8_t> present_;       // (id_count) 1 where the vocab defines the id
  struct StrSlot {
    uint32_t tag;  // high half of the bytes' hash
    int32_t id;    // -1: empty
  };
  std::vector<StrSlot> str_table_;     // open addressing: token bytes -> id
  std::vector<uint64_t> pair_keys_;    // open addressing: (a << 32 | b), ~0 empty
  std::vector<PairValue> pair_vals_;
  int32_t byte_id_[256];               // id of each single byte, -1 if missing
  int32_t unk_id_ = -1;
  bool ignore_merges_ = false;
  size_t merge_count_ = 0;

  // Word cache: per shard an open-addressing table over an arena of [word bytes][ids].
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t off = 0;   // into arena
    uint16_t len = 0;   // word bytes
    uint16_t n = 0;     // ids
  };
  struct Shard {
    std::mutex mu;
    std::vector<Slot> slots;
    std::string arena;
    size_t count = 0;
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kShardCapacity = 8192;  // words; a full shard is emptied
  static constexpr size_t kMaxCachedWord = 64;    // bytes
  bool cache_find(Shard& s, uint64_t h, std::string_view word, std::vector<int32_t>& out) const;
  void cache_insert(Shard& s, uint64_t h, std::string_view word, const int32_t* ids, size_t n) const;
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace rlvr
