// The c10d process group (comm.h): rendezvous, collectives, and naming the rank that was lost.
#include "rlvr/dist/comm.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include "rlvr/core/clock.h"
#include "rlvr/core/error.h"

namespace rlvr::dist {

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::vector<uint8_t> to_bytes(const std::string& s) { return {s.begin(), s.end()}; }

c10d::ReduceOp c10d_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    default: return c10d::ReduceOp::SUM;
  }
}

std::string heartbeat_key(int rank) { return "rlvr/heartbeat/" + std::to_string(rank); }

// c10d logs its own connection errors (through glog in Debian's libtorch, c10's logger in
// others); while it connects rlvr turns them into its one line instead.
class QuietTorchLogs {
 public:
#ifdef C10_USE_GLOG
  QuietTorchLogs() : saved_(FLAGS_minloglevel) { FLAGS_minloglevel = google::GLOG_FATAL; }
  ~QuietTorchLogs() { FLAGS_minloglevel = saved_; }
#else
  QuietTorchLogs() : saved_(FLAGS_caffe2_log_level) { FLAGS_caffe2_log_level = 3; }
  ~QuietTorchLogs() { FLAGS_caffe2_log_level = saved_; }
#endif
 private:
  int saved_;
};

}  // namespace

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "gloo") return Backend::kGloo;
  if (name == "nccl") return Backend::kNccl;
  fail("recipe: ddp_backend: '", name, "' is not a backend; use auto, gloo or nccl");
}

// The store clients, the groups, and a heartbeat thread that writes "<beat> <collectives>" to the
// store every second, so a failed collective can tell a dead rank (its beat stopped) from a hung
// one (its beat goes on but it has run fewer collectives).
struct Comm::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;     // rank 0 serves it
  c10::intrusive_ptr<c10d::TCPStore> hb_store;  // the heartbeat thread's own client
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::atomic<int64_t> collectives{0};
  std::thread heartbeat;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  int rank = 0, world = 1;
  std::chrono::seconds timeout{1800};

  void beat_once(int64_t beat) {
    hb_store->set(heartbeat_key(rank), to_bytes(std::to_string(beat) + " " + std::to_string(collectives.load())));
  }
  void start_heartbeat() {
    beat_once(0);
    heartbeat = std::thread([this] {
      std::unique_lock<std::mutex> lk(mu);
      for (int64_t beat = 1; !cv.wait_for(lk, std::chrono::seconds(1), [this] { return stopping; }); ++beat) {
        try {
          beat_once(beat);
        } catch (...) {
          return;  // the store is gone (rank 0 ended or died): nothing left to report to
        }
      }
    });
  }
  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stopping = true;
    }
    cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }
  ~Impl() { stop_heartbeat(); }

  // (beat, collectives) of every rank, read with a short timeout.
  std::vector<std::pair<int64_t, int64_t>> read_heartbeats() {
    std::vector<std::pair<int64_t, int64_t>> out;
    for (int r = 0; r < world; ++r) {
      const auto v = hb_store->get(heartbeat_key(r));
      std::istringstream in(std::string(v.begin(), v.end()));
      int64_t beat = 0, n = 0;
      in >> beat >> n;
      out.emplace_back(beat, n);
    }
    return out;
  }
  std::string lost_ranks();
};

// Which rank is to blame, from two heartbeat readings 2.5 s apart.
std::string Comm::Impl::lost_ranks() {
  std::vector<std::pair<int64_t, int64_t>> a, b;
  try {
    hb_store->setTimeout(std::chrono::seconds(3));
    a = read_heartbeats();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    b = read_heartbeats();
  } catch (const std::exception&) {
    return rank == 0 ? "the rendezvous store stopped answering" : "lost rank 0 (its rendezvous store no longer answers)";
  }
  std::string dead, behind;
  for (int r = 0; r < world; ++r) {
    if (r == rank) continue;
    if (a[r].first == b[r].first) dead += (dead.empty() ? "" : ", ") + std::to_string(r);
    else if (b[r].second < static_cast<int64_t>(collectives)) behind += (behind.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!dead.empty()) return "lost rank " + dead + " (it stopped: killed, crashed or suspended)";
  if (!behind.empty()) return "rank " + behind + " did not reach this collective (hung, or failed before it)";
  return "another rank failed";
}

Comm::Comm() = default;
Comm::~Comm() = default;

namespace {

// The TCPStore of the job: rank 0 listens at MASTER_PORT, the others connect to it. Each rank's
// first client counts itself in and waits for all world ranks (`rendezvous`); a later client
// (the heartbeat's) just connects.
c10::intrusive_ptr<c10d::TCPStore> open_store(const DistEnv& env, std::chrono::seconds timeout, bool rendezvous) {
  const bool server = rendezvous && env.rank == 0;
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = server;
  so.numWorkers = static_cast<std::size_t>(env.world);
  so.waitWorkers = rendezvous;
  so.timeout = timeout;
  const std::string at = env.master_addr + ":" + std::to_string(env.master_port);
  const QuietTorchLogs quiet;
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    if (server)
      fail("data parallel: rank 0 could not open the rendezvous at ", at, " (", first_line(e.what()),
           "); is MASTER_PORT in use? choose a free one");
    fail("data parallel: rank ", env.rank, " could not reach the master at ", at, " within ", timeout.count(),
         " s (", first_line(e.what()), "); check MASTER_ADDR / MASTER_PORT and that rank 0 is running");
  }
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const DistEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0')
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (env.local_world == env.world) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

std::unique_ptr<Comm> Comm::connect(const DistEnv& env, const ConnectOptions& opt) {
  auto c = std::make_unique<Comm>();
  c->env_ = env;
  if (env.world == 1) return c;
  const bool nccl = opt.backend == Backend::kNccl || (opt.backend == Backend::kAuto && opt.cuda);
  RLVR_CHECK(!nccl || opt.cuda, "recipe: ddp_backend nccl needs the model on CUDA; use gloo (or auto) on CPU");
#ifndef USE_C10D_NCCL
  RLVR_CHECK(!nccl, "recipe: ddp_backend nccl: this build's libtorch has no NCCL; use gloo");
#endif
  // A peer that dies leaves our sockets half closed; writing to one must fail as an error that
  // names the lost rank, not kill this rank with SIGPIPE (not every c10d / Gloo write passes
  // MSG_NOSIGNAL; seen as Comm.ALostRankIsNamed's rank 0 exiting 141 under load).
  std::signal(SIGPIPE, SIG_IGN);
  auto& im = *(c->impl_ = std::make_unique<Impl>());
  im.rank = env.rank;
  im.world = env.world;
  im.timeout = opt.timeout;
  im.store = open_store(env, opt.timeout, true);
  im.hb_store = open_store(env, opt.timeout, false);
  im.start_heartbeat();
  c->run("the rendezvous", [&] {
    auto go = c10d::ProcessGroupGloo::Options::create(opt.timeout);
    go->devices.push_back(gloo_device(env));
    im.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", im.store), env.rank, env.world, go);
#ifdef USE_C10D_NCCL
    if (nccl) {
      auto no = c10d::ProcessGroupNCCL::Options::create();
      no->timeout = opt.timeout;
      im.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", im.store), env.rank, env.world, no);
    }
#endif
  });
  c->backend_name_ = nccl ? "nccl" : "gloo";
  c->barrier();
  c->take_comm_seconds();
  return c;
}

template <class F>
void Comm::run(const char* what, F&& f) {
  const Stopwatch clock;
  if (impl_) ++impl_->collectives;
  try {
    f();
  } catch (const std::exception& e) {
    if (!impl_) throw;
    impl_->stop_heartbeat();
    const std::string who = impl_->lost_ranks();
    fail("data parallel: ", what, " failed on rank ", rank(), ": ", who, " [", first_line(e.what()), "]");
  }
  comm_s_ += clock.seconds();
}

namespace {

// Runs fn(group, {tensor}) on the group for t's device: NCCL for a CUDA tensor when the job has it,
// else Gloo (on a contiguous CPU copy when t is not one), and writes the result back into t.
template <class Fn>
void on_group(Comm::Impl& im, torch::Tensor& t, Fn&& fn) {
#ifdef USE_C10D_NCCL
  if (t.is_cuda() && im.nccl) {
    std::vector<at::Tensor> ts{t};
    fn(*im.nccl, ts);
    return;
  }
#endif
  torch::Tensor host = (t.is_cuda() || !t.is_contiguous()) ? t.to(torch::kCPU).contiguous() : t;
  std::vector<at::Tensor> ts{host};
  fn(*im.gloo, ts);
  if (!host.is_same(t)) t.copy_(ts[0]);
}

}  // namespace

void Comm::all_reduce(torch::Tensor& t, ReduceOp op) {
  if (single()) return;
  run("an all-reduce", [&] {
    on_group(*impl_, t, [&](auto& pg, std::vector<at::Tensor>& ts) {
      c10d::AllreduceOptions o;
      o.reduceOp = c10d_op(op);
      pg.allreduce(ts, o)->wait();
    });
  });
}

double Comm::all_reduce(double v, ReduceOp op) {
  auto t = torch::tensor({v}, torch::kFloat64);
  all_reduce(t, op);
  return t.item<double>();
}

void Comm::reduce(torch::Tensor& t, int root, ReduceOp op) {
  if (single()) return;
  run("a reduce", [&] {
    on_group(*impl_, t, [&](auto& pg, std::vector<at::Tensor>& ts) {
      c10d::ReduceOptions o;
      o.rootRank = root;
      o.reduceOp = c10d_op(op);
      pg.reduce(ts, o)->wait();
    });
  });
}

void Comm::broadcast(torch::Tensor& t, int root) {
  if (single()) return;
  run("a broadcast", [&] {
    on_group(*impl_, t, [&](auto& pg, std::vector<at::Tensor>& ts) {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      pg.broadcast(ts, o)->wait();
    });
  });
}

std::vector<torch::Tensor> Comm::all_gather(const torch::Tensor& t) {
  if (single()) return {t};
  std::vector<torch::Tensor> out;
  torch::Tensor in = t.contiguous();
  run("an all-gather", [&] {
    on_group(*impl_, in, [&](auto& pg, std::vector<at::Tensor>& ts) {
      std::vector<std::vector<at::Tensor>> outs(1);
      for (int r = 0; r < world(); ++r) outs[0].push_back(torch::empty_like(ts[0]));
      pg.allgather(outs, ts)->wait();
      out = outs[0];
    });
  });
  if (t.is_cuda() && !out.empty() && !out[0].is_cuda())
    for (auto& o : out) o = o.to(t.device());
  return out;
}

std::vector<std::string> Comm::all_gather_bytes(const std::string& bytes) {
  if (single()) return {bytes};
  const auto sizes = all_gather(torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64));
  int64_t longest = 1;
  for (const auto& s : sizes) longest = std::max(longest, s.item<int64_t>());
  auto buf = torch::zeros({longest}, torch::kUInt8);
  std::copy(bytes.begin(), bytes.end(), buf.data_ptr<uint8_t>());
  const auto parts = all_gather(buf);
  std::vector<std::string> out;
  for (int r = 0; r < world(); ++r) {
    const auto* p = parts[r].data_ptr<uint8_t>();
    out.emplace_back(p, p + sizes[r].item<int64_t>());
  }
  return out;
}

void Comm::barrier() {
  if (single()) return;
  run("a barrier", [&] { impl_->gloo->barrier()->wait(); });
}

void Comm::agree(const std::function<void()>& f) {
  std::exception_ptr mine;
  std::string msg;
  try {
    f();
  } catch (const std::exception& e) {
    mine = std::current_exception();
    msg = e.what();
    if (msg.empty()) msg = "failed";
  }
  if (single()) {
    if (mine) std::rethrow_exception(mine);
    return;
  }
  const auto all = all_gather_bytes(msg);
  if (mine) std::rethrow_exception(mine);
  for (int r = 0; r < world(); ++r)
    if (!all[r].empty()) fail("rank ", r, ": ", all[r]);
}

double Comm::take_comm_seconds() {
  const double s = comm_s_;
  comm_s_ = 0;
  return s;
}

namespace {
std::unique_ptr<Comm>& world_slot() {
  static std::unique_ptr<Comm> w = std::make_unique<Comm>();
  return w;
}
}  // namespace

Comm& world() { return *world_slot(); }

void set_world(std::unique_ptr<Comm> comm) { world_slot() = std::move(comm); }

void join(const ConnectOptions& opt) {
  const DistEnv env = read_dist_env();
  if (env.world == 1) return;
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(intra_op_threads(cores, env.local_world, omp ? std::atoi(omp) : 0));
  set_world(Comm::connect(env, opt));
}

}  // namespace rlvr::dist
