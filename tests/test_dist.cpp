// The data-parallel layer (src/rlvr/dist): the launcher's environment, and a real 2-rank c10d
// group on 127.0.0.1 (each rank a forked child of the test) for the collectives and for naming a
// lost rank.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "rlvr/core/error.h"
#include "rlvr/dist/comm.h"
#include "dist_ranks.h"
#include "testlib.h"

namespace rlvr::dist {
namespace {

using test::run_ranks;

DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return read_dist_env([&](const char* k) -> const char* {
    auto it = vars.find(k);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistEnv, NoLauncherIsOneRank) {
  const DistEnv e = env_of({});
  EXPECT_EQ(e.world, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.source, "single");
}

TEST(DistEnv, TorchrunVariables) {
  const DistEnv e = env_of({{"RANK", "5"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "5"}, {"LOCAL_WORLD_SIZE", "8"},
                            {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29400"}});
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.world, 16);
  EXPECT_EQ(e.local_rank, 5);
  EXPECT_EQ(e.local_world, 8);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29400);
  EXPECT_EQ(e.source, "torchrun");
}

TEST(DistEnv, SlurmWhenTorchrunIsAbsent) {
  const DistEnv e = env_of({{"SLURM_PROCID", "9"}, {"SLURM_NTASKS", "16"}, {"SLURM_LOCALID", "1"},
                            {"SLURM_NTASKS_PER_NODE", "8(x2)"}, {"MASTER_ADDR", "node1"}});
  EXPECT_EQ(e.source, "slurm");
  EXPECT_EQ(e.rank, 9);
  EXPECT_EQ(e.world, 16);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world, 8);
  // torchrun's variables win when both are set.
  EXPECT_EQ(env_of({{"SLURM_PROCID", "9"}, {"SLURM_NTASKS", "16"}, {"RANK", "0"}, {"WORLD_SIZE", "1"}}).source,
            "torchrun");
}

TEST(DistEnv, BadValuesAreOneLine) {
  auto message = [](const std::map<std::string, std::string>& vars) {
    try {
      env_of(vars);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("rank 2 is not below the world size 2"),
            std::string::npos);
  EXPECT_NE(message({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK=x"), std::string::npos);
  EXPECT_NE(message({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT"),
            std::string::npos);
}

TEST(DistEnv, ThreadsPerRank) {
  EXPECT_EQ(intra_op_threads(16, 8, 0), 2);
  EXPECT_EQ(intra_op_threads(2, 2, 0), 1);
  EXPECT_EQ(intra_op_threads(2, 4, 0), 1);
  EXPECT_EQ(intra_op_threads(16, 8, 3), 3);  // OMP_NUM_THREADS wins
}

TEST(DistEnv, RankDevice) {
  EXPECT_EQ(rank_device("cuda", 2, 1), "cuda:1");
  EXPECT_EQ(rank_device("cpu", 2, 1), "cpu");
  EXPECT_EQ(rank_device("cuda:3", 1, 0), "cuda:3");  // one rank: as given
  EXPECT_THROW(rank_device("cuda:0", 2, 1), Error);  // the launcher places the ranks
}

TEST(Comm, CollectivesAcrossTwoRanks) {
  const auto codes = run_ranks(2, [](Comm& c) {
    auto t = torch::full({3}, static_cast<float>(c.rank() + 1));
    c.all_reduce(t);
    RANK_CHECK(t.eq(3).all().item<bool>());
    RANK_CHECK(c.all_reduce(static_cast<double>(c.rank()), ReduceOp::kMax) == 1.0);
    RANK_CHECK(c.all_reduce(static_cast<double>(c.rank()) + 2, ReduceOp::kMin) == 2.0);
    auto g = c.all_gather(torch::full({2}, static_cast<int64_t>(c.rank() * 10)));
    RANK_CHECK(g.size() == 2 && g[1][0].item<int64_t>() == 10);
    auto b = c.all_gather_bytes(std::string(static_cast<size_t>(c.rank() * 5 + 1), 'a' + c.rank()));
    RANK_CHECK(b[0] == "a" && b[1] == "bbbbbb");
    auto x = torch::full({2}, static_cast<double>(c.rank() + 7));
    c.broadcast(x, 1);
    RANK_CHECK(x.eq(8).all().item<bool>());
    auto y = torch::full({2}, 1.0);
    c.reduce(y, 0);
    RANK_CHECK(c.rank() == 0 ? y.eq(2).all().item<bool>() : y.eq(1).all().item<bool>());
    c.barrier();
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

TEST(Comm, AgreeTurnsOneRanksRefusalIntoEveryRanks) {
  const auto codes = run_ranks(2, [](Comm& c) {
    std::string seen;
    try {
      c.agree([&] { RLVR_CHECK(c.rank() != 0, "output_dir is taken"); });
    } catch (const Error& e) {
      seen = e.what();
    }
    RANK_CHECK(seen.find("output_dir is taken") != std::string::npos);
    RANK_CHECK(c.rank() == 0 || seen.find("rank 0: ") == 0);
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
}

TEST(Comm, ALostRankIsNamed) {
  const std::string dir = test::scratch_dir("dist_lost_rank");
  const auto codes = run_ranks(2, [&](Comm& c) {
    c.barrier();
    if (c.rank() == 1) ::kill(::getpid(), SIGKILL);
    try {
      auto t = torch::ones({4});
      c.all_reduce(t);
    } catch (const Error& e) {
      const std::string msg = e.what();
      RANK_CHECK(msg.find("lost rank 1") != std::string::npos);
      throw;
    }
  });
  EXPECT_EQ(codes, (std::vector<int>{1, 128 + SIGKILL}));
}

// A hung rank (suspended: no heartbeat, no collectives) is named within the timeout; rank 0 then
// kills it so the test ends.
TEST(Comm, AHungRankIsNamedWithinTheTimeout) {
  const auto codes = run_ranks(
      2,
      [](Comm& c) {
        const auto pids = c.all_gather(torch::tensor({static_cast<int64_t>(::getpid())}));
        if (c.rank() == 1) ::raise(SIGSTOP);
        const auto t0 = std::chrono::steady_clock::now();
        std::string msg;
        try {
          auto t = torch::ones({4});
          c.all_reduce(t);
        } catch (const Error& e) {
          msg = e.what();
        }
        ::kill(static_cast<pid_t>(pids[1].item<int64_t>()), SIGKILL);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        RANK_CHECK(msg.find("lost rank 1") != std::string::npos);
        RANK_CHECK(s < 3 + 10);
      },
      /*timeout_s=*/3);
  EXPECT_EQ(codes, (std::vector<int>{0, 128 + SIGKILL}));
}

// Rank 0 on a port that is taken: one line at once.
TEST(Comm, APortInUseIsOneLine) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  DistEnv env;
  env.world = env.local_world = 2;
  env.master_port = ntohs(a.sin_port);
  ConnectOptions o;
  o.timeout = std::chrono::seconds(5);
  std::string msg;
  try {
    Comm::connect(env, o);
  } catch (const Error& e) {
    msg = e.what();
  }
  ::close(fd);
  EXPECT_NE(msg.find("rank 0 could not open the rendezvous at 127.0.0.1:" + std::to_string(env.master_port)),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("choose a free one"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

}  // namespace
}  // namespace rlvr::dist
