// Ctrl-C / SIGTERM handling for long jobs: the first SIGINT or SIGTERM sets a flag, recording
// which signal it was, that loops poll at safe points (the trainer then checkpoints and exits
// with 128 + the signal, as a shell reports a killed job); a second one ends the process at once.
#pragma once

namespace rlvr {

void install_interrupt_handler();
bool interrupt_requested();
// The signal that asked to stop (SIGINT, SIGTERM), or 0 when none did.
int interrupt_signal();
// The exit status an interrupted command returns: 128 + interrupt_signal() (130, 143).
int interrupt_exit_code();
// Marks the process as interrupted by `sig` without a signal (another rank of the job was
// interrupted: this one stops at the same step the same way).
void request_interrupt(int sig);
void clear_interrupt();  // tests

}  // namespace rlvr
