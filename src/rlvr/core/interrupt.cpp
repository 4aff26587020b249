// The interrupt flag: the only process-wide state in rlvr, as signals require.
#include "rlvr/core/interrupt.h"

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace rlvr {

namespace {
std::atomic<int> g_signal{0};

void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) _exit(128 + sig);
  const char msg[] = "\nrlvr: interrupt received: finishing the current step, then saving a checkpoint "
                     "(interrupt again to quit now)\n";
  ssize_t ignored = write(2, msg, sizeof(msg) - 1);
  (void)ignored;
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupt_requested() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }
int interrupt_exit_code() { return 128 + g_signal.load(); }
void request_interrupt(int sig) { g_signal.store(sig); }
void clear_interrupt() { g_signal.store(0); }

}  // namespace rlvr
