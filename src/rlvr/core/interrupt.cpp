// SIGINT flag: the only process-wide state in rlvr, as signals require.
#include "rlvr/core/interrupt.h"

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace rlvr {

namespace {
std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  if (g_interrupted.exchange(true)) _exit(130);
  const char msg[] = "\nrlvr: interrupt received: finishing the current step, then saving a checkpoint "
                     "(Ctrl-C again to quit now)\n";
  ssize_t ignored = write(2, msg, sizeof(msg) - 1);
  (void)ignored;
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_interrupted.load(); }
void clear_interrupt() { g_interrupted.store(false); }

}  // namespace rlvr
