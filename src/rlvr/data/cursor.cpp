// DataCursor: per-epoch seeded permutations and JSON round trip (see cursor.h).
#include "rlvr/data/cursor.h"

#include "rlvr/core/error.h"
#include "rlvr/data/shuffle.h"

namespace rlvr {

using namespace rlvr::data;  // NOLINT: module-private helpers

DataCursor::DataCursor(int64_t size, uint64_t seed, bool shuffle)
    : size_(size), seed_(seed), shuffle_(shuffle) {
  RLVR_CHECK(size > 0, "data cursor: the dataset is empty");
  start_epoch();
}

void DataCursor::start_epoch() {
  if (shuffle_) {
    order_ = permutation(size_, derive_seed(seed_, static_cast<uint64_t>(epoch_)));
  } else {
    order_.resize(static_cast<size_t>(size_));
    for (int64_t i = 0; i < size_; ++i) order_[i] = i;
  }
}

int64_t DataCursor::index_at(int64_t position) const {
  RLVR_CHECK(position >= 0 && position < size_, "data cursor: position ", position,
             " out of range [0, ", size_, ")");
  return order_[position];
}

std::vector<int64_t> DataCursor::next(int64_t batch) {
  RLVR_CHECK(size_ > 0, "data cursor used before initialisation");
  RLVR_CHECK(batch > 0, "data cursor: batch size must be positive, got ", batch);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(batch));
  while (static_cast<int64_t>(out.size()) < batch) {
    if (position_ == size_) {
      ++epoch_;
      position_ = 0;
      start_epoch();
    }
    out.push_back(order_[position_++]);
  }
  return out;
}

nlohmann::json DataCursor::to_json() const {
  return {{"epoch", epoch_}, {"position", position_}, {"seed", seed_}, {"size", size_},
          {"shuffle", shuffle_}};
}

DataCursor DataCursor::from_json(const nlohmann::json& j, int64_t size) {
  try {
    int64_t saved = j.at("size").get<int64_t>();
    RLVR_CHECK(saved == size, "data cursor: saved for a dataset of ", saved,
               " problems but the dataset now has ", size, "; resume with the same data");
    DataCursor c(size, j.at("seed").get<uint64_t>(), j.value("shuffle", true));
    c.epoch_ = j.at("epoch").get<int64_t>();
    c.position_ = j.at("position").get<int64_t>();
    RLVR_CHECK(c.epoch_ >= 0 && c.position_ >= 0 && c.position_ <= size,
               "data cursor: bad epoch/position in ", j.dump());
    c.start_epoch();
    return c;
  } catch (const nlohmann::json::exception& e) {
    fail("data cursor: bad JSON ", j.dump(), " (", e.what(), ")");
  }
}

}  // namespace rlvr
